import Foundation
import SluiceCore
import Synchronization

/// Projects, ingest jobs and records in memory, with the SQL stores' semantics (content-hash de-duplication per
/// project, counts per part and per job, exact cosine search). For tests and embedding Sluice's pipeline where the
/// database is not the point; nothing survives the process.
public final class MemoryPipelineStore: ExactSearchStore {
    private struct StoredChunk {
        var id: String
        var text: String
        var createdAt: Date
        var embedding: [Float]?
        var embeddingModel: String?
    }

    private struct StoredRecord {
        var id: String
        var key: String
        var externalID: String?
        var text: String
        var json: String
        var contentHash: String
        var createdAt: Date
        /// By position.
        var chunks: [StoredChunk]
        /// The sync upload that last carried the record.
        var syncedBy: String?

        var embedded: Bool { chunks.allSatisfy { $0.embedding != nil } }
    }

    private struct State {
        var projects: [String: Project] = [:]
        var generateEmbeddings: Set<String> = []
        var ingestJobs: [String: IngestJob] = [:]
        /// Per ingest job, its parts by index.
        var chunks: [String: [IngestChunk]] = [:]
        /// Per project, records in insertion order.
        var records: [String: [StoredRecord]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func createProject(_ project: Project) async throws {
        try state.withLock { state in
            guard !state.projects.values.contains(where: { $0.name == project.name }) else {
                throw PipelineError(code: .nameTaken, message: "a project named '\(project.name)' already exists")
            }
            state.projects[project.id] = project
        }
    }

    public func projects() async throws -> [ProjectSummary] {
        state.withLock { state in
            state.projects.values.sorted { $0.name < $1.name }.map { Self.summary($0, state) }
        }
    }

    public func projectSummary(id: String) async throws -> ProjectSummary? {
        state.withLock { state in state.projects[id].map { Self.summary($0, state) } }
    }

    public func project(id: String) async throws -> Project? {
        state.withLock { $0.projects[id] }
    }

    public func createIngestJob(_ job: IngestJob, chunks: Int, generateEmbeddings: Bool) async throws {
        try state.withLock { state in
            guard state.projects[job.projectID] != nil else {
                throw PipelineError(code: .projectNotFound, message: "project \(job.projectID) does not exist")
            }
            if generateEmbeddings { state.generateEmbeddings.insert(job.projectID) }
            state.ingestJobs[job.id] = job
            state.chunks[job.id] = (0..<max(1, chunks)).map {
                IngestChunk(index: $0, processed: 0, saved: 0, skipped: 0, done: false)
            }
        }
    }

    public func ingestJob(id: String) async throws -> IngestJob? {
        state.withLock { $0.ingestJobs[id] }
    }

    public func ingestChunk(ingestJobID: String, chunk: Int) async throws -> IngestChunk? {
        state.withLock { $0.chunks[ingestJobID]?.first { $0.index == chunk } }
    }

    public func startIngestJob(id: String, now: Date) async throws {
        state.withLock { state in
            guard var job = state.ingestJobs[id], job.status == .pending || job.status == .processing else { return }
            job.status = .processing
            job.startedAt = job.startedAt ?? now
            state.ingestJobs[id] = job
        }
    }

    public func storeBatch(
        _ records: [NewRecord],
        invalid: Int,
        handled: Int,
        ingestJobID: String,
        projectID: String,
        chunk: Int,
        processedAfter: Int,
        now: Date
    ) async throws -> BatchOutcome {
        state.withLock { state in
            let plan = RecordPlan(records, existing: Self.existing(state, projectID, RecordPlan.keys(records)))
            for record in plan.inserts {
                state.records[projectID, default: []].append(
                    StoredRecord(
                        id: JobID.make(at: now),
                        key: record.key,
                        externalID: record.externalID,
                        text: record.text,
                        json: record.json,
                        contentHash: record.contentHash,
                        createdAt: now,
                        chunks: record.chunks.map { StoredChunk(id: JobID.make(at: now), text: $0, createdAt: now) }
                    )
                )
            }
            for update in plan.updates {
                guard let index = state.records[projectID]?.firstIndex(where: { $0.id == update.recordID }) else {
                    continue
                }
                var record = state.records[projectID]![index]
                record.externalID = update.record.externalID
                record.text = update.record.text
                record.json = update.record.json
                record.contentHash = update.record.contentHash
                let dropped = Set(update.dropChunkIDs)
                var chunks = Dictionary(
                    uniqueKeysWithValues: record.chunks.enumerated().filter { !dropped.contains($0.element.id) }
                        .map { ($0.offset, $0.element) }
                )
                for (position, text) in update.newChunks {
                    chunks[position] = StoredChunk(id: JobID.make(at: now), text: text, createdAt: now)
                }
                record.chunks = chunks.keys.sorted().map { chunks[$0]! }
                state.records[projectID]![index] = record
            }
            if state.ingestJobs[ingestJobID]?.sync == true {
                let keys = Set(records.map(\.key))
                for index in (state.records[projectID] ?? []).indices
                where keys.contains(state.records[projectID]![index].key) {
                    state.records[projectID]![index].syncedBy = ingestJobID
                }
            }
            let outcome = plan.outcome
            let skipped = invalid + outcome.unchanged
            if let index = state.chunks[ingestJobID]?.firstIndex(where: { $0.index == chunk }) {
                state.chunks[ingestJobID]?[index].processed = processedAfter
                state.chunks[ingestJobID]?[index].saved += outcome.saved
                state.chunks[ingestJobID]?[index].skipped += skipped
                state.chunks[ingestJobID]?[index].updated += outcome.updated
                state.chunks[ingestJobID]?[index].unchanged += outcome.unchanged
            }
            state.ingestJobs[ingestJobID]?.saved += outcome.saved
            state.ingestJobs[ingestJobID]?.skipped += skipped
            state.ingestJobs[ingestJobID]?.updated += outcome.updated
            state.ingestJobs[ingestJobID]?.unchanged += outcome.unchanged
            state.ingestJobs[ingestJobID]?.processed += handled
            return outcome
        }
    }

    public func finishIngestChunk(ingestJobID: String, chunk: Int, now: Date) async throws -> (
        IngestChunk, jobComplete: Bool
    ) {
        try state.withLock { state in
            guard let index = state.chunks[ingestJobID]?.firstIndex(where: { $0.index == chunk }) else {
                throw PipelineError(code: .ingestJobNotFound, message: "ingest job \(ingestJobID) has no part \(chunk)")
            }
            state.chunks[ingestJobID]?[index].done = true
            let parts = state.chunks[ingestJobID] ?? []
            if var job = state.ingestJobs[ingestJobID], job.status != .completed, parts.allSatisfy(\.done) {
                job.status = .completed
                job.completedAt = now
                if job.sync {
                    let before = state.records[job.projectID]?.count ?? 0
                    state.records[job.projectID]?.removeAll { $0.syncedBy != ingestJobID }
                    job.deleted = before - (state.records[job.projectID]?.count ?? 0)
                }
                state.ingestJobs[ingestJobID] = job
            }
            return (parts[index], state.ingestJobs[ingestJobID]?.status == .completed)
        }
    }

    public func failIngestJob(id: String, error: String, now: Date) async throws {
        state.withLock { state in
            state.ingestJobs[id]?.status = .failed
            state.ingestJobs[id]?.error = error
            state.ingestJobs[id]?.completedAt = now
        }
    }

    public func unembeddedChunks(
        projectID: String,
        after: String?,
        limit: Int
    ) async throws -> [(id: String, text: String)] {
        state.withLock { state in
            let chunks = (state.records[projectID] ?? []).flatMap { $0.chunks }
            var start: (Date, String)?
            if let after {
                guard let chunk = chunks.first(where: { $0.id == after }) else { return [] }
                start = (chunk.createdAt, chunk.id)
            }
            return chunks.filter { chunk in
                chunk.embedding == nil && start.map { (chunk.createdAt, chunk.id) > $0 } ?? true
            }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .prefix(limit).map { (id: $0.id, text: $0.text) }
        }
    }

    public func waitingChunkCount(projectID: String) async throws -> Int {
        state.withLock { state in
            (state.records[projectID] ?? []).reduce(0) { $0 + $1.chunks.filter { $0.embedding == nil }.count }
        }
    }

    public func projectsAwaitingEmbeddings(limit: Int) async throws -> [String] {
        state.withLock { state in
            let ingesting = Set(
                state.ingestJobs.values.filter { $0.status == .pending || $0.status == .processing }.map(\.projectID)
            )
            return state.generateEmbeddings.filter { id in
                !ingesting.contains(id) && (state.records[id] ?? []).contains { !$0.embedded }
            }.sorted().prefix(limit).map { $0 }
        }
    }

    public func saveEmbeddings(
        _ vectors: [(id: String, vector: [Float])],
        projectID: String,
        model: String,
        dimensions: Int,
        now: Date
    ) async throws {
        try state.withLock { state in
            guard var project = state.projects[projectID] else {
                throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist")
            }
            project.embeddingModel = project.embeddingModel ?? model
            project.embeddingDimensions = project.embeddingDimensions ?? dimensions
            state.projects[projectID] = project
            guard project.embeddingModel == model, project.embeddingDimensions == dimensions else {
                throw PipelineError.modelMismatch(project: project, model: model, dimensions: dimensions)
            }
            let byID = Dictionary(vectors.map { ($0.id, $0.vector) }, uniquingKeysWith: { _, last in last })
            Self.eachChunk(&state, projectID) { chunk in
                guard let vector = byID[chunk.id] else { return }
                chunk.embedding = vector
                chunk.embeddingModel = model
            }
        }
    }

    /// Exact search over every embedded chunk of the project, as the SQLite store does; each record once, by its
    /// nearest chunk.
    public func exactNearest(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [SearchHit] {
        let records = state.withLock { $0.records[projectID] ?? [] }
        let queryNorm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        var best: [(distance: Double, record: StoredRecord, position: Int)] = []
        for record in records {
            if let filter, !filter.matches(try JSONValue(parsing: record.json)) { continue }
            var nearest: (distance: Double, position: Int)?
            for (position, chunk) in record.chunks.enumerated() {
                guard chunk.embeddingModel == model, let stored = chunk.embedding, stored.count == vector.count
                else { continue }
                let distance = ExactSearch.cosineDistance(stored, vector, queryNorm: queryNorm)
                if nearest.map({ distance < $0.distance }) ?? true { nearest = (distance, position) }
            }
            if let nearest { best.append((nearest.distance, record, nearest.position)) }
        }
        return try best.sorted { ($0.distance, $0.record.id) < ($1.distance, $1.record.id) }.prefix(limit).map {
            SearchHit(
                id: $0.record.id,
                externalID: $0.record.externalID,
                text: $0.record.chunks[$0.position].text,
                chunk: $0.position,
                data: try JSONValue(parsing: $0.record.json),
                distance: $0.distance
            )
        }
    }

    /// Keyword search as the SQL stores do it, simply: a chunk's score is the number of terms whose words appear in
    /// it in order, then how often they do.
    public func keywordRecords(
        projectID: String,
        terms: [String],
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [KeywordHit] {
        let records = state.withLock { $0.records[projectID] ?? [] }
        let phrases = terms.map(KeywordQuery.words).filter { !$0.isEmpty }
        var hits: [KeywordHit] = []
        for record in records {
            let data = try JSONValue(parsing: record.json)
            if let filter, !filter.matches(data) { continue }
            var best: (score: Double, position: Int)?
            for (position, chunk) in record.chunks.enumerated() {
                let words = KeywordQuery.words(chunk.text)
                var matched = 0
                var occurrences = 0
                for phrase in phrases where phrase.count <= words.count {
                    let count = (0...(words.count - phrase.count)).count {
                        Array(words[$0..<$0 + phrase.count]) == phrase
                    }
                    if count > 0 {
                        matched += 1
                        occurrences += count
                    }
                }
                guard matched > 0 else { continue }
                let score = Double(matched) + Double(occurrences) / Double(occurrences + 1)
                if best.map({ score > $0.score }) ?? true { best = (score, position) }
            }
            if let best {
                hits.append(
                    KeywordHit(
                        id: record.id,
                        externalID: record.externalID,
                        text: record.chunks[best.position].text,
                        chunk: best.position,
                        data: data,
                        score: best.score
                    )
                )
            }
        }
        return Array(hits.sorted { ($0.score, $1.id) > ($1.score, $0.id) }.prefix(limit))
    }

    public func clearEmbeddings(projectID: String) async throws -> Int {
        state.withLock { state in
            state.projects[projectID]?.embeddingModel = nil
            state.projects[projectID]?.embeddingDimensions = nil
            guard state.projects[projectID] != nil else { return 0 }
            state.generateEmbeddings.insert(projectID)
            var cleared = 0
            Self.eachChunk(&state, projectID) { chunk in
                guard chunk.embedding != nil else { return }
                chunk.embedding = nil
                chunk.embeddingModel = nil
                cleared += 1
            }
            return cleared
        }
    }

    public func existingRecords(projectID: String, keys: [String]) async throws -> [String: RecordPlan.Existing] {
        state.withLock { Self.existing($0, projectID, keys) }
    }

    private static func existing(_ state: State, _ projectID: String, _ keys: [String]) -> [String: RecordPlan.Existing]
    {
        let wanted = Set(keys)
        var existing: [String: RecordPlan.Existing] = [:]
        for record in state.records[projectID] ?? [] where wanted.contains(record.key) {
            existing[record.key] = RecordPlan.Existing(
                id: record.id,
                contentHash: record.contentHash,
                chunks: record.chunks.map { (id: $0.id, text: $0.text) }
            )
        }
        return existing
    }

    public func deleteRecords(projectID: String, externalIDs: [String]) async throws -> [String] {
        state.withLock { state in
            let wanted = Set(externalIDs)
            let records = state.records[projectID] ?? []
            let deleted = records.compactMap { $0.externalID }.filter { wanted.contains($0) }
            state.records[projectID] = records.filter { !($0.externalID.map(wanted.contains) ?? false) }
            return deleted
        }
    }

    private static func eachChunk(_ state: inout State, _ projectID: String, _ body: (inout StoredChunk) -> Void) {
        for record in (state.records[projectID] ?? []).indices {
            for chunk in state.records[projectID]![record].chunks.indices {
                body(&state.records[projectID]![record].chunks[chunk])
            }
        }
    }

    private static func summary(_ project: Project, _ state: State) -> ProjectSummary {
        let records = state.records[project.id] ?? []
        return ProjectSummary(
            project: project,
            recordCount: records.count,
            embeddedCount: records.filter(\.embedded).count
        )
    }
}
