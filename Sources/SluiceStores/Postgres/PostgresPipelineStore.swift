import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePipeline
import SluicePostgres

/// Projects, ingest jobs and records (with their pgvector embeddings), on the queue store's pool.
public final class PostgresPipelineStore: PipelineStore, PostgresTableStore {
    let database: PostgresPool
    /// How the approximate vector index is built and searched.
    public let vectorIndex: VectorIndexOptions

    public init(database: PostgresPool, vectorIndex: VectorIndexOptions = VectorIndexOptions()) {
        self.database = database
        self.vectorIndex = vectorIndex
    }

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
        do {
            _ = try await changesRow(
                """
                INSERT INTO projects (id, name, created_at, chunk_size, chunk_overlap, template)
                VALUES (\(project.id), \(project.name), \(project.createdAt), \(project.chunkSize),
                        \(project.chunkOverlap), \(project.template))
                RETURNING id
                """
            )
        } catch let error as QueueError where error.constraint == "projects_name_key" {
            throw PipelineError(code: .nameTaken, message: "a project named '\(project.name)' already exists")
        }
    }

    public func projects() async throws -> [ProjectSummary] {
        try await fetchProjects("SELECT \(unescaped: Self.projectColumns) FROM projects p ORDER BY p.name")
    }

    public func projectSummary(id: String) async throws -> ProjectSummary? {
        try await fetchProjects("SELECT \(unescaped: Self.projectColumns) FROM projects p WHERE p.id = \(id)").first
    }

    public func project(id: String) async throws -> Project? {
        try await mapErrors {
            try await client.query(
                """
                SELECT id, name, embedding_model, embedding_dimensions, created_at, 0, 0, chunk_size, chunk_overlap,
                       template
                FROM projects WHERE id = \(id)
                """,
                logger: logger
            ).collect().first.map(Self.decodeProject)
        }
    }

    public func createIngestJob(_ job: IngestJob, chunks: Int, generateEmbeddings: Bool) async throws {
        do {
            try await mapErrors {
                try await client.withTransaction(logger: logger) { connection in
                    if generateEmbeddings {
                        try await connection.query(
                            """
                            UPDATE projects SET generate_embeddings = true
                            WHERE id = \(job.projectID) AND NOT generate_embeddings
                            """,
                            logger: logger
                        )
                    }
                    try await connection.query(
                        """
                        INSERT INTO ingest_jobs (id, project_id, status, total, created_at, sync)
                        VALUES (\(job.id), \(job.projectID), \(job.status.rawValue), \(job.total), \(job.createdAt),
                                \(job.sync))
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        """
                        INSERT INTO ingest_chunks (ingest_job_id, chunk_index)
                        SELECT \(job.id), generate_series(0, \(max(1, chunks) - 1))
                        """,
                        logger: logger
                    )
                }
            }
        } catch let error as QueueError where error.constraint == "ingest_jobs_project_id_fkey" {
            throw PipelineError(code: .projectNotFound, message: "project \(job.projectID) does not exist")
        }
    }

    public func ingestJob(id: String) async throws -> IngestJob? {
        try await mapErrors {
            try await client.query(
                "SELECT \(unescaped: Self.ingestColumns) FROM ingest_jobs WHERE id = \(id)",
                logger: logger
            ).collect().map(Self.decodeIngestJob).first
        }
    }

    public func ingestChunk(ingestJobID: String, chunk: Int) async throws -> IngestChunk? {
        try await mapErrors {
            try await client.query(
                """
                SELECT \(unescaped: Self.partColumns) FROM ingest_chunks
                WHERE ingest_job_id = \(ingestJobID) AND chunk_index = \(chunk)
                """,
                logger: logger
            ).collect().map(Self.decodeChunk).first
        }
    }

    public func startIngestJob(id: String, now: Date) async throws {
        _ = try await changesRow(
            """
            UPDATE ingest_jobs SET status = 'PROCESSING', started_at = coalesce(started_at, \(now))
            WHERE id = \(id) AND status IN ('PENDING', 'PROCESSING')
            RETURNING id
            """
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
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                var outcome = BatchOutcome()
                var pending = records
                // A record another part inserted meanwhile (the same key in two parts running at once) is planned
                // again once that part has committed: then it is an update or unchanged, never a failure.
                // (ON CONFLICT waits for that part to commit, and the next statement sees its rows.)
                for _ in 0..<5 where !pending.isEmpty {
                    let (pass, conflicted) = try await storePass(pending, projectID, now, connection)
                    outcome.inserted += pass.inserted
                    outcome.updated += pass.updated
                    outcome.unchanged += pass.unchanged
                    pending = conflicted
                }
                guard pending.isEmpty else {
                    throw QueueError.databaseError("\(pending.count) records kept being inserted by other uploads")
                }
                let skipped = invalid + outcome.unchanged
                try await connection.query(
                    """
                    UPDATE ingest_chunks
                    SET processed = \(processedAfter), saved = saved + \(outcome.saved), skipped = skipped + \(skipped),
                        updated = updated + \(outcome.updated), unchanged = unchanged + \(outcome.unchanged)
                    WHERE ingest_job_id = \(ingestJobID) AND chunk_index = \(chunk)
                    """,
                    logger: logger
                )
                let sync =
                    try await connection.query(
                        """
                        UPDATE ingest_jobs
                        SET saved = saved + \(outcome.saved), skipped = skipped + \(skipped), processed = processed + \(handled),
                            updated = updated + \(outcome.updated), unchanged = unchanged + \(outcome.unchanged)
                        WHERE id = \(ingestJobID)
                        RETURNING sync
                        """,
                        logger: logger
                    ).collect().first?.decode(Bool.self) ?? false
                // Only a sync upload marks what it carried: no extra statement for the others.
                if sync {
                    try await connection.query(
                        """
                        UPDATE records SET synced_by = \(ingestJobID)
                        WHERE project_id = \(projectID) AND record_key = ANY(\(RecordPlan.keys(records))::text[])
                        """,
                        logger: logger
                    )
                }
                return outcome
            }
        }
    }

    public func existingRecords(projectID: String, keys: [String]) async throws -> [String: RecordPlan.Existing] {
        try await mapErrors {
            try await client.withConnection { try await Self.existing(keys, projectID, $0, logger) }
        }
    }

    /// The stored records among `keys`, with their chunks in order.
    private static func existing(
        _ keys: [String],
        _ projectID: String,
        _ connection: PostgresConnection,
        _ logger: Logger
    ) async throws -> [String: RecordPlan.Existing] {
        var existing: [String: RecordPlan.Existing] = [:]
        for row in try await connection.query(
            """
            SELECT r.record_key, r.id, r.content_hash,
                   coalesce(array_agg(c.id ORDER BY c.position) FILTER (WHERE c.id IS NOT NULL), '{}'),
                   coalesce(array_agg(c.text ORDER BY c.position) FILTER (WHERE c.id IS NOT NULL), '{}')
            FROM records r LEFT JOIN chunks c ON c.record_id = r.id
            WHERE r.project_id = \(projectID) AND r.record_key = ANY(\(keys)::text[])
            GROUP BY r.record_key, r.id, r.content_hash
            """,
            logger: logger
        ).collect() {
            let (key, id, hash, chunkIDs, texts) = try row.decode((String, String, String, [String], [String]).self)
            existing[key] = RecordPlan.Existing(
                id: id,
                contentHash: hash,
                chunks: zip(chunkIDs, texts).map { (id: $0, text: $1) }
            )
        }
        return existing
    }

    /// Plans `records` against what is stored and writes the plan; returns what it did and the new records another
    /// transaction inserted first (not written here).
    private func storePass(
        _ records: [NewRecord],
        _ projectID: String,
        _ now: Date,
        _ connection: PostgresConnection
    ) async throws -> (BatchOutcome, conflicted: [NewRecord]) {
        // The batch's stored records, locked first (in one order, against deadlocks) so that a part of another upload
        // cannot change them between this read and the writes below.
        let keys = RecordPlan.keys(records)
        try await connection.query(
            """
            SELECT id FROM records WHERE project_id = \(projectID) AND record_key = ANY(\(keys)::text[])
            ORDER BY id FOR UPDATE
            """,
            logger: logger
        )
        let existing = try await Self.existing(keys, projectID, connection, logger)
        let plan = RecordPlan(records, existing: existing)
        // New records and every new chunk, each in one statement.
        let recordIDs = plan.inserts.map { _ in JobID.make(at: now) }
        var inserted: Set<String> = []
        if !plan.inserts.isEmpty {
            let keys = plan.inserts.map(\.key)
            let externalIDs = plan.inserts.map { $0.externalID ?? "" }  // "" stands for NULL
            let texts = plan.inserts.map(\.text)
            let data = plan.inserts.map(\.json)
            let hashes = plan.inserts.map(\.contentHash)
            inserted = Set(
                try await connection.query(
                    """
                    INSERT INTO records (id, project_id, record_key, external_id, text, data, content_hash,
                                         created_at)
                    SELECT id, \(projectID), record_key, NULLIF(external_id, ''), text, data::jsonb, content_hash,
                           \(now)
                    FROM unnest(\(recordIDs)::text[], \(keys)::text[], \(externalIDs)::text[], \(texts)::text[],
                                \(data)::text[], \(hashes)::text[])
                         AS new (id, record_key, external_id, text, data, content_hash)
                    ON CONFLICT (project_id, record_key) DO NOTHING
                    RETURNING id
                    """,
                    logger: logger
                ).collect().map { try $0.decode(String.self) }
            )
        }
        var chunkRecords: [String] = []
        var chunkPositions: [Int] = []
        var chunkTexts: [String] = []
        var conflicted: [NewRecord] = []
        for (id, record) in zip(recordIDs, plan.inserts) {
            guard inserted.contains(id) else {
                conflicted.append(record)
                continue
            }
            for (position, text) in record.chunks.enumerated() {
                chunkRecords.append(id)
                chunkPositions.append(position)
                chunkTexts.append(text)
            }
        }
        if !plan.updates.isEmpty {
            let ids = plan.updates.map(\.recordID)
            let externalIDs = plan.updates.map { $0.record.externalID ?? "" }
            let texts = plan.updates.map(\.record.text)
            let data = plan.updates.map(\.record.json)
            let hashes = plan.updates.map(\.record.contentHash)
            let dropped = plan.updates.flatMap(\.dropChunkIDs)
            try await connection.query(
                """
                UPDATE records SET external_id = NULLIF(new.external_id, ''), text = new.text,
                    data = new.data::jsonb, content_hash = new.content_hash, updated_at = \(now)
                FROM unnest(\(ids)::text[], \(externalIDs)::text[], \(texts)::text[], \(data)::text[],
                            \(hashes)::text[]) AS new (id, external_id, text, data, content_hash)
                WHERE records.id = new.id
                """,
                logger: logger
            )
            try await connection.query(
                "DELETE FROM chunks WHERE id = ANY(\(dropped)::text[])",
                logger: logger
            )
            for update in plan.updates {
                for (position, text) in update.newChunks {
                    chunkRecords.append(update.recordID)
                    chunkPositions.append(position)
                    chunkTexts.append(text)
                }
            }
        }
        if !chunkRecords.isEmpty {
            let chunkIDs = chunkRecords.map { _ in JobID.make(at: now) }
            try await connection.query(
                """
                INSERT INTO chunks (id, record_id, position, project_id, text, created_at)
                SELECT id, record_id, position, \(projectID), text, \(now)
                FROM unnest(\(chunkIDs)::text[], \(chunkRecords)::text[], \(chunkPositions)::int8[],
                            \(chunkTexts)::text[]) AS new (id, record_id, position, text)
                """,
                logger: logger
            )
        }
        var outcome = plan.outcome
        outcome.inserted -= conflicted.count
        return (outcome, conflicted)
    }

    public func finishIngestChunk(ingestJobID: String, chunk: Int, now: Date) async throws -> (
        IngestChunk, jobComplete: Bool
    ) {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                // The job row is locked first, so that two parts finishing at once see each other.
                _ = try await connection.query(
                    "SELECT id FROM ingest_jobs WHERE id = \(ingestJobID) FOR UPDATE",
                    logger: logger
                ).collect()
                guard
                    let part = try await connection.query(
                        """
                        UPDATE ingest_chunks SET done = true
                        WHERE ingest_job_id = \(ingestJobID) AND chunk_index = \(chunk)
                        RETURNING \(unescaped: Self.partColumns)
                        """,
                        logger: logger
                    ).collect().first.map(Self.decodeChunk)
                else {
                    throw PipelineError(
                        code: .ingestJobNotFound,
                        message: "ingest job \(ingestJobID) has no part \(chunk)"
                    )
                }
                let completed = try await connection.query(
                    """
                    UPDATE ingest_jobs SET status = 'COMPLETED', completed_at = \(now)
                    WHERE id = \(ingestJobID) AND status <> 'COMPLETED'
                      AND NOT EXISTS (
                          SELECT 1 FROM ingest_chunks WHERE ingest_job_id = \(ingestJobID) AND NOT done)
                    RETURNING project_id, sync
                    """,
                    logger: logger
                ).collect()
                if let row = completed.first, case let (projectID, sync) = try row.decode((String, Bool).self), sync {
                    // The sync upload is complete: the records it did not carry go, in this transaction.
                    try await connection.query(
                        """
                        WITH gone AS (
                            DELETE FROM records
                            WHERE project_id = \(projectID) AND synced_by IS DISTINCT FROM \(ingestJobID)
                            RETURNING 1)
                        UPDATE ingest_jobs SET deleted = (SELECT count(*) FROM gone) WHERE id = \(ingestJobID)
                        """,
                        logger: logger
                    )
                }
                let complete =
                    try await connection.query(
                        "SELECT status = 'COMPLETED' FROM ingest_jobs WHERE id = \(ingestJobID)",
                        logger: logger
                    ).collect().first?.decode(Bool.self) ?? false
                return (part, complete)
            }
        }
    }

    public func failIngestJob(id: String, error: String, now: Date) async throws {
        _ = try await changesRow(
            """
            UPDATE ingest_jobs SET status = 'FAILED', error = \(error), completed_at = \(now)
            WHERE id = \(id)
            RETURNING id
            """
        )
    }

    private static func decodeChunk(_ row: PostgresRow) throws -> IngestChunk {
        let (index, processed, saved, skipped, done, updated, unchanged) = try row.decode(
            (Int, Int, Int, Int, Bool, Int, Int).self
        )
        return IngestChunk(
            index: index,
            processed: processed,
            saved: saved,
            skipped: skipped,
            done: done,
            updated: updated,
            unchanged: unchanged
        )
    }

    private func fetchProjects(_ query: PostgresQuery) async throws -> [ProjectSummary] {
        try await mapErrors {
            try await client.query(query, logger: logger).collect().map { row in
                let cells = row.makeRandomAccess()
                return ProjectSummary(
                    project: try Self.decodeProject(row),
                    recordCount: try cells[5].decode(Int.self),
                    embeddedCount: try cells[6].decode(Int.self)
                )
            }
        }
    }

    /// The first five columns: id, name, embedding_model, embedding_dimensions, created_at.
    /// id, name, embedding_model, embedding_dimensions, created_at, (two counts), chunk_size, chunk_overlap,
    /// template: ``projectColumns``' order.
    private static func decodeProject(_ row: PostgresRow) throws -> Project {
        let cells = row.makeRandomAccess()
        return Project(
            id: try cells[0].decode(String.self),
            name: try cells[1].decode(String.self),
            embeddingModel: try cells[2].decode(String?.self),
            embeddingDimensions: try cells[3].decode(Int?.self),
            createdAt: try cells[4].decode(Date.self),
            chunkSize: try cells[7].decode(Int?.self),
            chunkOverlap: try cells[8].decode(Int?.self),
            template: try cells[9].decode(String?.self)
        )
    }

    private static func decodeIngestJob(_ row: PostgresRow) throws -> IngestJob {
        let cells = row.makeRandomAccess()
        return IngestJob(
            id: try cells[0].decode(String.self),
            projectID: try cells[1].decode(String.self),
            status: try JobStatus(stored: try cells[2].decode(String.self)),
            total: try cells[3].decode(Int.self),
            processed: try cells[4].decode(Int.self),
            saved: try cells[5].decode(Int.self),
            skipped: try cells[6].decode(Int.self),
            updated: try cells[11].decode(Int.self),
            unchanged: try cells[12].decode(Int.self),
            sync: try cells[13].decode(Bool.self),
            deleted: try cells[14].decode(Int.self),
            error: try cells[7].decode(String?.self),
            createdAt: try cells[8].decode(Date.self),
            startedAt: try cells[9].decode(Date?.self),
            completedAt: try cells[10].decode(Date?.self)
        )
    }
}

extension PostgresPipelineStore {
    public func unembeddedChunks(
        projectID: String,
        after: String?,
        limit: Int
    ) async throws -> [(id: String, text: String)] {
        let query: PostgresQuery =
            if let after {
                // A row comparison the index can start from: the walk begins at the cursor chunk's place.
                """
                SELECT id, text FROM chunks
                WHERE project_id = \(projectID) AND embedded_at IS NULL
                  AND (created_at, id) > ((SELECT created_at FROM chunks WHERE id = \(after)), \(after))
                ORDER BY created_at, id LIMIT \(limit)
                """
            } else {
                """
                SELECT id, text FROM chunks WHERE project_id = \(projectID) AND embedded_at IS NULL
                ORDER BY created_at, id LIMIT \(limit)
                """
            }
        return try await throughWaitingIndex { connection in
            try await connection.query(query, logger: logger).collect().map { row in
                let (id, text) = try row.decode((String, String).self)
                return (id, text)
            }
        }
    }

    public func waitingChunkCount(projectID: String) async throws -> Int {
        try await throughWaitingIndex { connection in
            try await connection.query(
                "SELECT count(*) FROM chunks WHERE project_id = \(projectID) AND embedded_at IS NULL",
                logger: logger
            ).collect().first?.decode(Int.self) ?? 0
        }
    }

    /// Runs a read of waiting chunks with sequential scans off, so that it goes through `chunks_unembedded_idx`,
    /// which holds exactly the waiting chunks. The planner's statistics lag behind a backfill: taken before an
    /// upload they say the table is empty, taken before the backfill that every chunk waits, and either way it
    /// read the whole table instead (measured: 100–300 ms a look at 100,000 chunks, the first tenth of a backfill
    /// 7× slower than the rest).
    private func throughWaitingIndex<T: Sendable>(
        _ read: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET LOCAL enable_seqscan = off", logger: logger)
                return try await read(connection)
            }
        }
    }

    public func projectsAwaitingEmbeddings(limit: Int) async throws -> [String] {
        try await mapErrors {
            try await client.query(
                """
                SELECT id FROM projects
                WHERE generate_embeddings
                  AND EXISTS (SELECT 1 FROM chunks WHERE project_id = projects.id AND embedded_at IS NULL)
                  AND NOT EXISTS (
                      SELECT 1 FROM ingest_jobs
                      WHERE project_id = projects.id AND status IN ('PENDING', 'PROCESSING'))
                ORDER BY id LIMIT \(limit)
                """,
                logger: logger
            ).collect().map { try $0.decode(String.self) }
        }
    }

    public func saveEmbeddings(
        _ vectors: [(id: String, vector: [Float])],
        projectID: String,
        model: String,
        dimensions: Int,
        now: Date
    ) async throws {
        if vectors.contains(where: { $0.vector.count != dimensions }) {
            throw PipelineError(
                code: .invalidInput,
                message: "the provider answered vectors of other lengths than \(dimensions) for project \(projectID)"
            )
        }
        let ids = vectors.map(\.id)
        // Every vector in one binary real[] (no decimal text to write and parse): row n takes its slice.
        let numbers = Float4Array(numbers: vectors.flatMap(\.vector))
        func project(_ rows: [PostgresRow]) throws -> Project? {
            try rows.first.map { row in
                let (id, name, model, dimensions, created) = try row.decode((String, String, String?, Int?, Date).self)
                return Project(
                    id: id,
                    name: name,
                    embeddingModel: model,
                    embeddingDimensions: dimensions,
                    createdAt: created
                )
            }
        }
        try await mapErrors {
            // One statement, so one round trip: it takes a shared lock on the project row, so that the saves of
            // one project's requests in flight go on side by side (an UPDATE of the row serialised them, measured
            // 80–130 ms each) while a model change (clearEmbeddings) waits for them, and writes the vectors only if
            // the project is embedded with this model. It answers the project as it found it.
            let found = try project(
                try await client.query(
                    """
                    WITH project AS (
                        SELECT id, name, embedding_model, embedding_dimensions, created_at
                        FROM projects WHERE id = \(projectID) FOR SHARE
                    ), saved AS (
                        UPDATE chunks
                        SET embedding = (\(numbers)::real[])[(new.n - 1) * \(dimensions) + 1 : new.n * \(dimensions)]::vector,
                            embedding_model = \(model), embedded_at = \(now)
                        FROM unnest(\(ids)::text[]) WITH ORDINALITY AS new (id, n), project
                        WHERE project.embedding_model = \(model) AND project.embedding_dimensions = \(dimensions)
                          AND chunks.id = new.id AND chunks.project_id = \(projectID)
                    )
                    SELECT id, name, embedding_model, embedding_dimensions, created_at FROM project
                    """,
                    logger: logger
                ).collect()
            )
            guard let found else {
                throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist")
            }
            if found.embeddingModel == model && found.embeddingDimensions == dimensions { return }
            guard found.embeddingModel == nil else {
                throw PipelineError.modelMismatch(project: found, model: model, dimensions: dimensions)
            }
            // The project's first vectors: record the model, with the row taken for this transaction, then save.
            try await client.withTransaction(logger: logger) { connection in
                let claimed = try project(
                    try await connection.query(
                        """
                        UPDATE projects
                        SET embedding_model = coalesce(embedding_model, \(model)),
                            embedding_dimensions = coalesce(embedding_dimensions, \(dimensions))
                        WHERE id = \(projectID)
                        RETURNING id, name, embedding_model, embedding_dimensions, created_at
                        """,
                        logger: logger
                    ).collect()
                )
                guard let claimed else {
                    throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist")
                }
                guard claimed.embeddingModel == model, claimed.embeddingDimensions == dimensions else {
                    throw PipelineError.modelMismatch(project: claimed, model: model, dimensions: dimensions)
                }
                try await connection.query(
                    """
                    UPDATE chunks
                    SET embedding = (\(numbers)::real[])[(new.n - 1) * \(dimensions) + 1 : new.n * \(dimensions)]::vector,
                        embedding_model = \(model), embedded_at = \(now)
                    FROM unnest(\(ids)::text[]) WITH ORDINALITY AS new (id, n)
                    WHERE chunks.id = new.id AND chunks.project_id = \(projectID)
                    """,
                    logger: logger
                )
            }
        }
    }
}

/// How the approximate (HNSW) index over chunk vectors is built: pgvector's parameters and the memory its build may
/// use. The index holds each vector L2-normalised in half precision (`halfvec`, half the size, and cosine distance
/// does not change under normalisation); search re-ranks its candidates by the full-precision vectors. Measured on
/// 100,000 clustered 384-dimension vectors: recall@10 0.994 at `ef_search` 200, and 2.1× the insert rate of a
/// full-precision index at pgvector's defaults (`m` 16, `ef_construction` 64).
public struct VectorIndexOptions: Sendable, Hashable {
    /// Neighbours per node. Default 12 (pgvector's is 16): cheaper inserts, recall measured above.
    public var m: Int
    /// Candidates considered while inserting. Default 40 (pgvector's is 64).
    public var efConstruction: Int
    /// Candidates considered while searching (`hnsw.ef_search`). Default 200, so that a search filtered to one
    /// project still finds its k records.
    public var efSearch: Int
    /// `maintenance_work_mem` of the connection that builds the index, unless the server's is larger: a graph that
    /// does not fit builds many times slower. Default 1 GiB.
    public var buildMemoryBytes: Int

    public init(m: Int = 12, efConstruction: Int = 40, efSearch: Int = 200, buildMemoryBytes: Int = 1 << 30) {
        self.m = min(100, max(2, m))
        self.efConstruction = min(1_000, max(2 * self.m, efConstruction))
        self.efSearch = min(1_000, max(1, efSearch))
        self.buildMemoryBytes = max(64 << 20, buildMemoryBytes)
    }
}

extension PostgresPipelineStore {
    /// The name of the approximate index over `dimensions`-long vectors.
    static func vectorIndexName(dimensions: Int) -> String { "chunks_halfvec_hnsw_\(max(1, dimensions))" }

    /// The expression the index holds and an approximate search orders by (`value` is a column or a parameter).
    static func indexedVector(_ value: String, dimensions: Int) -> String {
        "l2_normalize(\(value)::vector(\(dimensions)))::halfvec(\(dimensions))"
    }

    /// The nearest-records query: the inner part takes the `candidates` nearest chunks (through the index's
    /// expression and predicate when `approximate`, so PostgreSQL uses it; by exact distance otherwise) of records
    /// that match `filter`, the next keeps each record's nearest chunk at full-precision distance and counts the
    /// candidates, the outer takes the `limit` nearest records. Its columns: id, external id, chunk text, position,
    /// fields, distance, candidates seen.
    static func nearestQuery(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        candidates: Int? = nil,
        filter: SearchFilter? = nil,
        approximate: Bool
    ) -> PostgresQuery {
        // The dimension is a positive Int of ours; the vector, project, model and filter values are bound.
        let n = vector.count
        let literal = "[" + vector.map { String($0) }.joined(separator: ",") + "]"
        let order =
            approximate
            ? "\(indexedVector("embedding", dimensions: n)) <=> \(indexedVector("$1", dimensions: n))"
            : "embedding::vector(\(n)) <=> $1::vector(\(n))"
        var binds = PostgresBindings()
        binds.append(literal)
        binds.append(projectID)
        binds.append(model)
        binds.append(candidates ?? limit * 4)
        binds.append(limit)
        var matching = ""
        if let filter {
            let condition = PostgresFilter.condition(filter, data: "f.data", binds: &binds)
            matching =
                approximate
                // Tested chunk by chunk as the index hands them over (an iterative scan goes on until enough pass).
                ? "AND (SELECT \(condition) FROM records f WHERE f.id = chunks.record_id)"
                // The matching records first (the GIN index answers equality), then their chunks.
                : "AND record_id IN (SELECT f.id FROM records f WHERE f.project_id = $2 AND \(condition))"
        }
        return PostgresQuery(
            unsafeSQL: """
                SELECT r.id, r.external_id, best.text, best.position, r.data::text, best.distance, best.candidates
                FROM (
                    SELECT DISTINCT ON (record_id) record_id, text, position, distance,
                           count(*) OVER () AS candidates
                    FROM (
                        SELECT record_id, text, position,
                               (embedding::vector(\(n)) <=> $1::vector(\(n)))::float8 AS distance
                        FROM chunks
                        WHERE project_id = $2 AND embedding_model = $3 AND vector_dims(embedding) = \(n)
                          \(matching)
                        ORDER BY \(order)
                        LIMIT $4
                    ) AS nearest_chunks
                    ORDER BY record_id, distance
                ) AS best
                JOIN records r ON r.id = best.record_id
                ORDER BY best.distance, r.id
                LIMIT $5
                """,
            binds: binds
        )
    }

    /// With a valid index the query is written for it, and the plan says whether PostgreSQL uses it: for a small
    /// project in a large table it may rather read the project's chunks and compare each, which is exact. When the
    /// candidates hold fewer than `limit` records although more chunks may be left (a selective filter the
    /// index's scan gave up on, records with many near chunks), the search goes on exactly, with more candidates
    /// each round, until it has `limit` records or has seen every chunk that matches.
    public func nearestRecords(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> NearestRecords {
        try await nearest(projectID: projectID, to: vector, model: model, limit: limit, filter: filter, indexed: true)
    }

    /// The nearest records by exact distance whatever indexes exist: what an approximate search's recall is
    /// measured against.
    public func exactNearestRecords(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [SearchHit] {
        try await nearest(projectID: projectID, to: vector, model: model, limit: limit, filter: filter, indexed: false)
            .hits
    }

    private func nearest(
        projectID: String,
        to vector: [Float],
        model: String,
        limit: Int,
        filter: SearchFilter?,
        indexed: Bool
    ) async throws -> NearestRecords {
        try await mapErrors {
            var approximate = false
            if indexed { approximate = try await vectorIndexValid(dimensions: vector.count) == true }
            var candidates = limit * 4
            return try await client.withTransaction(logger: logger) { connection in
                if approximate {
                    // A wider candidate list than the default 40, and iterative scans, so that the filters (the
                    // project's, the caller's) still leave k records.
                    try await connection.query(
                        "SELECT set_config('hnsw.ef_search', \(String(vectorIndex.efSearch)), true)",
                        logger: logger
                    )
                    try await connection.query("SET LOCAL hnsw.iterative_scan = relaxed_order", logger: logger)
                }
                while true {
                    let query = Self.nearestQuery(
                        projectID: projectID,
                        to: vector,
                        model: model,
                        limit: limit,
                        candidates: candidates,
                        filter: filter,
                        approximate: approximate
                    )
                    var search = VectorSearch.exact
                    if approximate {
                        let plan = try await connection.query(
                            PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds),
                            logger: logger
                        ).collect().map { try $0.decode(String.self) }
                        let index = Self.vectorIndexName(dimensions: vector.count)
                        if plan.contains(where: { $0.contains(index) }) { search = .approximate }
                    }
                    var seen = 0
                    let hits = try await connection.query(query, logger: logger).collect().map { row in
                        let (id, external, text, position, data, distance, count) = try row.decode(
                            (String, String?, String, Int, String, Double, Int).self
                        )
                        seen = count
                        return SearchHit(
                            id: id,
                            externalID: external,
                            text: text,
                            chunk: position,
                            data: try JSONValue(parsing: data),
                            distance: distance
                        )
                    }
                    if hits.count >= limit || (search == .exact && seen < candidates) {
                        return NearestRecords(hits: hits, search: search)
                    }
                    if approximate {
                        approximate = false
                    } else {
                        candidates *= 8
                    }
                }
            }
        }
    }

    /// PostgreSQL full-text search over the chunks' words: each term a phrase (`phraseto_tsquery`), any term
    /// enough, ranked by `ts_rank` (normalised by the chunk's length, so long chunks do not win by size).
    public func keywordRecords(
        projectID: String,
        terms: [String],
        limit: Int,
        filter: SearchFilter?
    ) async throws -> [KeywordHit] {
        guard !terms.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(projectID)
        binds.append(limit)
        let query = terms.map { term in
            binds.append(term)
            return "phraseto_tsquery('simple', $\(binds.count))"
        }.joined(separator: " || ")
        var matching = ""
        if let filter {
            let condition = PostgresFilter.condition(filter, data: "f.data", binds: &binds)
            matching = "AND c.record_id IN (SELECT f.id FROM records f WHERE f.project_id = $1 AND \(condition))"
        }
        let sql = PostgresQuery(
            unsafeSQL: """
                SELECT r.id, r.external_id, best.text, best.position, r.data::text, best.score
                FROM (
                    SELECT DISTINCT ON (c.record_id) c.record_id, c.text, c.position,
                           ts_rank(w.words, q.query, 1)::float8 AS score
                    FROM (SELECT \(query) AS query) AS q
                    JOIN chunk_words w ON w.words @@ q.query
                    JOIN chunks c ON c.id = w.chunk_id
                    WHERE w.project_id = $1 \(matching)
                    ORDER BY c.record_id, score DESC, c.position
                ) AS best
                JOIN records r ON r.id = best.record_id
                ORDER BY best.score DESC, r.id
                LIMIT $2
                """,
            binds: binds
        )
        return try await mapErrors {
            try await client.query(sql, logger: logger).collect().map { row in
                let (id, external, text, position, data, score) = try row.decode(
                    (String, String?, String, Int, String, Double).self
                )
                return KeywordHit(
                    id: id,
                    externalID: external,
                    text: text,
                    chunk: position,
                    data: try JSONValue(parsing: data),
                    score: score
                )
            }
        }
    }

    /// Whether the approximate index exists and is usable (true), is left invalid by an interrupted build (false),
    /// or does not exist (nil).
    private func vectorIndexValid(dimensions: Int) async throws -> Bool? {
        try await client.query(
            """
            SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE c.relname = \(Self.vectorIndexName(dimensions: dimensions))
              AND c.relnamespace = current_schema()::regnamespace
            """,
            logger: logger
        ).collect().first?.decode(Bool.self)
    }

    public func prepareVectorIndex(dimensions: Int, threshold: Int?) async throws -> VectorSearch {
        let n = max(1, dimensions)
        let name = Self.vectorIndexName(dimensions: n)
        return try await mapErrors {
            let valid = try await vectorIndexValid(dimensions: n)
            if valid == true { return .approximate }
            if let threshold {
                let limit = min(threshold, Int(Int32.max))
                let (embedded, waiting) =
                    try await client.query(
                        """
                        SELECT (SELECT count(*) FROM (
                                    SELECT 1 FROM chunks WHERE embedded_at IS NOT NULL LIMIT \(limit)) AS done),
                               (SELECT count(*) FROM (
                                    SELECT 1 FROM chunks WHERE embedded_at IS NULL LIMIT \(limit)) AS waiting)
                        """,
                        logger: logger
                    ).collect().first?.decode((Int, Int).self) ?? (0, 0)
                guard embedded >= threshold, waiting < threshold else { return .exact }
            }
            let options = vectorIndex
            let started = ContinuousClock.now
            try await client.withConnection { connection in
                if valid == false {
                    // A build that was interrupted leaves an invalid index behind: drop it and build again.
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "DROP INDEX CONCURRENTLY IF EXISTS \(name)"),
                        logger: logger
                    )
                }
                // More memory for this connection's build only (unless the server already allows more).
                let kilobytes = options.buildMemoryBytes / 1024
                try await connection.query(
                    """
                    SELECT set_config('maintenance_work_mem', \("\(kilobytes)kB"), false)
                    WHERE (SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem') < \(kilobytes)
                    """,
                    logger: logger
                )
                do {
                    // CONCURRENTLY: inserts and vector updates go on while it builds (outside any transaction).
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: """
                                CREATE INDEX CONCURRENTLY IF NOT EXISTS \(name) ON chunks
                                USING hnsw ((\(Self.indexedVector("embedding", dimensions: n))) halfvec_cosine_ops)
                                WITH (m = \(options.m), ef_construction = \(options.efConstruction))
                                WHERE vector_dims(embedding) = \(n)
                                """
                        ),
                        logger: logger
                    )
                } catch {
                    _ = try? await connection.query("RESET maintenance_work_mem", logger: logger)
                    throw error
                }
                try await connection.query("RESET maintenance_work_mem", logger: logger)
                // Statistics from before the backfill say no chunk has a model: without fresh ones the planner
                // would rather sort a project's chunks than use the new index (measured: 335 ms against 1 ms).
                try await connection.query("ANALYZE chunks", logger: logger)
                // The full-precision index of earlier versions of this issue's work, now replaced.
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DROP INDEX CONCURRENTLY IF EXISTS chunks_embedding_hnsw_\(n)"),
                    logger: logger
                )
            }
            logger.notice(
                "approximate vector index built",
                metadata: [
                    LogKey.index: "\(name)",
                    LogKey.durationMS: "\(Int((ContinuousClock.now - started).timeInterval * 1000))",
                ]
            )
            return .approximate
        }
    }
}

extension PostgresPipelineStore {
    public func clearEmbeddings(projectID: String) async throws -> Int {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    UPDATE projects SET embedding_model = NULL, embedding_dimensions = NULL, generate_embeddings = true
                    WHERE id = \(projectID)
                    """,
                    logger: logger
                )
                return try await connection.query(
                    """
                    UPDATE chunks SET embedding = NULL, embedding_model = NULL, embedded_at = NULL
                    WHERE project_id = \(projectID) AND embedded_at IS NOT NULL
                    RETURNING id
                    """,
                    logger: logger
                ).collect().count
            }
        }
    }

    public func deleteRecords(projectID: String, externalIDs: [String]) async throws -> [String] {
        try await mapErrors {
            try await client.query(
                """
                DELETE FROM records WHERE project_id = \(projectID) AND external_id = ANY(\(externalIDs)::text[])
                RETURNING external_id
                """,
                logger: logger
            ).collect().map { try $0.decode(String.self) }.reduce(into: [String]()) {
                if !$0.contains($1) { $0.append($1) }
            }.sorted()
        }
    }
}
