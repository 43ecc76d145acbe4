import Crypto
import Foundation
import SluiceCore

/// A collection of records that are ingested, embedded and searched together.
public struct Project: Sendable, Hashable {
    public var id: String
    /// Unique.
    public var name: String
    /// The model and dimension that produced the project's vectors; nil until the first embedding.
    public var embeddingModel: String?
    public var embeddingDimensions: Int?
    public var createdAt: Date

    public init(
        id: String,
        name: String,
        embeddingModel: String? = nil,
        embeddingDimensions: Int? = nil,
        createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.embeddingModel = embeddingModel
        self.embeddingDimensions = embeddingDimensions
        self.createdAt = createdAt
    }
}

/// A project with its counts.
public struct ProjectSummary: Sendable, Hashable {
    public var project: Project
    public var recordCount: Int
    public var embeddedCount: Int

    public init(project: Project, recordCount: Int, embeddedCount: Int) {
        self.project = project
        self.recordCount = recordCount
        self.embeddedCount = embeddedCount
    }
}

/// One upload of records into a project, processed by INGEST_DATA jobs.
public struct IngestJob: Sendable, Hashable {
    public var id: String
    public var projectID: String
    public var status: JobStatus
    /// Records in the upload.
    public var total: Int
    /// Records handled so far, over all parts (saved or skipped).
    public var processed: Int
    public var saved: Int
    public var skipped: Int
    public var error: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?

    public init(
        id: String,
        projectID: String,
        status: JobStatus = .pending,
        total: Int,
        processed: Int = 0,
        saved: Int = 0,
        skipped: Int = 0,
        error: String? = nil,
        createdAt: Date,
        startedAt: Date? = nil,
        completedAt: Date? = nil
    ) {
        self.id = id
        self.projectID = projectID
        self.status = status
        self.total = total
        self.processed = processed
        self.saved = saved
        self.skipped = skipped
        self.error = error
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
    }
}

/// One part of an ingest job: the records one INGEST_DATA job carries.
public struct IngestChunk: Sendable, Hashable {
    public var index: Int
    /// Records of this part handled so far.
    public var processed: Int
    public var saved: Int
    public var skipped: Int
    public var done: Bool

    public init(index: Int, processed: Int, saved: Int, skipped: Int, done: Bool) {
        self.index = index
        self.processed = processed
        self.saved = saved
        self.skipped = skipped
        self.done = done
    }
}

/// A record found by search, with its cosine distance to the query (0 the same direction, 2 the opposite).
public struct SearchHit: Sendable, Hashable {
    public var id: String
    public var externalID: String?
    public var text: String
    public var data: JSONValue
    public var distance: Double

    public init(id: String, externalID: String?, text: String, data: JSONValue, distance: Double) {
        self.id = id
        self.externalID = externalID
        self.text = text
        self.data = data
        self.distance = distance
    }
}

/// A validated record ready to store.
public struct NewRecord: Sendable, Hashable {
    public var externalID: String?
    /// What gets embedded.
    public var text: String
    /// The record as it came in, as canonical JSON text (keys sorted): what the stores keep.
    public var json: String
    /// SHA-256 of ``json``: equal records are stored once per project.
    public var contentHash: String

    /// Writes the record's canonical JSON once and hashes that same text.
    public init(externalID: String?, text: String, data: JSONValue) {
        self.externalID = externalID
        self.text = text
        self.json = data.jsonText
        self.contentHash = Self.hex(SHA256.hash(data: Data(json.utf8)))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex (`String(format:)` per byte cost a fifth of ingestion's time).
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Where projects, ingest jobs and records are kept: the PostgreSQL and SQLite stores, beside the queue.
public protocol PipelineStore: Sendable {
    /// Throws ``PipelineError/Code/nameTaken`` when the name is in use.
    func createProject(_ project: Project) async throws
    /// Every project with its counts, by name.
    func projects() async throws -> [ProjectSummary]
    /// The project with its counts (which read every record of it: for people, not for every job).
    func projectSummary(id: String) async throws -> ProjectSummary?
    /// The project alone: one row.
    func project(id: String) async throws -> Project?

    /// Creates the ingest job and its `chunks` parts, each processed by one INGEST_DATA job. With
    /// `generateEmbeddings`, marks the project as one whose records are embedded (see
    /// ``projectsAwaitingEmbeddings(limit:)``), in the same transaction.
    func createIngestJob(_ job: IngestJob, chunks: Int, generateEmbeddings: Bool) async throws
    func ingestJob(id: String) async throws -> IngestJob?
    /// One part's progress; a retried part resumes after `processed`.
    func ingestChunk(ingestJobID: String, chunk: Int) async throws -> IngestChunk?
    /// PENDING (or a crashed PROCESSING) to PROCESSING, keeping the counts so far.
    func startIngestJob(id: String, now: Date) async throws
    /// Stores a batch of one part in one transaction: inserts the records new to the project (by content hash),
    /// counts the inserted ones as saved and the rest plus `invalid` as skipped (on the part and on the job), adds
    /// `handled` to the job's `processed` and sets the part's `processed` to `processedAfter`. Returns how many
    /// records were inserted.
    func storeBatch(
        _ records: [NewRecord],
        invalid: Int,
        handled: Int,
        ingestJobID: String,
        projectID: String,
        chunk: Int,
        processedAfter: Int,
        now: Date
    ) async throws -> Int
    /// Marks a part done; when it was the last, the job is COMPLETED. Returns the part and whether the job is
    /// COMPLETED now (true again when a finished part is finished twice, as after a crash before its queue job
    /// was recorded, so that its follow-up is not lost).
    func finishIngestChunk(ingestJobID: String, chunk: Int, now: Date) async throws -> (IngestChunk, jobComplete: Bool)
    /// Ends the job as FAILED with `error`.
    func failIngestJob(id: String, error: String, now: Date) async throws

    /// Up to `limit` of the project's records without an embedding, oldest first.
    func unembeddedRecords(projectID: String, limit: Int) async throws -> [(id: String, text: String)]
    /// Up to `limit` projects whose records are embedded (an upload asked for it, or a re-embed), that have
    /// records without an embedding and no ingest job PENDING or PROCESSING: what the reconciler queues VECTORIZE
    /// for.
    func projectsAwaitingEmbeddings(limit: Int) async throws -> [String]
    /// Writes vectors in one transaction and records the model and dimension on the project when it has none.
    /// Throws ``PipelineError/Code/modelMismatch`` when the project's vectors came from another model or dimension.
    func saveEmbeddings(
        _ vectors: [(id: String, vector: [Float])],
        projectID: String,
        model: String,
        dimensions: Int,
        now: Date
    ) async throws
    /// The `limit` records of the project nearest to `vector` by cosine distance, among those embedded with
    /// `model`, nearest first.
    func nearest(projectID: String, to vector: [Float], model: String, limit: Int) async throws -> [SearchHit]
    /// Forgets the project's vectors and model, so that VECTORIZE embeds every record again (after a model change).
    /// Returns how many records lost their vector.
    func clearEmbeddings(projectID: String) async throws -> Int
    /// Makes sure nearest-neighbour search over `dimensions`-long vectors uses an index (HNSW on PostgreSQL;
    /// SQLite searches exactly and has nothing to do).
    func prepareVectorIndex(dimensions: Int) async throws
}

/// An error of the pipeline, with a code and a message a person can act on.
public struct PipelineError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case nameTaken, projectNotFound, ingestJobNotFound, invalidInput, modelMismatch
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let nameTaken = Code(.nameTaken)
        public static let projectNotFound = Code(.projectNotFound)
        public static let ingestJobNotFound = Code(.ingestJobNotFound)
        /// An upload or a payload that cannot be read at all (single bad records are skipped instead).
        public static let invalidInput = Code(.invalidInput)
        /// The project's vectors came from another model or dimension than the one configured: re-embed it.
        public static let modelMismatch = Code(.modelMismatch)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func modelMismatch(project: Project, model: String, dimensions: Int) -> PipelineError {
        PipelineError(
            code: .modelMismatch,
            message:
                "project \(project.name) was embedded with \(project.embeddingModel ?? "?") "
                + "(\(project.embeddingDimensions ?? 0) dimensions) but \(model) (\(dimensions) dimensions) is configured; "
                + "re-embed the project before mixing models"
        )
    }
}

extension PipelineStore {
    /// An ingest job whose upload did not ask for embeddings.
    public func createIngestJob(_ job: IngestJob, chunks: Int) async throws {
        try await createIngestJob(job, chunks: chunks, generateEmbeddings: false)
    }
}
