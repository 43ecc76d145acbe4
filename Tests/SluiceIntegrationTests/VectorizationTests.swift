import Foundation
import PostgresNIO
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluicePostgres
import SluiceWorkers
import Synchronization
import Testing

@testable import SluiceStores

/// A provider that counts its calls, can fail one of them, and otherwise embeds like the local embedder.
final class ScriptedProvider: EmbeddingProvider {
    let model: String
    let dimensions: Int
    let calls = Mutex<[Int]>([])
    private let failOnCall: Int?
    private let failure: EmbeddingError?

    init(model: String = "scripted", dimensions: Int = 8, failOnCall: Int? = nil, failure: EmbeddingError? = nil) {
        self.model = model
        self.dimensions = dimensions
        self.failOnCall = failOnCall
        self.failure = failure
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let call = calls.withLock { calls in
            calls.append(texts.count)
            return calls.count
        }
        if call == failOnCall, let failure { throw failure }
        return try await LocalEmbedder(dimensions: dimensions).embed(texts)
    }
}

@Suite("Vectorization", .timeLimit(.minutes(5)))
struct VectorizationTests {
    /// A project with `count` stored records, not yet embedded; its ingest job stays open.
    private func project(_ store: any PipelineStore, records count: Int, text: (Int) -> String = { "record \($0)" })
        async throws -> String
    {
        try await TestProjects.make(store, records: count, text: text)
    }

    private func runner(_ queue: DatabaseQueue, _ store: any PipelineStore, _ provider: any EmbeddingProvider)
        -> JobRunner
    {
        var handlers = JobHandlerRegistry()
        // One request at a time: the scripted providers answer in order.
        handlers.register(
            .vectorize,
            serializeBy: "projectId",
            VectorizationHandler(
                store: store,
                provider: provider,
                options: VectorizationOptions(requestsInFlight: 1)
            )
        )
        return JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
    }

    @Test("a job keeps several provider requests in flight, each saved as it is answered", arguments: [1, 4])
    func requestsInFlight(limit: Int) async throws {
        try await withServerStore(.memory) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let project = try await project(stores.pipeline, records: 100)
            let provider = SlowProvider(delay: .milliseconds(50))
            var handlers = JobHandlerRegistry()
            handlers.register(
                .vectorize,
                VectorizationHandler(
                    store: stores.pipeline,
                    provider: provider,
                    options: VectorizationOptions(batchSize: 10, requestsInFlight: limit)
                )
            )
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            _ = try await VectorizationHandler.enqueue(projectID: project, on: queue)
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(provider.calls == 10)
            #expect(provider.peak == limit, "at most, and under a slow provider exactly, \(limit) at once")
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 100)
        }
    }

    @Test("250 records per job in requests of 25, then a continuation for the rest", arguments: StoreKind.allCases)
    func continuation(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let provider = ScriptedProvider()
            let runner = runner(queue, stores.pipeline, provider)
            let project = try await project(stores.pipeline, records: 300)
            let first = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": .string(project)]))
                .id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            let result = try #require(try await queue.getJob(first).result)
            #expect(result["embeddedCount"] == 250)
            #expect(provider.calls.withLock { $0 } == Array(repeating: 25, count: 10))
            #expect(result["moreRemaining"] == true)
            #expect(try await queue.getJob(first).progress?.current == 250)
            // Completing queued the continuation (the project's unique key was free again).
            let waiting = try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize))
            #expect(waiting.count == 1)
            #expect(waiting.first?.uniqueKey == "vectorize:\(project)")
            // At most one waits: asking again joins it.
            let again = try await VectorizationHandler.enqueue(projectID: project, on: queue)
            #expect(!again.inserted)
            #expect(again.id == waiting.first?.id)

            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            let second = try #require(try await queue.getJob(again.id).result)
            #expect(second["embeddedCount"] == 50)
            #expect(second["moreRemaining"] == false)
            #expect(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).isEmpty)
            let summary = try #require(try await stores.pipeline.projectSummary(id: project))
            #expect(summary.embeddedCount == 300)
            #expect(summary.project.embeddingModel == "scripted")
            #expect(summary.project.embeddingDimensions == 8)
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project, limit: 10).isEmpty)
        }
    }

    @Test(
        "a backfill's jobs walk on from the last chunk taken, and its last job looks from the start once",
        arguments: StoreKind.allCases
    )
    func walkOn(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let runner = runner(queue, stores.pipeline, ScriptedProvider())
            let project = try await project(stores.pipeline, records: 300)
            let order = try await stores.pipeline.unembeddedChunks(projectID: project, limit: 1_000).map(\.id)
            #expect(order.count == 300)
            // The store's walk: after a chunk, the ones that follow it; after an unknown one, none.
            #expect(
                try await stores.pipeline.unembeddedChunks(projectID: project, after: order[9], limit: 5).map(\.id)
                    == Array(order[10..<15])
            )
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project, after: order[299], limit: 5).isEmpty)
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project, after: "gone", limit: 5).isEmpty)

            let first = try await VectorizationHandler.enqueue(projectID: project, on: queue).id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await queue.getJob(first).result?["embeddedCount"] == 250)
            let next = try #require(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).first)
            #expect(next.payload?["after"] == .string(order[249]), "the continuation starts after the last chunk taken")
            // A job that starts further on (as if chunks 250–259 had been passed by) embeds what follows, then
            // finds the passed ones from the start and queues a job without a cursor for them.
            try await queue.cancelJob(next.id)
            let later = try await queue.enqueue(VectorizationHandler.job(projectID: project, after: order[259])).id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await queue.getJob(later).result?["embeddedCount"] == 40)
            let sweep = try #require(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).first)
            #expect(sweep.payload?["projectId"] == .string(project) && sweep.payload?["after"] == nil)
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await queue.getJob(sweep.id).result?["embeddedCount"] == 10)
            #expect(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).isEmpty)
            #expect(try await stores.pipeline.waitingChunkCount(projectID: project) == 0)
        }
    }

    @Test(
        "records ingested while a project's VECTORIZE job runs are embedded by its successor",
        arguments: StoreKind.sql
    )
    func ingestDuringVectorization(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let project = try await project(stores.pipeline, records: 5)
            // While the running job embeds, an ingestion stores more records and asks for VECTORIZE: the request
            // joins the running job (it holds the unique key).
            let provider = HookedProvider {
                let more = try (0..<3).map { try RecordReader().read(["text": .string("late \($0)")]).get() }
                try await stores.pipeline.createIngestJob(
                    IngestJob(id: "late", projectID: project, total: 3, createdAt: Date()),
                    chunks: 1
                )
                _ = try await stores.pipeline.storeBatch(
                    more,
                    invalid: 0,
                    handled: 3,
                    ingestJobID: "late",
                    projectID: project,
                    chunk: 0,
                    processedAfter: 3,
                    now: Date()
                )
                let joined = try await VectorizationHandler.enqueue(projectID: project, on: queue)
                #expect(!joined.inserted)
            }
            let runner = runner(queue, stores.pipeline, provider)
            try await VectorizationHandler.enqueue(projectID: project, on: queue)
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 5)
            // Nothing is lost: the completed job queued a successor for the late records.
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 8)
        }
    }

    @Test(
        "a rate limit keeps what was saved and hands the job back without spending an attempt",
        arguments: StoreKind.sql
    )
    func rateLimit(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let clock = ManualWallClock()
            let queue = DatabaseQueue(store: stores.queue, clock: clock, logger: quietLogger)
            let provider = ScriptedProvider(
                failOnCall: 2,
                failure: EmbeddingError(code: .rateLimited, message: "429", retryAfter: .seconds(7), status: 429)
            )
            let runner = runner(queue, stores.pipeline, provider)
            let project = try await project(stores.pipeline, records: 60)
            let id = try await queue.enqueue(
                NewJob(jobType: .vectorize, payload: ["projectId": .string(project)], maxAttempts: 1)
            ).id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .deferred)
            let job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 0)
            #expect(job.scheduledFor == clock.now() + 7)
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 25)
            clock.advance(by: .seconds(7))
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await queue.getJob(id).result?["embeddedCount"] == 35)
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 60)
        }
    }

    @Test("another model or dimension is refused, never mixed into a project", arguments: StoreKind.allCases)
    func modelMismatch(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let project = try await project(stores.pipeline, records: 3)
            _ = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": .string(project)]))
            #expect(
                await runner(queue, stores.pipeline, ScriptedProvider()).run(
                    try #require(try await queue.claimJob([.vectorize]))
                )
                    == .completed
            )

            // The same project under another model and dimension.
            let other = ScriptedProvider(model: "other", dimensions: 16)
            let id = try await queue.enqueue(
                NewJob(jobType: .vectorize, payload: ["projectId": .string(project)], maxAttempts: 1)
            ).id
            #expect(
                await runner(queue, stores.pipeline, other).run(try #require(try await queue.claimJob([.vectorize])))
                    == .failed(.failed)
            )
            let message = try await queue.getJob(id).errors.first?.message ?? ""
            #expect(
                message.contains("was embedded with scripted (8 dimensions) but other (16 dimensions)"),
                "\(message)"
            )
            #expect(other.calls.withLock { $0 }.isEmpty, "refused before calling the provider")
            // The store refuses too, should a handler get past the check.
            await #expect(throws: PipelineError.self) {
                try await stores.pipeline.saveEmbeddings(
                    [(id: "x", vector: [1])],
                    projectID: project,
                    model: "other",
                    dimensions: 1,
                    now: Date()
                )
            }
        }
    }

    @Test("a long text is embedded whole, chunk by chunk: nothing is cut")
    func longTexts() async throws {
        try await withServerStore(.sqlite) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            // 50,000 characters: chunks of at most 2,048 (the provider's input limit here), overlapping.
            let project = try await project(stores.pipeline, records: 3) {
                $0 == 1 ? String(repeating: "word ", count: 10_000) : "short \($0)"
            }
            var handlers = JobHandlerRegistry()
            handlers.register(
                .vectorize,
                VectorizationHandler(
                    store: stores.pipeline,
                    provider: LocalEmbedder(dimensions: 8),
                    options: VectorizationOptions(maxInputCharacters: 2_048)
                )
            )
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let id = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": .string(project)])).id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            let result = try await queue.getJob(id).result
            #expect(result?["truncatedCount"] == 0)
            let longChunks = Chunker().chunks(String(repeating: "word ", count: 10_000))
            #expect(longChunks.count >= 25 && longChunks.allSatisfy { $0.count <= 2_048 })
            #expect(
                result?["embeddedCount"] == .int(Int64(2 + longChunks.count)),
                "every chunk of the long record, and the two short ones"
            )
            #expect(result?["model"] == "sluice-local-hash-v1")
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 3)
        }
    }
}

@Suite("Search", .timeLimit(.minutes(5)))
struct SearchTests {
    @Test(
        "the approximate index waits until the backlog is down; search scans exactly meanwhile",
        arguments: StoreKind.allCases
    )
    func indexAfterBackfill(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let embedder = LocalEmbedder(dimensions: 48)
            let project = try await TestProjects.make(stores.pipeline, records: 30)
            #expect(try await stores.pipeline.prepareVectorIndex(dimensions: 48, threshold: 10) == .exact)
            func indexed() async throws -> Bool {
                guard let postgres = stores.queue as? PostgresJobStore else { return false }
                return try await postgres.client.query(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'chunks_halfvec_hnsw_48'"
                ).collect().first?.decode(Int.self) == 1
            }
            #expect(try await !indexed(), "30 chunks wait: no index yet")
            #expect(try await stores.pipeline.waitingChunkCount(projectID: project) == 30)
            let pending = try await stores.pipeline.unembeddedChunks(projectID: project, limit: 100)
            try await stores.pipeline.saveEmbeddings(
                Array(
                    zip(pending, try await embedder.embed(pending.map(\.text))).map { (id: $0.id, vector: $1) }
                        .dropLast(4)
                ),
                projectID: project,
                model: embedder.model,
                dimensions: 48,
                now: Date()
            )
            #expect(try await stores.pipeline.waitingChunkCount(projectID: project) == 4, "the backfill's progress")
            #expect(try await stores.pipeline.waitingChunkCount(projectID: "elsewhere") == 0)
            try await stores.pipeline.saveEmbeddings(
                Array(
                    zip(pending, try await embedder.embed(pending.map(\.text))).map { (id: $0.id, vector: $1) }
                        .suffix(4)
                ),
                projectID: project,
                model: embedder.model,
                dimensions: 48,
                now: Date()
            )
            #expect(try await stores.pipeline.waitingChunkCount(projectID: project) == 0)
            // Exact search answers before the index exists.
            let query = try await embedder.embed(["record 7"])[0]
            #expect(
                try await stores.pipeline.nearest(projectID: project, to: query, model: embedder.model, limit: 1).first?
                    .text == "record 7"
            )
            #expect(
                try await stores.pipeline.prepareVectorIndex(dimensions: 48, threshold: 100) == .exact,
                "30 chunks with vectors are too few to need an index"
            )
            #expect(try await !indexed())
            let mode = try await stores.pipeline.prepareVectorIndex(dimensions: 48, threshold: 10)
            #expect(mode == (kind == .postgres ? .approximate : .exact))
            #expect(try await indexed() == (kind == .postgres))
            #expect(try await stores.pipeline.prepareVectorIndex(dimensions: 48, threshold: 10) == mode, "once")
            #expect(
                try await stores.pipeline.nearest(projectID: project, to: query, model: embedder.model, limit: 1).first?
                    .text == "record 7"
            )
        }
    }

    @Test("a search says whether it went through the approximate index", arguments: StoreKind.allCases)
    func searchMode(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let embedder = LocalEmbedder(dimensions: 32)
            let large = try await TestProjects.make(stores.pipeline, records: 3_000)
            let pending = try await stores.pipeline.unembeddedChunks(projectID: large, limit: 3_000)
            try await stores.pipeline.saveEmbeddings(
                zip(pending, try await embedder.embed(pending.map(\.text))).map { (id: $0.id, vector: $1) },
                projectID: large,
                model: embedder.model,
                dimensions: 32,
                now: Date()
            )
            let query = try await embedder.embed(["record 1234"])[0]
            let before = try await stores.pipeline.nearestRecords(
                projectID: large,
                to: query,
                model: embedder.model,
                limit: 5
            )
            #expect(before.search == .exact, "no index yet")
            #expect(before.hits.contains { $0.text == "record 1234" }, "its own vector is nearest")
            let built = try await stores.pipeline.prepareVectorIndex(dimensions: 32)
            #expect(built == (kind == .postgres ? .approximate : .exact))
            let after = try await stores.pipeline.nearestRecords(
                projectID: large,
                to: query,
                model: embedder.model,
                limit: 5
            )
            #expect(after.search == built, "3,000 chunks: the index pays")
            #expect(after.hits.contains { $0.text == "record 1234" })
            #expect(after.hits.map(\.distance) == before.hits.map(\.distance), "re-ranked by full-precision vectors")
        }
    }

    @Test("nearest records by cosine distance, within the project and model", arguments: StoreKind.allCases)
    func nearest(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let embedder = LocalEmbedder(dimensions: 64)
            let project = UUID().uuidString.lowercased()
            try await stores.pipeline.createProject(Project(id: project, name: "search", createdAt: Date()))
            try await stores.pipeline.createIngestJob(
                IngestJob(id: "i", projectID: project, total: 4, createdAt: Date()),
                chunks: 1
            )
            let texts = [
                "quarterly revenue grew in europe", "the cat sat on the mat", "revenue forecast for the next quarter",
                "a recipe for apple pie",
            ]
            let reader = RecordReader()
            let records = try texts.map { try reader.read(["text": .string($0)]).get() }
            _ = try await stores.pipeline.storeBatch(
                records,
                invalid: 0,
                handled: 4,
                ingestJobID: "i",
                projectID: project,
                chunk: 0,
                processedAfter: 4,
                now: Date()
            )
            let stored = try await stores.pipeline.unembeddedChunks(projectID: project, limit: 10)
            let vectors = try await embedder.embed(stored.map(\.text))
            try await stores.pipeline.saveEmbeddings(
                zip(stored, vectors).map { (id: $0.id, vector: $1) },
                projectID: project,
                model: embedder.model,
                dimensions: 64,
                now: Date()
            )
            try await stores.pipeline.prepareVectorIndex(dimensions: 64)

            let query = try await embedder.embed(["quarterly revenue"])[0]
            let hits = try await stores.pipeline.nearest(projectID: project, to: query, model: embedder.model, limit: 3)
            #expect(hits.count == 3)
            #expect(hits.first?.text == "quarterly revenue grew in europe")
            #expect(hits.map(\.distance) == hits.map(\.distance).sorted())
            #expect(hits.first.map { $0.distance >= 0 && $0.distance < 0.6 } == true, "\(hits.map(\.distance))")
            #expect(hits.first?.data == ["text": "quarterly revenue grew in europe"])
            #expect(try await stores.pipeline.nearest(projectID: project, to: query, model: "other", limit: 3).isEmpty)
            #expect(
                try await stores.pipeline.nearest(projectID: "nope", to: query, model: embedder.model, limit: 3).isEmpty
            )

            if let postgres = stores.queue as? PostgresJobStore {
                // Vectors travel as one binary real[]: each chunk holds exactly its own numbers.
                for (chunk, vector) in zip(stored, vectors) {
                    let saved = try await postgres.client.query(
                        "SELECT embedding::real[] FROM chunks WHERE id = \(chunk.id)"
                    ).collect().first?.decode([Float].self)
                    #expect(saved?.map(\.bitPattern) == vector.map(\.bitPattern), "\(chunk.text)")
                }
                // The search query matches the HNSW index's expression and predicate, so PostgreSQL can use it.
                // The store's own query, explained: the index of normalised half-precision vectors is used.
                let search = PostgresPipelineStore.nearestQuery(
                    projectID: project,
                    to: query,
                    model: embedder.model,
                    limit: 3,
                    approximate: true
                )
                let plan = try await postgres.client.withTransaction(logger: quietLogger) { connection in
                    try await connection.query("SET LOCAL enable_seqscan = off", logger: quietLogger)
                    return try await connection.query(
                        PostgresQuery(unsafeSQL: "EXPLAIN " + search.sql, binds: search.binds),
                        logger: quietLogger
                    ).collect().map { try $0.decode(String.self) }.joined(separator: "\n")
                }
                #expect(plan.contains("chunks_halfvec_hnsw_64"), "\(plan)")
            }
        }
    }
}

/// A provider that answers after `delay`, counting how many requests it holds at once.
final class SlowProvider: EmbeddingProvider {
    let model = "slow"
    let dimensions = 8
    let delay: Duration
    private let state = Mutex<(now: Int, peak: Int, calls: Int)>((0, 0, 0))

    init(delay: Duration) { self.delay = delay }

    var peak: Int { state.withLock { $0.peak } }
    var calls: Int { state.withLock { $0.calls } }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        state.withLock { state in
            state.now += 1
            state.calls += 1
            state.peak = max(state.peak, state.now)
        }
        defer { state.withLock { $0.now -= 1 } }
        try await Task.sleep(for: delay)
        return try await LocalEmbedder(dimensions: dimensions).embed(texts)
    }
}

/// A provider that runs `hook` once, on its first call, then embeds locally.
final class HookedProvider: EmbeddingProvider {
    let model = "hooked"
    let dimensions = 8
    private let hook: Mutex<(@Sendable () async throws -> Void)?>

    init(_ hook: @escaping @Sendable () async throws -> Void) {
        self.hook = Mutex(hook)
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        let pending = hook.withLock { current -> (@Sendable () async throws -> Void)? in
            defer { current = nil }
            return current
        }
        if let pending { try await pending() }
        return try await LocalEmbedder(dimensions: dimensions).embed(texts)
    }
}

@Suite("Request pacing", .timeLimit(.minutes(5)))
struct RequestPacerTests {
    @Test("rate limits double a project's gap from 250 ms to at most 10 s; successes shrink it away")
    func pacing() async throws {
        let pacer = RequestPacer()
        #expect(pacer.gap(for: "p") == .zero)
        pacer.rateLimited("p")
        #expect(pacer.gap(for: "p") == .milliseconds(250))
        pacer.rateLimited("p")
        #expect(pacer.gap(for: "p") == .milliseconds(500))
        #expect(pacer.gap(for: "q") == .zero, "per project")
        for _ in 0..<10 { pacer.rateLimited("p") }
        #expect(pacer.gap(for: "p") == .seconds(10))
        pacer.succeeded("p")
        #expect(pacer.gap(for: "p") == .seconds(8))
        for _ in 0..<40 { pacer.succeeded("p") }
        #expect(pacer.gap(for: "p") == .zero)

        // The gap is kept between requests.
        pacer.rateLimited("r")
        try await pacer.wait(for: "r")
        let started = ContinuousClock.now
        try await pacer.wait(for: "r")
        #expect(ContinuousClock.now - started >= .milliseconds(240))
    }

    @Test("a rate-limited project's requests are spaced out by its handler")
    func handlerSlowsDown() async throws {
        try await withServerStore(.sqlite) { stores in
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            let pacer = RequestPacer()
            let provider = ScriptedProvider(
                failOnCall: 1,
                failure: EmbeddingError(code: .rateLimited, message: "429", retryAfter: .zero, status: 429)
            )
            var handlers = JobHandlerRegistry()
            handlers.register(
                .vectorize,
                VectorizationHandler(store: stores.pipeline, provider: provider, pacer: pacer)
            )
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let project = try await TestProjects.make(stores.pipeline, records: 1) { _ in "one" }
            try await VectorizationHandler.enqueue(projectID: project, on: queue)
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .deferred)
            #expect(pacer.gap(for: project) == .milliseconds(250))
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(pacer.gap(for: project) == .milliseconds(200), "one success shrinks the gap")
        }
    }
}
