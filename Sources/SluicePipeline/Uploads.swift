import Foundation
import SluiceCore
import SwiftCSV

/// Reads uploads into records: a JSON body `{records: [...], generateEmbeddings, textFields}`, or CSV with a header
/// row (each row becomes an object of strings keyed by the header).
public enum Uploads {
    /// What an upload asks for.
    public struct Request: Sendable, Hashable {
        public var records: [JSONValue]
        public var generateEmbeddings: Bool
        public var textFields: [String]

        public init(records: [JSONValue], generateEmbeddings: Bool = false, textFields: [String] = []) {
            self.records = records
            self.generateEmbeddings = generateEmbeddings
            self.textFields = textFields
        }
    }

    /// Parses `{records: [...], generateEmbeddings?: bool, textFields?: [string]}`.
    public static func json(_ text: String) throws -> Request {
        guard case .object(let body)? = try? JSONValue(parsing: text) else {
            throw PipelineError(code: .invalidInput, message: "body must be a JSON object with a records array")
        }
        guard case .array(let records)? = body["records"] else {
            throw PipelineError(code: .invalidInput, message: "body must have a records array")
        }
        var textFields: [String] = []
        switch body["textFields"] {
        case nil, .null?: break
        case .array(let fields)?:
            textFields = fields.compactMap(\.stringValue)
            guard textFields.count == fields.count else {
                throw PipelineError(code: .invalidInput, message: "textFields must be an array of strings")
            }
        default: throw PipelineError(code: .invalidInput, message: "textFields must be an array of strings")
        }
        var generate = false
        switch body["generateEmbeddings"] {
        case nil, .null?: break
        case .bool(let value)?: generate = value
        default: throw PipelineError(code: .invalidInput, message: "generateEmbeddings must be true or false")
        }
        return Request(records: records, generateEmbeddings: generate, textFields: textFields)
    }

    /// Parses CSV with a header row; every row becomes an object of the header's fields.
    public static func csv(_ text: String) throws -> [JSONValue] {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        let parsed: CSV<Named>
        do {
            parsed = try CSV<Named>(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw PipelineError(code: .invalidInput, message: "CSV could not be read: \(error)")
        }
        guard !parsed.header.isEmpty, Set(parsed.header).count == parsed.header.count else {
            throw PipelineError(code: .invalidInput, message: "CSV needs a header row of distinct column names")
        }
        return parsed.rows.map { row in .object(row.mapValues(JSONValue.string)) }
    }

    /// Splits `records` into parts of at most `size` records (at least one part, empty for an empty upload).
    public static func parts(_ records: [JSONValue], size: Int) -> [ArraySlice<JSONValue>] {
        guard !records.isEmpty else { return [records[...]] }
        return stride(from: 0, to: records.count, by: max(1, size)).map {
            records[$0..<min($0 + max(1, size), records.count)]
        }
    }
}

extension Uploads {
    /// Reads JSON Lines: one JSON value per non-empty line. A line that is not JSON is an error naming it.
    public static func jsonLines(_ text: String) throws -> [JSONValue] {
        var records: [JSONValue] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            do {
                records.append(try JSONValue(parsing: trimmed))
            } catch {
                throw PipelineError(code: .invalidInput, message: "line \(number + 1) is not JSON")
            }
        }
        return records
    }

    /// Records an upload carries, and where they go: creates the ingest job with one part per `partSize`
    /// records and enqueues one INGEST_DATA job per part (all in one round trip). Returns the ingest job's id and
    /// the queue jobs' ids. When enqueueing fails, the ingest job is marked FAILED.
    public static func submit(
        _ upload: Request, projectID: String, partSize: Int, store: any PipelineStore, queue: DatabaseQueue,
        now: Date
    ) async throws -> (ingestJobID: String, jobIDs: [String]) {
        let ingestJob = IngestJob(
            id: UUID().uuidString.lowercased(), projectID: projectID, total: upload.records.count, createdAt: now)
        let parts = Uploads.parts(upload.records, size: partSize)
        try await store.createIngestJob(ingestJob, chunks: parts.count, generateEmbeddings: upload.generateEmbeddings)
        let jobs = parts.enumerated().map { index, part in
            var payload: [String: JSONValue] = [
                "ingestJobId": .string(ingestJob.id), "projectId": .string(projectID), "records": .array(Array(part)),
                "generateEmbeddings": .bool(upload.generateEmbeddings), "chunk": .int(Int64(index)),
            ]
            if !upload.textFields.isEmpty { payload["textFields"] = .array(upload.textFields.map(JSONValue.string)) }
            return NewJob(jobType: .ingestData, payload: .object(payload))
        }
        do {
            let enqueued = try await queue.enqueue(contentsOf: jobs)
            return (ingestJob.id, enqueued.map(\.id))
        } catch {
            try? await store.failIngestJob(id: ingestJob.id, error: "could not be queued: \(error)", now: now)
            throw error
        }
    }
}
