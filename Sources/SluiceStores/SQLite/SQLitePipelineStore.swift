import Foundation
import GRDB
import SluiceCore
import SluicePipeline
import SluiceSQLite

/// Projects, ingest jobs and records (embeddings as float32 BLOBs, searched exactly) in the queue's file.
public final class SQLitePipelineStore: ExactSearchStore, SQLiteTableStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) { self.database = database }

    /// A record counts as embedded when none of its chunks waits for a vector.
    private static let projectColumns = """
        p.id, p.name, p.embedding_model, p.embedding_dimensions, p.created_at,
        (SELECT count(*) FROM records r WHERE r.project_id = p.id),
        (SELECT count(*) FROM records r WHERE r.project_id = p.id
            AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.record_id = r.id AND c.embedded_at IS NULL)),
        p.chunk_size, p.chunk_overlap, p.template
        """
    private static let ingestColumns = """
        id, project_id, status, total, processed, saved, skipped, error, created_at, started_at, completed_at,
        updated, unchanged, sync, deleted
        """
    private static let partColumns = "chunk_index, processed, saved, skipped, done, updated, unchanged"

    public func createProject(_ project: Project) async throws {
        let arguments: StatementArguments = [
            project.id, project.name, Self.micros(project.createdAt), project.chunkSize, project.chunkOverlap,
            project.template,
        ]
        do {
            _ = try await changesRow(
                "INSERT INTO projects (id, name, created_at, chunk_size, chunk_overlap, template) VALUES (?, ?, ?, ?, ?, ?)",
                arguments
            )
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw PipelineError(code: .nameTaken, message: "a project named '\(project.name)' already exists")
        }
    }

    public func projects() async throws -> [ProjectSummary] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.projectColumns) FROM projects p ORDER BY p.name")
                .map(Self.decodeProject)
        }
    }

    public func project(id: String) async throws -> Project? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT id, name, embedding_model, embedding_dimensions, created_at, 0, 0, chunk_size, chunk_overlap,
                           template
                    FROM projects WHERE id = ?
                    """,
                arguments: [id]
            ).map(Self.decodeProjectRow)
        }
    }

    public func projectSummary(id: String) async throws -> ProjectSummary? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.projectColumns) FROM projects p WHERE p.id = ?", arguments: [id])
                .map(Self.decodeProject)
        }
    }

    public func createIngestJob(_ job: IngestJob, chunks: Int, generateEmbeddings: Bool) async throws {
        let arguments: StatementArguments = [
            job.id, job.projectID, job.status.rawValue, job.total, Self.micros(job.createdAt), job.sync,
        ]
        do {
            try await write { db in
                if generateEmbeddings {
                    try db.execute(
                        sql: "UPDATE projects SET generate_embeddings = 1 WHERE id = ? AND NOT generate_embeddings",
                        arguments: [job.projectID]
                    )
                }
                try db.execute(
                    sql: """
                        INSERT INTO ingest_jobs (id, project_id, status, total, created_at, sync) VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: arguments
                )
                for index in 0..<max(1, chunks) {
                    try db.execute(
                        sql: "INSERT INTO ingest_chunks (ingest_job_id, chunk_index) VALUES (?, ?)",
                        arguments: [job.id, index]
                    )
                }
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw PipelineError(code: .projectNotFound, message: "project \(job.projectID) does not exist")
        }
    }

    public func ingestJob(id: String) async throws -> IngestJob? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.ingestColumns) FROM ingest_jobs WHERE id = ?", arguments: [id])
                .map(Self.decodeIngestJob)
        }
    }

    public func ingestChunk(ingestJobID: String, chunk: Int) async throws -> IngestChunk? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT \(Self.partColumns) FROM ingest_chunks WHERE ingest_job_id = ? AND chunk_index = ?
                    """,
                arguments: [ingestJobID, chunk]
            ).map(Self.decodeChunk)
        }
    }

    public func startIngestJob(id: String, now: Date) async throws {
        _ = try await changesRow(
            """
            UPDATE ingest_jobs SET status = 'PROCESSING', started_at = coalesce(started_at, ?)
            WHERE id = ? AND status IN ('PENDING', 'PROCESSING')
            """,
            [Self.micros(now), id]
        )
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
        let nowMicros = Self.micros(now)
        return try await write { db in
            let plan = RecordPlan(records, existing: try Self.existing(RecordPlan.keys(records), projectID, db))
            let insertRecord = try db.cachedStatement(
                sql: """
                    INSERT INTO records (id, project_id, record_key, external_id, text, data, content_hash, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            let insertChunk = try db.cachedStatement(
                sql: """
                    INSERT INTO chunks (id, record_id, position, project_id, text, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
            )
            for record in plan.inserts {
                let id = JobID.make(at: now)
                try insertRecord.execute(arguments: [
                    id, projectID, record.key, record.externalID, record.text, record.json, record.contentHash,
                    nowMicros,
                ])
                for (position, text) in record.chunks.enumerated() {
                    try insertChunk.execute(arguments: [JobID.make(at: now), id, position, projectID, text, nowMicros])
                }
            }
            for update in plan.updates {
                try db.execute(
                    sql: """
                        UPDATE records SET external_id = ?, text = ?, data = ?, content_hash = ?, updated_at = ?
                        WHERE id = ?
                        """,
                    arguments: [
                        update.record.externalID, update.record.text, update.record.json, update.record.contentHash,
                        nowMicros, update.recordID,
                    ]
                )
                for id in update.dropChunkIDs {
                    try db.execute(sql: "DELETE FROM chunks WHERE id = ?", arguments: [id])
                }
                for (position, text) in update.newChunks {
                    try insertChunk.execute(arguments: [
                        JobID.make(at: now), update.recordID, position, projectID, text, nowMicros,
                    ])
                }
            }
            let outcome = plan.outcome
            let skipped = invalid + outcome.unchanged
            try db.execute(
                sql: """
                    UPDATE ingest_chunks SET processed = ?, saved = saved + ?, skipped = skipped + ?,
                        updated = updated + ?, unchanged = unchanged + ?
                    WHERE ingest_job_id = ? AND chunk_index = ?
                    """,
                arguments: [
                    processedAfter, outcome.saved, skipped, outcome.updated, outcome.unchanged, ingestJobID, chunk,
                ]
            )
            let sync = try Bool.fetchOne(
                db,
                sql: """
                    UPDATE ingest_jobs SET saved = saved + ?, skipped = skipped + ?, processed = processed + ?,
                        updated = updated + ?, unchanged = unchanged + ?
                    WHERE id = ?
                    RETURNING sync
                    """,
                arguments: [outcome.saved, skipped, handled, outcome.updated, outcome.unchanged, ingestJobID]
            )
            // Only a sync upload marks what it carried.
            if sync == true {
                let mark = try db.cachedStatement(
                    sql: "UPDATE records SET synced_by = ? WHERE project_id = ? AND record_key = ?"
                )
                for key in RecordPlan.keys(records) { try mark.execute(arguments: [ingestJobID, projectID, key]) }
            }
            return outcome
        }
    }

    public func existingRecords(projectID: String, keys: [String]) async throws -> [String: RecordPlan.Existing] {
        try await read { db in try Self.existing(keys, projectID, db) }
    }

    /// The stored records among `keys`, with their chunks.
    private static func existing(
        _ keys: [String],
        _ projectID: String,
        _ db: Database
    ) throws -> [String: RecordPlan.Existing] {
        var found: [String: RecordPlan.Existing] = [:]
        let select = try db.cachedStatement(
            sql: "SELECT id, content_hash FROM records WHERE project_id = ? AND record_key = ?"
        )
        let chunks = try db.cachedStatement(sql: "SELECT id, text FROM chunks WHERE record_id = ? ORDER BY position")
        for key in keys {
            guard let row = try Row.fetchOne(select, arguments: [projectID, key]) else { continue }
            let id: String = row[0]
            let stored = try Row.fetchAll(chunks, arguments: [id]).map { (id: $0[0] as String, text: $0[1] as String) }
            found[key] = RecordPlan.Existing(id: id, contentHash: row[1], chunks: stored)
        }
        return found
    }

    public func finishIngestChunk(ingestJobID: String, chunk: Int, now: Date) async throws -> (
        IngestChunk, jobComplete: Bool
    ) {
        let nowMicros = Self.micros(now)
        let (part, complete): (IngestChunk, Bool) = try await write { db in
            try db.execute(
                sql: "UPDATE ingest_chunks SET done = 1 WHERE ingest_job_id = ? AND chunk_index = ?",
                arguments: [ingestJobID, chunk]
            )
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT \(Self.partColumns) FROM ingest_chunks WHERE ingest_job_id = ? AND chunk_index = ?",
                    arguments: [ingestJobID, chunk]
                )
            else {
                throw PipelineError(code: .ingestJobNotFound, message: "ingest job \(ingestJobID) has no part \(chunk)")
            }
            try db.execute(
                sql: """
                    UPDATE ingest_jobs SET status = 'COMPLETED', completed_at = ?
                    WHERE id = ? AND status <> 'COMPLETED'
                      AND NOT EXISTS (SELECT 1 FROM ingest_chunks WHERE ingest_job_id = ? AND NOT done)
                    """,
                arguments: [nowMicros, ingestJobID, ingestJobID]
            )
            if db.changesCount > 0,
                let job = try Row.fetchOne(
                    db,
                    sql: "SELECT project_id, sync FROM ingest_jobs WHERE id = ?",
                    arguments: [ingestJobID]
                ),
                job[1] as Bool
            {
                // The sync upload is complete: the records it did not carry go, in this transaction.
                try db.execute(
                    sql: "DELETE FROM records WHERE project_id = ? AND synced_by IS NOT ?",
                    arguments: [job[0] as String, ingestJobID]
                )
                try db.execute(
                    sql: "UPDATE ingest_jobs SET deleted = ? WHERE id = ?",
                    arguments: [db.changesCount, ingestJobID]
                )
            }
            let status = try String.fetchOne(
                db,
                sql: "SELECT status FROM ingest_jobs WHERE id = ?",
                arguments: [ingestJobID]
            )
            return (try Self.decodeChunk(row), status == "COMPLETED")
        }
        return (part, complete)
    }

    public func failIngestJob(id: String, error: String, now: Date) async throws {
        _ = try await changesRow(
            "UPDATE ingest_jobs SET status = 'FAILED', error = ?, completed_at = ? WHERE id = ?",
            [error, Self.micros(now), id]
        )
    }

    private static func decodeChunk(_ row: Row) throws -> IngestChunk {
        IngestChunk(
            index: row[0],
            processed: row[1],
            saved: row[2],
            skipped: row[3],
            done: row[4],
            updated: row[5],
            unchanged: row[6]
        )
    }

    private static func decodeProject(_ row: Row) throws -> ProjectSummary {
        ProjectSummary(project: decodeProjectRow(row), recordCount: row[5], embeddedCount: row[6])
    }

    /// id, name, embedding_model, embedding_dimensions, created_at, and, when the row has them (``projectColumns``'
    /// order), two counts, chunk_size, chunk_overlap, template.
    private static func decodeProjectRow(_ row: Row) -> Project {
        Project(
            id: row[0],
            name: row[1],
            embeddingModel: row[2],
            embeddingDimensions: row[3],
            createdAt: date(row[4]),
            chunkSize: row.count >= 10 ? row[7] : nil,
            chunkOverlap: row.count >= 10 ? row[8] : nil,
            template: row.count >= 10 ? row[9] : nil
        )
    }

    private static func decodeIngestJob(_ row: Row) throws -> IngestJob {
        IngestJob(
            id: row[0],
            projectID: row[1],
            status: try JobStatus(stored: row[2]),
            total: row[3],
            processed: row[4],
            saved: row[5],
            skipped: row[6],
            updated: row[11],
            unchanged: row[12],
            sync: row[13],
            deleted: row[14],
            error: row[7],
            createdAt: date(row[8]),
            startedAt: (row[9] as Int64?).map(date),
            completedAt: (row[10] as Int64?).map(date)
        )
    }
}

extension SQLitePipelineStore {
    public func unembeddedChunks(
        projectID: String,
        after: String?,
        limit: Int
    ) async throws -> [(id: String, text: String)] {
        try await read { db in
            guard let after else {
                return try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, text FROM chunks WHERE project_id = ? AND embedded_at IS NULL
                        ORDER BY created_at, id LIMIT ?
                        """,
                    arguments: [projectID, limit]
                ).map { (id: $0[0], text: $0[1]) }
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT id, text FROM chunks
                    WHERE project_id = ? AND embedded_at IS NULL
                      AND (created_at, id) > (SELECT created_at, id FROM chunks WHERE id = ?)
                    ORDER BY created_at, id LIMIT ?
                    """,
                arguments: [projectID, after, limit]
            ).map { (id: $0[0], text: $0[1]) }
        }
    }

    public func waitingChunkCount(projectID: String) async throws -> Int {
        try await read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM chunks WHERE project_id = ? AND embedded_at IS NULL",
                arguments: [projectID]
            ) ?? 0
        }
    }

    public func projectsAwaitingEmbeddings(limit: Int) async throws -> [String] {
        try await read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM projects
                    WHERE generate_embeddings
                      AND EXISTS (SELECT 1 FROM chunks WHERE project_id = projects.id AND embedded_at IS NULL)
                      AND NOT EXISTS (
                          SELECT 1 FROM ingest_jobs
                          WHERE project_id = projects.id AND status IN ('PENDING', 'PROCESSING'))
                    ORDER BY id LIMIT ?
                    """,
                arguments: [limit]
            )
        }
    }

    public func saveEmbeddings(
        _ vectors: [(id: String, vector: [Float])],
        projectID: String,
        model: String,
        dimensions: Int,
        now: Date
    ) async throws {
        let blobs = vectors.map { ($0.id, Self.blob($0.vector)) }
        let nowMicros = Self.micros(now)
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE projects SET embedding_model = coalesce(embedding_model, ?),
                        embedding_dimensions = coalesce(embedding_dimensions, ?)
                    WHERE id = ?
                    """,
                arguments: [model, dimensions, projectID]
            )
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT id, name, embedding_model, embedding_dimensions, created_at FROM projects WHERE id = ?",
                    arguments: [projectID]
                )
            else { throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist") }
            let project = Self.decodeProjectRow(row)
            guard project.embeddingModel == model, project.embeddingDimensions == dimensions else {
                throw PipelineError.modelMismatch(project: project, model: model, dimensions: dimensions)
            }
            let update = try db.cachedStatement(
                sql: """
                    UPDATE chunks SET embedding = ?, embedding_model = ?, embedded_at = ?
                    WHERE id = ? AND project_id = ?
                    """
            )
            for (id, blob) in blobs {
                try update.execute(arguments: [blob, model, nowMicros, id, projectID])
            }
        }
    }

    /// Little-endian float32s.
    static func blob(_ vector: [Float]) -> Data {
        var data = Data(capacity: vector.count * 4)
        for value in vector {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
    }

    static func vector(_ blob: Data) -> [Float] {
        var vector = [Float](repeating: 0, count: blob.count / 4)
        read(blob, into: &vector)
        return vector
    }

    /// Copies a blob's float32s into `vector` (as many as both hold): one copy of memory on a little-endian machine.
    static func read(_ blob: Data, into vector: inout [Float]) {
        let count = min(vector.count, blob.count / 4)
        blob.withUnsafeBytes { raw in
            vector.withUnsafeMutableBytes { target in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<count * 4]))
            }
        }
        if UInt32(1).littleEndian != 1 {
            for index in 0..<count { vector[index] = Float(bitPattern: UInt32(littleEndian: vector[index].bitPattern)) }
        }
    }
}

extension SQLitePipelineStore {
    /// Exact search: every embedded chunk of the project is compared with the query; each record once, by its
    /// nearest chunk.
    public func exactNearest(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [SearchHit] {
        let queryNorm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        var arguments: StatementArguments = [projectID, model]
        var sql = """
            SELECT c.rowid, c.embedding FROM chunks c
            WHERE c.project_id = ? AND c.embedding_model = ? AND c.embedding IS NOT NULL
            """
        if let filter {
            // The matching records first, then only their chunks (CROSS JOIN keeps that order): a selective
            // filter reads a few vectors instead of every one.
            arguments = [projectID]
            let condition = SQLiteFilter.condition(filter, data: "r.data", arguments: &arguments)
            _ = arguments.append(contentsOf: [model])
            sql = """
                SELECT c.rowid, c.embedding FROM records r CROSS JOIN chunks c ON c.record_id = r.id
                WHERE r.project_id = ? AND \(condition)
                  AND c.embedding_model = ? AND c.embedding IS NOT NULL
                """
        }
        return try await read { [sql, arguments] db in
            // Every vector is compared, in one reused buffer; only the nearest chunks' records are read after.
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            var stored = [Float](repeating: 0, count: vector.count)
            var distances: [(distance: Double, rowid: Int64)] = []
            while let row = try rows.next() {
                let distance = try row.withUnsafeData(atIndex: 1) { blob -> Double? in
                    guard let blob, blob.count == vector.count * 4 else { return nil }
                    Self.read(blob, into: &stored)
                    return ExactSearch.cosineDistance(stored, vector, queryNorm: queryNorm)
                }
                if let distance { distances.append((distance, row[0])) }
            }
            distances.sort { ($0.distance, $0.rowid) < ($1.distance, $1.rowid) }
            var best: [String: (distance: Double, position: Int)] = [:]
            for candidate in distances {
                guard best.count < limit else { break }
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: "SELECT record_id, position FROM chunks WHERE rowid = ?",
                        arguments: [candidate.rowid]
                    )
                else { continue }
                let record: String = row[0]
                if best[record] == nil { best[record] = (candidate.distance, row[1]) }
            }
            let nearest = best.sorted { ($0.value.distance, $0.key) < ($1.value.distance, $1.key) }.prefix(limit)
            return try nearest.map { record, hit in
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: """
                            SELECT r.external_id, c.text, r.data FROM records r
                            JOIN chunks c ON c.record_id = r.id AND c.position = ?
                            WHERE r.id = ?
                            """,
                        arguments: [hit.position, record]
                    )
                else { throw PipelineError(code: .projectNotFound, message: "record \(record) vanished") }
                return SearchHit(
                    id: record,
                    externalID: row[0],
                    text: row[1],
                    chunk: hit.position,
                    data: try JSONValue(parsing: row[2]),
                    distance: hit.distance
                )
            }
        }
    }

}

extension SQLitePipelineStore {
    /// FTS5's BM25 over the chunks (negated, so higher is better), each term a quoted phrase, any term enough.
    public func keywordRecords(
        projectID: String,
        terms: [String],
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [KeywordHit] {
        guard !terms.isEmpty else { return [] }
        let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            .joined(separator: " OR ")
        var arguments: StatementArguments = [match, projectID]
        var sql = """
            SELECT c.record_id, c.position, c.text, -bm25(chunks_fts) AS score
            FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid
            WHERE chunks_fts MATCH ? AND c.project_id = ?
            """
        if let filter {
            _ = arguments.append(contentsOf: [projectID])
            let condition = SQLiteFilter.condition(filter, data: "r.data", arguments: &arguments)
            sql += "\n  AND c.record_id IN (SELECT r.id FROM records r WHERE r.project_id = ? AND \(condition))"
        }
        sql += "\nORDER BY score DESC, c.record_id, c.position"
        return try await read { [sql, arguments] db in
            var best: [(record: String, position: Int, text: String, score: Double)] = []
            var seen = Set<String>()
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while best.count < limit, let row = try rows.next() {
                let record: String = row[0]
                guard seen.insert(record).inserted else { continue }
                best.append((record, row[1], row[2], row[3]))
            }
            return try best.map { hit in
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: "SELECT external_id, data FROM records WHERE id = ?",
                        arguments: [hit.record]
                    )
                else { throw PipelineError(code: .projectNotFound, message: "record \(hit.record) vanished") }
                return KeywordHit(
                    id: hit.record,
                    externalID: row[0],
                    text: hit.text,
                    chunk: hit.position,
                    data: try JSONValue(parsing: row[1]),
                    score: hit.score
                )
            }
        }
    }

    public func clearEmbeddings(projectID: String) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE projects SET embedding_model = NULL, embedding_dimensions = NULL, generate_embeddings = 1
                    WHERE id = ?
                    """,
                arguments: [projectID]
            )
            try db.execute(
                sql: """
                    UPDATE chunks SET embedding = NULL, embedding_model = NULL, embedded_at = NULL
                    WHERE project_id = ? AND embedded_at IS NOT NULL
                    """,
                arguments: [projectID]
            )
            return db.changesCount
        }
    }

    public func deleteRecords(projectID: String, externalIDs: [String]) async throws -> [String] {
        try await write { db in
            var deleted: [String] = []
            for id in Set(externalIDs).sorted() {
                try db.execute(
                    sql: "DELETE FROM records WHERE project_id = ? AND external_id = ?",
                    arguments: [projectID, id]
                )
                if db.changesCount > 0 { deleted.append(id) }
            }
            return deleted
        }
    }
}
