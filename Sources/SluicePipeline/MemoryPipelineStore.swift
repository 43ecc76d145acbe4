import Foundation
import SluiceCore
import Synchronization

/// Projects, ingest jobs and records in memory, with the SQL stores' semantics (content-hash de-duplication per
/// project, counts per part and per job, exact cosine search). For tests and embedding Sluice's pipeline where the
/// database is not the point; nothing survives the process.
public final class MemoryPipelineStore: PipelineStore {
    private struct StoredRecord {
        var id: String
        var externalID: String?
        var text: String
        var json: String
        var createdAt: Date
        var embedding: [Float]?
        var embeddingModel: String?
    }

    private struct State {
        var projects: [String: Project] = [:]
        var generateEmbeddings: Set<String> = []
        var ingestJobs: [String: IngestJob] = [:]
        /// Per ingest job, its parts by index.
        var chunks: [String: [IngestChunk]] = [:]
        /// Per project, records in insertion order, and the content hashes already stored.
        var records: [String: [StoredRecord]] = [:]
        var hashes: [String: Set<String>] = [:]
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
    ) async throws -> Int {
        state.withLock { state in
            var inserted = 0
            for record in records where state.hashes[projectID, default: []].insert(record.contentHash).inserted {
                state.records[projectID, default: []].append(
                    StoredRecord(
                        id: JobID.make(at: now),
                        externalID: record.externalID,
                        text: record.text,
                        json: record.json,
                        createdAt: now
                    )
                )
                inserted += 1
            }
            let skipped = records.count - inserted + invalid
            if let index = state.chunks[ingestJobID]?.firstIndex(where: { $0.index == chunk }) {
                state.chunks[ingestJobID]?[index].processed = processedAfter
                state.chunks[ingestJobID]?[index].saved += inserted
                state.chunks[ingestJobID]?[index].skipped += skipped
            }
            state.ingestJobs[ingestJobID]?.saved += inserted
            state.ingestJobs[ingestJobID]?.skipped += skipped
            state.ingestJobs[ingestJobID]?.processed += handled
            return inserted
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

    public func unembeddedRecords(projectID: String, limit: Int) async throws -> [(id: String, text: String)] {
        state.withLock { state in
            (state.records[projectID] ?? []).filter { $0.embedding == nil }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                .prefix(limit).map { (id: $0.id, text: $0.text) }
        }
    }

    public func projectsAwaitingEmbeddings(limit: Int) async throws -> [String] {
        state.withLock { state in
            let ingesting = Set(
                state.ingestJobs.values.filter { $0.status == .pending || $0.status == .processing }.map(\.projectID)
            )
            return state.generateEmbeddings.filter { id in
                !ingesting.contains(id) && (state.records[id] ?? []).contains { $0.embedding == nil }
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
            for index in (state.records[projectID] ?? []).indices {
                guard let vector = byID[state.records[projectID]![index].id] else { continue }
                state.records[projectID]![index].embedding = vector
                state.records[projectID]![index].embeddingModel = model
            }
        }
    }

    /// Exact search over every embedded record of the project, as the SQLite store does.
    public func nearest(projectID: String, to vector: [Float], model: String, limit: Int) async throws -> [SearchHit] {
        let candidates = state.withLock { state in
            (state.records[projectID] ?? []).filter {
                $0.embeddingModel == model && $0.embedding?.count == vector.count
            }
        }
        let queryNorm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        let scored = candidates.map { record -> (distance: Double, record: StoredRecord) in
            var dot = 0.0
            var norm = 0.0
            for (a, b) in zip(record.embedding ?? [], vector) {
                dot += Double(a) * Double(b)
                norm += Double(a) * Double(a)
            }
            let denominator = norm.squareRoot() * queryNorm
            return (denominator > 0 ? 1 - dot / denominator : 1, record)
        }
        return try scored.sorted { ($0.distance, $0.record.id) < ($1.distance, $1.record.id) }.prefix(limit).map {
            SearchHit(
                id: $0.record.id,
                externalID: $0.record.externalID,
                text: $0.record.text,
                data: try JSONValue(parsing: $0.record.json),
                distance: $0.distance
            )
        }
    }

    public func clearEmbeddings(projectID: String) async throws -> Int {
        state.withLock { state in
            state.projects[projectID]?.embeddingModel = nil
            state.projects[projectID]?.embeddingDimensions = nil
            guard state.projects[projectID] != nil else { return 0 }
            state.generateEmbeddings.insert(projectID)
            var cleared = 0
            for index in (state.records[projectID] ?? []).indices
            where state.records[projectID]![index].embedding != nil {
                state.records[projectID]![index].embedding = nil
                state.records[projectID]![index].embeddingModel = nil
                cleared += 1
            }
            return cleared
        }
    }

    /// Memory search is exact: nothing to prepare.
    public func prepareVectorIndex(dimensions: Int) async throws {}

    private static func summary(_ project: Project, _ state: State) -> ProjectSummary {
        let records = state.records[project.id] ?? []
        return ProjectSummary(
            project: project,
            recordCount: records.count,
            embeddedCount: records.filter { $0.embedding != nil }.count
        )
    }
}
