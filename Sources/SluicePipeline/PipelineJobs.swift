import SluiceCore
import SluiceWorkers

/// The pipeline's job types and their payloads. The queue knows none of them: to it they are types like any
/// application's own.
extension JobType {
    /// Records in: validate, de-duplicate and store a batch of records.
    public static let ingestData: JobType = "INGEST_DATA"
    /// Stored records out to an embedding provider, vectors back into the store.
    public static let vectorize: JobType = "VECTORIZE"
}

/// What the pipeline runs, in one place for the server, the CLI and the metrics.
public enum PipelineJobs {
    /// The job types the pipeline has handlers for.
    public static let types: [JobType] = [.ingestData, .vectorize]

    /// The reference's ingestion worker: up to 3 INGEST_DATA jobs per invocation, in parallel.
    public static let ingestion = WorkerRoutine.Spec(types: [.ingestData], batchSize: 3)
    /// The reference's vectorization worker: up to 2 VECTORIZE jobs per invocation (one per project at a time).
    public static let vectorization = WorkerRoutine.Spec(types: [.vectorize], batchSize: 2)
}

/// The INGEST_DATA payload: the reference's `{ingestJobId, projectId, records, generateEmbeddings}`, plus
/// `textFields` (the fields whose text is embedded) and `chunk` (the part of a large upload). ``UploadWriter``
/// writes it as text while an upload is read; ``init(_:)`` is its one decoder.
public struct IngestPayload: Sendable, Hashable {
    public var ingestJobID: String
    public var projectID: String
    public var records: [JSONValue]
    public var generateEmbeddings: Bool
    public var textFields: [String]
    /// The field holding each record's id; nil for the default (`id`).
    public var idField: String?
    public var chunk: Int

    /// The payload's member names.
    enum Key {
        static let ingestJobID = "ingestJobId"
        static let projectID = "projectId"
        static let records = "records"
        static let generateEmbeddings = "generateEmbeddings"
        static let textFields = "textFields"
        static let idField = "idField"
        static let chunk = "chunk"
    }

    public init(
        ingestJobID: String,
        projectID: String,
        records: [JSONValue],
        generateEmbeddings: Bool = false,
        textFields: [String] = [],
        idField: String? = nil,
        chunk: Int = 0
    ) {
        self.ingestJobID = ingestJobID
        self.projectID = projectID
        self.records = records
        self.generateEmbeddings = generateEmbeddings
        self.textFields = textFields
        self.idField = idField
        self.chunk = chunk
    }

    /// Reads a job's payload; throws ``PipelineError/Code/invalidInput`` naming what is missing.
    public init(_ payload: JSONValue) throws {
        guard let ingestJobID = payload[Key.ingestJobID]?.stringValue,
            let projectID = payload[Key.projectID]?.stringValue, case .array(let records)? = payload[Key.records]
        else {
            throw PipelineError(
                code: .invalidInput,
                message: "INGEST_DATA payload needs ingestJobId, projectId and a records array"
            )
        }
        var textFields: [String] = []
        if case .array(let fields)? = payload[Key.textFields] { textFields = fields.compactMap(\.stringValue) }
        self.init(
            ingestJobID: ingestJobID,
            projectID: projectID,
            records: records,
            generateEmbeddings: payload[Key.generateEmbeddings]?.boolValue ?? false,
            textFields: textFields,
            idField: payload[Key.idField]?.stringValue,
            chunk: payload[Key.chunk]?.intValue ?? 0
        )
    }

    /// The payload as a value, for producers that have the records at hand.
    public var json: JSONValue {
        var members: [String: JSONValue] = [
            Key.ingestJobID: .string(ingestJobID), Key.projectID: .string(projectID), Key.records: .array(records),
            Key.generateEmbeddings: .bool(generateEmbeddings), Key.chunk: .int(Int64(chunk)),
        ]
        if !textFields.isEmpty { members[Key.textFields] = .array(textFields.map(JSONValue.string)) }
        if let idField { members[Key.idField] = .string(idField) }
        return .object(members)
    }
}

/// The VECTORIZE payload: `{projectId, after?}`.
public struct VectorizePayload: Sendable, Hashable {
    public var projectID: String
    /// The last chunk the previous job of a backfill took: this job starts after it. Nil starts from the oldest
    /// waiting chunk.
    public var after: String?

    public init(projectID: String, after: String? = nil) {
        self.projectID = projectID
        self.after = after
    }

    /// Reads a job's payload; throws ``PipelineError/Code/invalidInput`` without a project id.
    public init(_ payload: JSONValue) throws {
        guard let projectID = payload["projectId"]?.stringValue else {
            throw PipelineError(code: .invalidInput, message: "VECTORIZE payload needs a projectId")
        }
        self.init(projectID: projectID, after: payload["after"]?.stringValue)
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["projectId": .string(projectID)]
        if let after { members["after"] = .string(after) }
        return .object(members)
    }
}
