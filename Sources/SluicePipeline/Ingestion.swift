import Foundation
import Logging
import SluiceCore
import SluiceWorkers

/// Settings of ingestion.
public struct IngestionOptions: Sendable {
    /// Records stored per database transaction. Default 100, the reference's (`SLUICE_INGEST_BATCH_SIZE`).
    public var batchSize: Int
    /// Longest text a record may carry, in UTF-8 bytes. Default 1 MiB (`SLUICE_MAX_RECORD_TEXT_BYTES`).
    public var maxTextBytes: Int
    /// How records are split into the chunks that are embedded. Default 2,048 characters (about 512 tokens) with
    /// 10% overlap (`SLUICE_CHUNK_SIZE`, `SLUICE_CHUNK_OVERLAP`).
    public var chunker: Chunker
    /// How many skipped records a result describes. Default 10.
    public var skippedReasonsShown: Int
    /// Least time between two progress reports of a part (the first batch and the last are always reported).
    /// Default 250 ms.
    public var progressInterval: Duration

    public init(
        batchSize: Int = 100,
        maxTextBytes: Int = RecordReader.defaultMaxTextBytes,
        chunker: Chunker = Chunker(),
        skippedReasonsShown: Int = 10,
        progressInterval: Duration = .milliseconds(250)
    ) {
        precondition(batchSize > 0, "IngestionOptions: batchSize must be positive")
        self.batchSize = batchSize
        self.maxTextBytes = maxTextBytes
        self.chunker = chunker
        self.skippedReasonsShown = skippedReasonsShown
        self.progressInterval = progressInterval
    }
}

/// The INGEST_DATA handler: the reference's `processAndStore()`.
///
/// Reads the payload `{ingestJobId, projectId, records, generateEmbeddings, textFields?, chunk?}` (a large upload
/// is split into parts, `chunk` numbering them), validates every record, stores the new ones in transactions of
/// `batchSize` (duplicates within the project, by content hash, are skipped), records progress after each batch,
/// and completes with `{savedCount, skippedCount, skipped}` for its part. Each batch commits together with its
/// part's progress, so a retry after a crash resumes after the last stored batch and stores nothing twice. When
/// the last part finishes, the ingest job is COMPLETED and, when embeddings were asked for, a VECTORIZE job
/// is queued in the transaction that completes the part's queue job.
public struct IngestionHandler: JobHandler {
    public let store: any PipelineStore
    public let options: IngestionOptions
    private let clock: any WallClock

    public init(
        store: any PipelineStore,
        options: IngestionOptions = IngestionOptions(),
        clock: any WallClock = SystemWallClock()
    ) {
        self.store = store
        self.options = options
        self.clock = clock
    }

    public func run(_ context: JobContext) async throws -> JSONValue? {
        let payload = try IngestPayload(context.payload)
        let (ingestJobID, projectID) = (payload.ingestJobID, payload.projectID)
        do {
            return try await process(
                payload.records,
                ingestJobID: ingestJobID,
                projectID: projectID,
                chunk: payload.chunk,
                textFields: payload.textFields,
                idField: payload.idField,
                generateEmbeddings: payload.generateEmbeddings,
                context: context
            )
        } catch is CancellationError {
            throw CancellationError()  // shutdown: the job goes back to the queue and resumes later
        } catch {
            let lease = context.claimed.lease
            let cancelled = (error as? QueueError)?.code == .leaseLost
            if cancelled || lease.attempt >= lease.maxAttempts {
                try? await store.failIngestJob(
                    id: ingestJobID,
                    error: cancelled ? "cancelled" : "\(error)",
                    now: clock.now()
                )
            }
            throw error
        }
    }

    private func process(
        _ records: [JSONValue],
        ingestJobID: String,
        projectID: String,
        chunk: Int,
        textFields: [String],
        idField: String?,
        generateEmbeddings: Bool,
        context: JobContext
    ) async throws -> JSONValue {
        guard try await store.ingestJob(id: ingestJobID) != nil,
            let part = try await store.ingestChunk(ingestJobID: ingestJobID, chunk: chunk)
        else {
            throw PipelineError(
                code: .ingestJobNotFound,
                message: "ingest job \(ingestJobID) (part \(chunk)) does not exist"
            )
        }
        try await store.startIngestJob(id: ingestJobID, now: clock.now())
        let reader = try RecordReader(
            for: try await store.project(id: projectID),
            textFields: textFields,
            idField: idField,
            options: options
        )
        var offset = part.done ? records.count : min(part.processed, records.count)
        if offset > 0 && !part.done {
            context.logger.info("resuming ingestion", metadata: [LogKey.ingestProcessed: "\(offset)"])
        }
        var skippedShown: [JSONValue] = []
        var thisRun = BatchOutcome()
        var nextProgress = ContinuousClock.now
        while offset < records.count {
            try Task.checkCancellation()
            let end = min(offset + options.batchSize, records.count)
            var valid: [NewRecord] = []
            var invalid = 0
            for index in offset..<end {
                switch reader.read(records[index]) {
                case .success(let record):
                    valid.append(record)
                case .failure(let reason):
                    invalid += 1
                    if skippedShown.count < options.skippedReasonsShown {
                        skippedShown.append(["index": .int(Int64(index)), "reason": .string(reason.description)])
                    }
                }
            }
            let outcome = try await store.storeBatch(
                valid,
                invalid: invalid,
                handled: end - offset,
                ingestJobID: ingestJobID,
                projectID: projectID,
                chunk: chunk,
                processedAfter: end,
                now: clock.now()
            )
            thisRun.inserted += outcome.inserted
            thisRun.updated += outcome.updated
            thisRun.unchanged += outcome.unchanged
            offset = end
            // The part's own row has the resume point already; the monitor's progress needs no more than a few
            // updates a second, and the last.
            if offset == records.count || ContinuousClock.now >= nextProgress {
                try await context.reportProgress(
                    current: offset,
                    total: records.count,
                    message: "stored \(offset) of \(records.count) records"
                )
                nextProgress = .now + options.progressInterval
            }
        }
        let (finished, jobComplete) = try await store.finishIngestChunk(
            ingestJobID: ingestJobID,
            chunk: chunk,
            now: clock.now()
        )
        var result: [String: JSONValue] = [
            "ingestJobId": .string(ingestJobID),
            "chunk": .int(Int64(chunk)),
            "savedCount": .int(Int64(finished.saved)),
            "skippedCount": .int(Int64(finished.skipped)),
            "insertedCount": .int(Int64(finished.saved - finished.updated)),
            "updatedCount": .int(Int64(finished.updated)),
            "unchangedCount": .int(Int64(finished.unchanged)),
            "skipped": .array(skippedShown),
        ]
        if thisRun.unchanged > 0 { result["duplicateCount"] = .int(Int64(thisRun.unchanged)) }
        if jobComplete, let job = try await store.ingestJob(id: ingestJobID), job.sync {
            result["deletedCount"] = .int(Int64(job.deleted))
        }
        if generateEmbeddings && jobComplete {
            // Queued with this job's completion, in one transaction.
            context.enqueueOnCompletion(VectorizationHandler.job(projectID: projectID))
            result["vectorizeQueued"] = true
        }
        return .object(result)
    }
}
