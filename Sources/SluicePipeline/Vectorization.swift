import Foundation
import Logging
import SluiceCore
import SluiceEmbeddings
import SluiceWorkers

/// Settings of vectorization.
public struct VectorizationOptions: Sendable {
    /// Records one VECTORIZE job embeds; a continuation job takes the rest. Default 250, the reference's
    /// (`SLUICE_VECTORIZE_RECORDS_PER_JOB`).
    public var recordsPerJob: Int
    /// Texts per provider request. Default 25, the reference's (`SLUICE_EMBED_BATCH_SIZE`).
    public var batchSize: Int
    /// Estimated tokens per request (4 characters a token); a batch is cut short rather than exceed it.
    /// Default 64,000.
    public var tokensPerRequest: Int
    /// Longest text sent, in characters; longer texts are cut to it and counted. Default 32,000 (about 8,000
    /// tokens, the input limit of OpenAI's embedding models).
    public var maxInputCharacters: Int
    /// How long to wait after a rate limit that named no time. Default 30 s.
    public var rateLimitDelay: Duration
    /// Provider requests one job has in flight at once, so that a remote provider's latency does not serialise a
    /// project; the pacer still spaces them after a rate limit. Default 4 (`SLUICE_EMBED_CONCURRENCY`).
    public var requestsInFlight: Int

    public init(
        recordsPerJob: Int = 250,
        batchSize: Int = 25,
        tokensPerRequest: Int = 64_000,
        maxInputCharacters: Int = 32_000,
        rateLimitDelay: Duration = .seconds(30),
        requestsInFlight: Int = 4
    ) {
        precondition(requestsInFlight > 0, "VectorizationOptions: requestsInFlight must be positive")
        self.requestsInFlight = requestsInFlight
        self.recordsPerJob = max(1, recordsPerJob)
        self.batchSize = max(1, batchSize)
        self.tokensPerRequest = max(1, tokensPerRequest)
        self.maxInputCharacters = max(1, maxInputCharacters)
        self.rateLimitDelay = rateLimitDelay
    }
}

/// The VECTORIZE handler: embeds up to `recordsPerJob` of a project's records that have no embedding yet, in
/// provider requests of `batchSize`, writes the vectors after each request, reports progress, and, once completed,
/// enqueues its continuation while records remain. Register it with `serializeBy: "projectId"` so that a project's jobs run one
/// at a time. A provider's rate limit hands the job back for later without spending an attempt; a project embedded
/// with another model or dimension fails the job and says so.
public struct VectorizationHandler: JobHandler {
    public let store: any PipelineStore
    public let provider: any EmbeddingProvider
    public let options: VectorizationOptions
    /// Spaces each project's requests after rate limits; share one between handlers of a process.
    public let pacer: RequestPacer
    private let clock: any WallClock

    public init(
        store: any PipelineStore,
        provider: any EmbeddingProvider,
        options: VectorizationOptions = VectorizationOptions(),
        pacer: RequestPacer = RequestPacer(),
        clock: any WallClock = SystemWallClock()
    ) {
        self.store = store
        self.provider = provider
        self.options = options
        self.pacer = pacer
        self.clock = clock
    }

    public func run(_ context: JobContext) async throws -> JSONValue? {
        let payload = try VectorizePayload(context.payload)
        let projectID = payload.projectID
        guard let project = try await store.project(id: projectID) else {
            throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist")
        }
        if let model = project.embeddingModel,
            model != provider.model || project.embeddingDimensions != provider.dimensions
        {
            throw PipelineError.modelMismatch(project: project, model: provider.model, dimensions: provider.dimensions)
        }
        let candidates = try await store.unembeddedChunks(
            projectID: projectID,
            after: payload.after,
            limit: options.recordsPerJob + 1
        )
        let records = Array(candidates.prefix(options.recordsPerJob))
        var truncated = 0
        let requests = batches(records).map { batch in
            (
                ids: batch.map(\.id),
                texts: batch.map { record in
                    guard record.text.count > options.maxInputCharacters else { return record.text }
                    truncated += 1
                    return String(record.text.prefix(options.maxInputCharacters))
                }
            )
        }
        // Up to `requestsInFlight` requests at once; each saves its vectors as soon as it is answered, so what is
        // saved stays saved whatever happens to the others.
        var embedded = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            func launch() {
                let (ids, texts) = requests[next]
                next += 1
                group.addTask {
                    try Task.checkCancellation()
                    let vectors: [[Float]]
                    do {
                        try await pacer.wait(for: projectID)
                        vectors = try await provider.embed(texts)
                        pacer.succeeded(projectID)
                    } catch let error as EmbeddingError where error.code == .rateLimited {
                        // Back-pressure, not failure: the rest waits, and this project's requests are spaced out
                        // from now on.
                        pacer.rateLimited(projectID)
                        throw RetryLater(after: error.retryAfter ?? options.rateLimitDelay, reason: error.message)
                    }
                    try await store.saveEmbeddings(
                        zip(ids, vectors).map { (id: $0, vector: $1) },
                        projectID: projectID,
                        model: provider.model,
                        dimensions: provider.dimensions,
                        now: clock.now()
                    )
                    return ids.count
                }
            }
            while next < min(options.requestsInFlight, requests.count) { launch() }
            while let saved = try await group.next() {
                embedded += saved
                if next < requests.count { launch() }
                try await context.reportProgress(
                    current: embedded,
                    total: records.count,
                    message: "embedded \(embedded) of \(records.count) chunks"
                )
            }
        }
        var result: [String: JSONValue] = [
            "projectId": .string(projectID), "embeddedCount": .int(Int64(embedded)),
            "truncatedCount": .int(Int64(truncated)), "model": .string(provider.model),
        ]
        result["moreRemaining"] = .bool(candidates.count > records.count)
        // If chunks are still without an embedding (the rest of a large project, or chunks stored while this job
        // ran), the next VECTORIZE job is queued in the transaction that completes this one, which gives up the
        // project's unique key in the same breath. Within a backfill it starts after this job's last chunk; at the
        // end of one it looks from the start once, which finds what the walk passed by (a chunk whose save failed,
        // one stored with an older time). Chunks stored after this check, whose ingest found this job still
        // holding the key, are picked up by the reconciler (``VectorizationReconciler``).
        if candidates.count > records.count, let last = records.last {
            context.enqueueOnCompletion(Self.job(projectID: projectID, after: last.id))
        } else if try await !store.unembeddedChunks(projectID: projectID, limit: 1).isEmpty {
            context.enqueueOnCompletion(Self.job(projectID: projectID))
        }
        return .object(result)
    }

    /// Queues VECTORIZE for a project unless one is already waiting: at most one waits per project (its unique key
    /// is `vectorize:<project id>`), and the one running queues its successor when it completes.
    @discardableResult
    public static func enqueue(projectID: String, on queue: DatabaseQueue) async throws -> EnqueueResult {
        try await queue.enqueue(job(projectID: projectID))
    }

    /// The VECTORIZE job of a project, under the project's unique key; with `after`, the job continues a backfill
    /// after that chunk.
    public static func job(projectID: String, after: String? = nil) -> NewJob {
        NewJob(
            jobType: .vectorize,
            payload: VectorizePayload(projectID: projectID, after: after).json,
            uniqueKey: "vectorize:\(projectID)"
        )
    }

    /// Requests of at most `batchSize` texts and about `tokensPerRequest` tokens (4 characters a token).
    private func batches(_ records: [(id: String, text: String)]) -> [[(id: String, text: String)]] {
        var batches: [[(id: String, text: String)]] = []
        var current: [(id: String, text: String)] = []
        var tokens = 0
        for record in records {
            let estimate = min(record.text.count, options.maxInputCharacters) / 4 + 1
            if !current.isEmpty && (current.count == options.batchSize || tokens + estimate > options.tokensPerRequest)
            {
                batches.append(current)
                current = []
                tokens = 0
            }
            current.append(record)
            tokens += estimate
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}
