import Foundation
import SluiceCore
import SwiftCSV

/// Reads uploads (a JSON body `{records: [...], generateEmbeddings, textFields}`, CSV with a header row, JSON
/// Lines) straight into the payloads of their INGEST_DATA jobs.
///
/// Each record is parsed, checked and written into its part's payload text as it is read, then dropped: the
/// records are never all held as values at once. (Held as a tree, a body of many small records took about 28
/// times its size in memory.)
public enum Uploads {
    /// Reads `{records: [...], generateEmbeddings?: bool, textFields?: [string], idField?: string}` into `writer`.
    public static func json(_ text: String, into writer: UploadWriter) throws {
        let members: [String: JSONValue]
        do {
            let (others, streamed) = try JSONValue.parseObject(text, streamingArrayAt: "records") { record in
                try writer.add(record)
            }
            guard streamed else {
                throw PipelineError(code: .invalidInput, message: "body must have a records array")
            }
            members = others
        } catch let error as QueueError where error.code == .invalidJSON {
            throw PipelineError(
                code: .invalidInput,
                message: "body must be a JSON object with a records array: \(error.message)"
            )
        }
        switch members["textFields"] {
        case nil, .null?: break
        case .array(let fields)?:
            let names = fields.compactMap(\.stringValue)
            guard names.count == fields.count else {
                throw PipelineError(code: .invalidInput, message: "textFields must be an array of strings")
            }
            writer.textFields = names
        default: throw PipelineError(code: .invalidInput, message: "textFields must be an array of strings")
        }
        switch members["idField"] {
        case nil, .null?: break
        case .string(let field)? where !field.isEmpty: writer.idField = field
        default: throw PipelineError(code: .invalidInput, message: "idField must be a field name")
        }
        switch members["dryRun"] {
        case nil, .null?: break
        case .bool(let value)?: writer.dryRun = value
        default: throw PipelineError(code: .invalidInput, message: "dryRun must be true or false")
        }
        switch members["sync"] {
        case nil, .null?: break
        case .bool(let value)?: writer.sync = value
        default: throw PipelineError(code: .invalidInput, message: "sync must be true or false")
        }
        switch members["generateEmbeddings"] {
        case nil, .null?: break
        case .bool(let value)?: writer.generateEmbeddings = value
        default: throw PipelineError(code: .invalidInput, message: "generateEmbeddings must be true or false")
        }
    }

    /// Reads CSV with a header row into `writer`; every row becomes an object of the header's fields.
    public static func csv(_ text: String, into writer: UploadWriter) throws {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        let parsed: CSV<Named>
        do {
            // One row read here: enough for the header; the rows are streamed below, never all held.
            parsed = try CSV<Named>(string: text, delimiter: .comma, loadColumns: false, rowLimit: 1)
        } catch {
            throw PipelineError(code: .invalidInput, message: "CSV could not be read: \(error)")
        }
        guard !parsed.header.isEmpty, Set(parsed.header).count == parsed.header.count else {
            throw PipelineError(code: .invalidInput, message: "CSV needs a header row of distinct column names")
        }
        var failure: (any Error)?
        do {
            try parsed.enumerateAsDict { row in
                guard failure == nil else { return }
                do { try writer.add(.object(row.mapValues(JSONValue.string))) } catch { failure = error }
            }
        } catch {
            throw PipelineError(code: .invalidInput, message: "CSV could not be read: \(error)")
        }
        if let failure { throw failure }
    }

    /// Reads JSON Lines into `writer`: one JSON value per non-empty line. A line that is not JSON is an error naming
    /// it.
    public static func jsonLines(_ text: String, into writer: UploadWriter) throws {
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let record: JSONValue
            do {
                record = try JSONValue(parsing: trimmed)
            } catch {
                throw PipelineError(code: .invalidInput, message: "line \(number + 1) is not JSON")
            }
            try writer.add(record)
        }
    }

    /// Creates the ingest job with the writer's parts and enqueues one INGEST_DATA job per part (all in one round
    /// trip). Returns the queue jobs' ids. When enqueueing fails, the ingest job is marked FAILED.
    public static func submit(
        _ writer: UploadWriter,
        store: any PipelineStore,
        queue: DatabaseQueue,
        now: Date
    ) async throws -> [String] {
        let jobs = writer.finish()
        let ingestJob = IngestJob(
            id: writer.ingestJobID,
            projectID: writer.projectID,
            total: writer.total,
            sync: writer.sync,
            createdAt: now
        )
        try await store.createIngestJob(ingestJob, chunks: jobs.count, generateEmbeddings: writer.generateEmbeddings)
        do {
            return try await queue.enqueue(contentsOf: jobs).map(\.id)
        } catch {
            try? await store.failIngestJob(id: ingestJob.id, error: "could not be queued: \(error)", now: now)
            throw error
        }
    }
}

/// An upload's INGEST_DATA payloads (``IngestPayload``), written as JSON text while its records are read, one for
/// each part of at most `partSize` records: the payload's encoder for uploads.
public final class UploadWriter {
    public let ingestJobID: String
    public let projectID: String
    public let partSize: Int
    /// Whether the parts' records are embedded once stored. Default false.
    public var generateEmbeddings = false
    /// The fields whose text is embedded (empty: the default choice). Default none.
    public var textFields: [String] = []
    /// The field holding each record's id. Default nil: `id`.
    public var idField: String?
    /// Delete the project's records this upload does not carry, once it completes. Default false.
    public var sync = false
    /// Only tell what the upload would change (``Uploads/preview(_:store:options:)``). Default false.
    public var dryRun = false
    /// Records read so far.
    public private(set) var total = 0

    /// Each part's text up to the end of its records array.
    private var parts: [String] = []
    private var inLastPart = 0

    /// `ingestJobID` defaults to a new UUIDv7, as job ids are (ordered by creation time).
    public init(ingestJobID: String = JobID.make(), projectID: String, partSize: Int) {
        self.ingestJobID = ingestJobID
        self.projectID = projectID
        self.partSize = max(1, partSize)
    }

    /// Writes one record into the current part; refuses one that no store can keep.
    public func add(_ record: JSONValue) throws {
        guard !record.containsNUL else {
            throw PipelineError(
                code: .invalidInput,
                message: "record \(total) contains a NUL character (\\u0000), which cannot be stored"
            )
        }
        if parts.isEmpty || inLastPart == partSize {
            parts.append(prefix(chunk: parts.count))
            inLastPart = 0
        }
        if inLastPart > 0 { parts[parts.count - 1] += "," }
        parts[parts.count - 1] += record.jsonText
        inLastPart += 1
        total += 1
    }

    /// The INGEST_DATA jobs, one per part (one with no records for an empty upload). The writer is empty after.
    public func finish() -> [NewJob] {
        if parts.isEmpty { parts.append(prefix(chunk: 0)) }
        var suffix = "],\"\(IngestPayload.Key.generateEmbeddings)\":\(generateEmbeddings)"
        if !textFields.isEmpty {
            suffix +=
                ",\"\(IngestPayload.Key.textFields)\":" + JSONValue.array(textFields.map(JSONValue.string)).jsonText
        }
        if let idField { suffix += ",\"\(IngestPayload.Key.idField)\":" + JSONValue.string(idField).jsonText }
        suffix += "}"
        var jobs: [NewJob] = []
        jobs.reserveCapacity(parts.count)
        for index in parts.indices {
            parts[index] += suffix
            jobs.append(NewJob(jobType: .ingestData, payloadText: parts[index]))
            parts[index] = ""
        }
        parts = []
        return jobs
    }

    private func prefix(chunk: Int) -> String {
        typealias Key = IngestPayload.Key
        return "{\"\(Key.chunk)\":\(chunk),\"\(Key.ingestJobID)\":\(JSONValue.string(ingestJobID).jsonText),"
            + "\"\(Key.projectID)\":\(JSONValue.string(projectID).jsonText),\"\(Key.records)\":["
    }
}

/// What an upload would change in its project, computed without changing anything (`dryRun`): records to insert,
/// update, leave and, for a sync upload, delete; the chunks that would be embedded and a token estimate for them.
public struct UploadPreview: Sendable, Hashable {
    public var total = 0
    public var toInsert = 0
    public var toUpdate = 0
    /// Stored already with this content, or repeated in the upload.
    public var unchanged = 0
    /// Not a record at all (no text, too long, not an object): skipped with a reason.
    public var invalid = 0
    /// Records a sync upload would delete; 0 for others.
    public var toDelete = 0
    public var chunksToEmbed = 0
    public var charactersToEmbed = 0

    public init() {}

    /// About 4 characters per token, the estimate the chunk size uses.
    public var estimatedTokens: Int { (charactersToEmbed + 3) / 4 }
}

extension Uploads {
    /// Plans `writer`'s records against what `store` holds, batch by batch with the rules ``RecordPlan`` stores them
    /// by, and writes nothing. The writer is empty after.
    public static func preview(
        _ writer: UploadWriter,
        store: any PipelineStore,
        options: IngestionOptions = IngestionOptions()
    ) async throws -> UploadPreview {
        var preview = UploadPreview()
        preview.total = writer.total
        let sync = writer.sync
        let reader = try RecordReader(
            for: try await store.project(id: writer.projectID),
            textFields: writer.textFields,
            idField: writer.idField,
            options: options
        )
        var seen: Set<String> = []
        var matched: Set<String> = []
        for job in writer.finish() {
            let payload = try IngestPayload(try JSONValue(parsing: job.payloadText))
            var valid: [NewRecord] = []
            for value in payload.records {
                guard case .success(let record) = reader.read(value) else {
                    preview.invalid += 1
                    continue
                }
                guard seen.insert(record.key).inserted else {
                    preview.unchanged += 1
                    continue
                }
                valid.append(record)
            }
            for start in stride(from: 0, to: valid.count, by: options.batchSize) {
                let batch = Array(valid[start..<min(start + options.batchSize, valid.count)])
                let existing = try await store.existingRecords(
                    projectID: writer.projectID,
                    keys: RecordPlan.keys(batch)
                )
                matched.formUnion(existing.keys)
                let plan = RecordPlan(batch, existing: existing)
                preview.toInsert += plan.outcome.inserted
                preview.toUpdate += plan.outcome.updated
                preview.unchanged += plan.outcome.unchanged
                let chunks = plan.inserts.flatMap(\.chunks) + plan.updates.flatMap { $0.newChunks.map(\.text) }
                preview.chunksToEmbed += chunks.count
                preview.charactersToEmbed += chunks.reduce(0) { $0 + $1.count }
            }
        }
        if sync, let summary = try await store.projectSummary(id: writer.projectID) {
            preview.toDelete = max(0, summary.recordCount - matched.count)
        }
        return preview
    }
}
