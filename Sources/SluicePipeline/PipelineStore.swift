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
    /// How the project's records are split (nil: the server's `SLUICE_CHUNK_SIZE` and `SLUICE_CHUNK_OVERLAP`).
    public var chunkSize: Int?
    public var chunkOverlap: Int?
    /// What is embedded for each chunk (``RecordTemplate``); nil embeds the chunk alone.
    public var template: String?

    public init(
        id: String,
        name: String,
        embeddingModel: String? = nil,
        embeddingDimensions: Int? = nil,
        createdAt: Date,
        chunkSize: Int? = nil,
        chunkOverlap: Int? = nil,
        template: String? = nil
    ) {
        self.id = id
        self.name = name
        self.embeddingModel = embeddingModel
        self.embeddingDimensions = embeddingDimensions
        self.createdAt = createdAt
        self.chunkSize = chunkSize
        self.chunkOverlap = chunkOverlap
        self.template = template
    }

    /// The project's chunker: its own size and overlap where it has them, `defaults` otherwise.
    public func chunker(defaults: Chunker) -> Chunker {
        guard chunkSize != nil || chunkOverlap != nil else { return defaults }
        let size = chunkSize ?? defaults.size
        // A size of its own without an overlap of its own: a tenth, as by default.
        return Chunker(size: size, overlap: chunkOverlap ?? (chunkSize == nil ? defaults.overlap : size / 10))
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
    /// Records written: inserted plus updated.
    public var saved: Int
    /// Records not written: invalid, repeated, or unchanged.
    public var skipped: Int
    /// Of `saved`, the records that existed and changed.
    public var updated: Int
    /// Of `skipped`, the records stored already with this content.
    public var unchanged: Int
    /// A sync upload: when it completes (every part), the project's records it did not carry are deleted.
    public var sync: Bool
    /// Records a completed sync upload deleted.
    public var deleted: Int
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
        updated: Int = 0,
        unchanged: Int = 0,
        sync: Bool = false,
        deleted: Int = 0,
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
        self.updated = updated
        self.unchanged = unchanged
        self.sync = sync
        self.deleted = deleted
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
    public var updated: Int
    public var unchanged: Int

    public init(index: Int, processed: Int, saved: Int, skipped: Int, done: Bool, updated: Int = 0, unchanged: Int = 0)
    {
        self.index = index
        self.processed = processed
        self.saved = saved
        self.skipped = skipped
        self.done = done
        self.updated = updated
        self.unchanged = unchanged
    }
}

/// What a search found, and how.
public struct NearestRecords: Sendable, Hashable {
    public var hits: [SearchHit]
    public var search: VectorSearch

    public init(hits: [SearchHit], search: VectorSearch) {
        self.hits = hits
        self.search = search
    }
}

/// A record found by search: its best chunk, and that chunk's cosine distance to the query (0 the same direction,
/// 2 the opposite). No record is found twice.
public struct SearchHit: Sendable, Hashable {
    public var id: String
    public var externalID: String?
    /// The matching chunk's text.
    public var text: String
    /// The matching chunk's position in the record (0 for the first).
    public var chunk: Int
    public var data: JSONValue
    public var distance: Double

    public init(id: String, externalID: String?, text: String, chunk: Int = 0, data: JSONValue, distance: Double) {
        self.id = id
        self.externalID = externalID
        self.text = text
        self.chunk = chunk
        self.data = data
        self.distance = distance
    }
}

/// What one stored batch did to the project's records.
public struct BatchOutcome: Sendable, Hashable {
    /// New records.
    public var inserted = 0
    /// Records whose content changed: their changed chunks are embedded again, the others keep their vectors.
    public var updated = 0
    /// Records stored already with the same content, and repeats within the batch: nothing changed.
    public var unchanged = 0

    public init(inserted: Int = 0, updated: Int = 0, unchanged: Int = 0) {
        self.inserted = inserted
        self.updated = updated
        self.unchanged = unchanged
    }

    /// The reference's `savedCount`: records written.
    public var saved: Int { inserted + updated }
}

/// How a batch changes the records a project has: the one place the stores' upsert rules live.
public struct RecordPlan: Sendable {
    /// A stored record as the plan needs it.
    public struct Existing: Sendable {
        public var id: String
        public var contentHash: String
        /// Its chunks' ids and texts, by position; needed only for records whose content changed.
        public var chunks: [(id: String, text: String)]

        public init(id: String, contentHash: String, chunks: [(id: String, text: String)]) {
            self.id = id
            self.contentHash = contentHash
            self.chunks = chunks
        }
    }

    /// A changed record: its new content, the chunks to drop (changed or past the new end), and the chunks to write
    /// at their positions. Chunks whose text is the same keep their rows and vectors.
    public struct Update: Sendable {
        public var recordID: String
        public var record: NewRecord
        public var dropChunkIDs: [String]
        public var newChunks: [(position: Int, text: String)]
    }

    public var inserts: [NewRecord] = []
    public var updates: [Update] = []
    public var outcome = BatchOutcome()

    /// `existing` holds the stored records among the batch's keys. A key repeated within the batch counts once,
    /// as its first occurrence.
    public init(_ batch: [NewRecord], existing: [String: Existing]) {
        var seen: Set<String> = []
        for record in batch {
            guard seen.insert(record.key).inserted else {
                outcome.unchanged += 1
                continue
            }
            guard let stored = existing[record.key] else {
                inserts.append(record)
                outcome.inserted += 1
                continue
            }
            guard stored.contentHash != record.contentHash else {
                outcome.unchanged += 1
                continue
            }
            var drop: [String] = []
            var write: [(position: Int, text: String)] = []
            for (position, text) in record.chunks.enumerated() {
                if position < stored.chunks.count {
                    guard stored.chunks[position].text != text else { continue }
                    drop.append(stored.chunks[position].id)
                }
                write.append((position, text))
            }
            drop += stored.chunks.dropFirst(record.chunks.count).map(\.id)
            updates.append(Update(recordID: stored.id, record: record, dropChunkIDs: drop, newChunks: write))
            outcome.updated += 1
        }
    }

    /// The keys whose stored records the plan must see.
    public static func keys(_ batch: [NewRecord]) -> [String] { Array(Set(batch.map(\.key))) }
}

/// A validated record ready to store.
public struct NewRecord: Sendable, Hashable {
    /// The id the record has in its source (`idField`); nil when it has none.
    public var externalID: String?
    /// The whole text whose chunks are embedded.
    public var text: String
    /// What gets embedded, in order: `text` split by the project's ``Chunker``.
    public var chunks: [String]
    /// The record as it came in, as canonical JSON text (keys sorted): what the stores keep.
    public var json: String
    /// SHA-256 of ``json``: an upload of the same record changes nothing.
    public var contentHash: String

    /// Writes the record's canonical JSON once and hashes that same text. `chunks` default to the whole text.
    public init(externalID: String?, text: String, data: JSONValue, chunks: [String]? = nil) {
        self.externalID = externalID
        self.text = text
        self.chunks = chunks ?? [text]
        self.json = data.jsonText
        self.contentHash = Self.hex(SHA256.hash(data: Data(json.utf8)))
    }

    /// What identifies the record within its project: its external id, or, without one, its content (two uploads
    /// of the same content are one record, as before external ids).
    public var key: String { externalID.map { "id:\($0)" } ?? "sha256:\(contentHash)" }

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
    /// Stores a batch of one part in one transaction, by ``RecordPlan``: inserts the records new to the project (by
    /// ``NewRecord/key``), updates the changed ones in place (their changed chunks lose their vectors, the others
    /// keep them), leaves the unchanged ones; for a ``IngestJob/sync`` upload, marks every record of the batch as
    /// carried by it. Counts inserted and updated as saved, the rest plus `invalid` as
    /// skipped, and updated and unchanged on their own (on the part and on the job); adds `handled` to the job's
    /// `processed` and sets the part's `processed` to `processedAfter`.
    func storeBatch(
        _ records: [NewRecord],
        invalid: Int,
        handled: Int,
        ingestJobID: String,
        projectID: String,
        chunk: Int,
        processedAfter: Int,
        now: Date
    ) async throws -> BatchOutcome
    /// Marks a part done; when it was the last, the job is COMPLETED, and a sync upload's project loses the records
    /// it did not carry, in the same transaction (``IngestJob/deleted``). Returns the part and whether the job is
    /// COMPLETED now (true again when a finished part is finished twice, as after a crash before its queue job
    /// was recorded, so that its follow-up is not lost).
    func finishIngestChunk(ingestJobID: String, chunk: Int, now: Date) async throws -> (IngestChunk, jobComplete: Bool)
    /// Ends the job as FAILED with `error`.
    func failIngestJob(id: String, error: String, now: Date) async throws

    /// Up to `limit` of the project's chunks without an embedding (their ids and texts), oldest first; with `after`
    /// (a chunk id), only those that come after that chunk in the same order, so that a backfill's jobs each start
    /// where the last stopped instead of stepping again over the index entries of chunks embedded since (they stay
    /// in the index until a vacuum: measured 15 ms a read at 200,000 embedded chunks). Nothing comes after a chunk
    /// that no longer exists. A chunk whose text changes gets a new id, so a vector computed for its old text can
    /// never be saved to it.
    func unembeddedChunks(projectID: String, after: String?, limit: Int) async throws -> [(id: String, text: String)]
    /// How many of the project's chunks wait for a vector: a backfill's progress, read from the index of waiting
    /// chunks, so it costs what the backlog is, not what the project is.
    func waitingChunkCount(projectID: String) async throws -> Int
    /// Up to `limit` projects whose records are embedded (an upload asked for it, or a re-embed), that have
    /// chunks without an embedding and no ingest job PENDING or PROCESSING: what the reconciler queues VECTORIZE
    /// for.
    func projectsAwaitingEmbeddings(limit: Int) async throws -> [String]
    /// Writes chunks' vectors (by chunk id; a chunk gone or replaced meanwhile is left alone) in one transaction and
    /// records the model and dimension on the project when it has none.
    /// Throws ``PipelineError/Code/modelMismatch`` when the project's vectors came from another model or dimension.
    func saveEmbeddings(
        _ vectors: [(id: String, vector: [Float])],
        projectID: String,
        model: String,
        dimensions: Int,
        now: Date
    ) async throws
    /// The `limit` records of the project nearest to `vector` by the cosine distance of their nearest chunk, among
    /// chunks embedded with `model`, nearest first; each record once; and whether they were found by comparing
    /// every vector or through the approximate index. With a `filter`, only records that match it, and still
    /// `limit` of them whenever that many match.
    func nearestRecords(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> NearestRecords
    /// The `limit` records of the project whose chunks best match any of `terms` (``KeywordQuery/terms(_:)``, each
    /// a phrase), best first by the relevance of their best chunk, each record once; only records that match
    /// `filter`. Independent of embeddings: a project can be searched by keyword before, or without, any vector.
    func keywordRecords(projectID: String, terms: [String], limit: Int, filter: SearchFilter?) async throws
        -> [KeywordHit]
    /// Forgets the project's vectors and model, so that VECTORIZE embeds every chunk again (after a model change).
    /// Returns how many chunks lost their vector.
    func clearEmbeddings(projectID: String) async throws -> Int
    /// Makes sure nearest-neighbour search over `dimensions`-long vectors uses an approximate index (HNSW on
    /// PostgreSQL). With a `threshold`, only once at least that many chunks have vectors and fewer than that many
    /// wait for one (pgai's `min_rows` and `create_when_queue_empty`): a backfill with the index kept up measured
    /// 14.5× slower than one that builds it afterwards, and below the threshold an exact scan is fast. Nil builds it
    /// now. Returns how search answers now. SQLite and memory always search exactly.
    func prepareVectorIndex(dimensions: Int, threshold: Int?) async throws -> VectorSearch

    /// The project's stored records among `keys` (``NewRecord/key``), with their chunks: what ``RecordPlan`` plans
    /// against. Reads only.
    func existingRecords(projectID: String, keys: [String]) async throws -> [String: RecordPlan.Existing]

    /// Deletes the project's records with these external ids, with their chunks and vectors, at once; returns the
    /// ids that were found and deleted.
    func deleteRecords(projectID: String, externalIDs: [String]) async throws -> [String]
}

/// How nearest-neighbour search answers: by comparing every vector, or through an approximate index.
public enum VectorSearch: String, Sendable, Hashable {
    case exact, approximate
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
    /// The project's first `limit` chunks without an embedding (``unembeddedChunks(projectID:after:limit:)`` from
    /// the start).
    public func unembeddedChunks(projectID: String, limit: Int) async throws -> [(id: String, text: String)] {
        try await unembeddedChunks(projectID: projectID, after: nil, limit: limit)
    }

    /// ``nearestRecords(projectID:to:model:limit:filter:)`` over every record.
    public func nearestRecords(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int
    ) async throws -> NearestRecords {
        try await nearestRecords(projectID: projectID, to: vector, model: model, limit: limit, filter: nil)
    }

    /// The records of ``nearestRecords(projectID:to:model:limit:filter:)``, without how they were found.
    public func nearest(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter? = nil
    ) async throws -> [SearchHit] {
        try await nearestRecords(projectID: projectID, to: vector, model: model, limit: limit, filter: filter).hits
    }

    /// Builds the approximate index now, whatever the backlog.
    @discardableResult
    public func prepareVectorIndex(dimensions: Int) async throws -> VectorSearch {
        try await prepareVectorIndex(dimensions: dimensions, threshold: nil)
    }

    /// An ingest job whose upload did not ask for embeddings.
    public func createIngestJob(_ job: IngestJob, chunks: Int) async throws {
        try await createIngestJob(job, chunks: chunks, generateEmbeddings: false)
    }
}

/// A store that compares every vector itself (SQLite, memory): there is no index to prepare, and every search is
/// exact.
public protocol ExactSearchStore: PipelineStore {
    /// The nearest records by exact cosine distance, as
    /// ``PipelineStore/nearestRecords(projectID:to:model:limit:filter:)`` describes them.
    func exactNearest(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [SearchHit]
}

extension ExactSearchStore {
    public func nearestRecords(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> NearestRecords {
        NearestRecords(
            hits: try await exactNearest(projectID: projectID, to: vector, model: model, limit: limit, filter: filter),
            search: .exact
        )
    }

    public func prepareVectorIndex(dimensions: Int, threshold: Int?) async throws -> VectorSearch { .exact }
}

/// The arithmetic of exact search, for stores that compare vectors themselves (SQLite, memory).
public enum ExactSearch {
    /// 1 − cos(stored, query); `queryNorm` is the query's length, computed once per search. 1 for a zero vector.
    public static func cosineDistance(_ stored: [Float], _ query: [Float], queryNorm: Double) -> Double {
        // Four running sums, so that the loop is not one long chain of dependent additions.
        let (dot, norm) = stored.withUnsafeBufferPointer { a in
            query.withUnsafeBufferPointer { b in
                let count = min(a.count, b.count)
                var dots = SIMD4<Double>()
                var norms = SIMD4<Double>()
                var index = 0
                while index + 4 <= count {
                    let x = SIMD4<Double>(
                        Double(a[index]),
                        Double(a[index + 1]),
                        Double(a[index + 2]),
                        Double(a[index + 3])
                    )
                    let y = SIMD4<Double>(
                        Double(b[index]),
                        Double(b[index + 1]),
                        Double(b[index + 2]),
                        Double(b[index + 3])
                    )
                    dots += x * y
                    norms += x * x
                    index += 4
                }
                var dot = dots.sum()
                var norm = norms.sum()
                while index < count {
                    dot += Double(a[index]) * Double(b[index])
                    norm += Double(a[index]) * Double(a[index])
                    index += 1
                }
                return (dot, norm)
            }
        }
        let denominator = norm.squareRoot() * queryNorm
        return denominator > 0 ? 1 - dot / denominator : 1
    }
}
