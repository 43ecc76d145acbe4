import Foundation
import PostgresNIO
import SluiceCore
import SluicePipeline
import SluicePostgres

/// Projects, ingest jobs and records (with their pgvector embeddings), on the queue store's pool.
public final class PostgresPipelineStore: PipelineStore, PostgresTableStore {
    let database: PostgresPool

    public init(database: PostgresPool) { self.database = database }

    private static let projectColumns = """
        p.id, p.name, p.embedding_model, p.embedding_dimensions, p.created_at,
        (SELECT count(*) FROM records r WHERE r.project_id = p.id),
        (SELECT count(*) FROM records r WHERE r.project_id = p.id AND r.embedded_at IS NOT NULL)
        """
    private static let ingestColumns = """
        id, project_id, status, total, processed, saved, skipped, error, created_at, started_at, completed_at
        """

    public func createProject(_ project: Project) async throws {
        do {
            _ = try await changesRow(
                """
                INSERT INTO projects (id, name, created_at) VALUES (\(project.id), \(project.name), \(project.createdAt))
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
                "SELECT id, name, embedding_model, embedding_dimensions, created_at FROM projects WHERE id = \(id)",
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
                        INSERT INTO ingest_jobs (id, project_id, status, total, created_at)
                        VALUES (\(job.id), \(job.projectID), \(job.status.rawValue), \(job.total), \(job.createdAt))
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
                SELECT chunk_index, processed, saved, skipped, done FROM ingest_chunks
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
    ) async throws -> Int {
        let ids = records.map { _ in JobID.make(at: now) }
        let externalIDs = records.map { $0.externalID ?? "" }  // "" stands for NULL
        let texts = records.map(\.text)
        let data = records.map(\.json)
        let hashes = records.map(\.contentHash)
        // One statement, so one round trip: the records, the part's resume point and the job's counts change
        // together or not at all.
        return try await mapErrors {
            try await client.query(
                """
                WITH inserted AS (
                    INSERT INTO records (id, project_id, external_id, text, data, content_hash, created_at)
                    SELECT id, \(projectID), NULLIF(external_id, ''), text, data::jsonb, content_hash, \(now)
                    FROM unnest(\(ids)::text[], \(externalIDs)::text[], \(texts)::text[], \(data)::text[],
                                \(hashes)::text[]) AS new (id, external_id, text, data, content_hash)
                    ON CONFLICT (project_id, content_hash) DO NOTHING
                    RETURNING 1),
                counted AS (
                    SELECT count(*)::int8 AS saved, \(records.count + invalid) - count(*)::int8 AS skipped
                    FROM inserted),
                part AS (
                    UPDATE ingest_chunks
                    SET processed = \(processedAfter), saved = ingest_chunks.saved + counted.saved,
                        skipped = ingest_chunks.skipped + counted.skipped
                    FROM counted
                    WHERE ingest_job_id = \(ingestJobID) AND chunk_index = \(chunk)
                    RETURNING 1),
                job AS (
                    UPDATE ingest_jobs
                    SET saved = ingest_jobs.saved + counted.saved, skipped = ingest_jobs.skipped + counted.skipped,
                        processed = processed + \(handled)
                    FROM counted
                    WHERE id = \(ingestJobID)
                    RETURNING 1)
                SELECT saved FROM counted  -- every data-modifying CTE runs, read or not
                """,
                logger: logger
            ).collect().first?.decode(Int.self) ?? 0
        }
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
                        RETURNING chunk_index, processed, saved, skipped, done
                        """,
                        logger: logger
                    ).collect().first.map(Self.decodeChunk)
                else {
                    throw PipelineError(
                        code: .ingestJobNotFound,
                        message: "ingest job \(ingestJobID) has no part \(chunk)"
                    )
                }
                _ = try await connection.query(
                    """
                    UPDATE ingest_jobs SET status = 'COMPLETED', completed_at = \(now)
                    WHERE id = \(ingestJobID) AND status <> 'COMPLETED'
                      AND NOT EXISTS (
                          SELECT 1 FROM ingest_chunks WHERE ingest_job_id = \(ingestJobID) AND NOT done)
                    """,
                    logger: logger
                ).collect()
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
        let (index, processed, saved, skipped, done) = try row.decode((Int, Int, Int, Int, Bool).self)
        return IngestChunk(index: index, processed: processed, saved: saved, skipped: skipped, done: done)
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
    private static func decodeProject(_ row: PostgresRow) throws -> Project {
        let cells = row.makeRandomAccess()
        return Project(
            id: try cells[0].decode(String.self),
            name: try cells[1].decode(String.self),
            embeddingModel: try cells[2].decode(String?.self),
            embeddingDimensions: try cells[3].decode(Int?.self),
            createdAt: try cells[4].decode(Date.self)
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
            error: try cells[7].decode(String?.self),
            createdAt: try cells[8].decode(Date.self),
            startedAt: try cells[9].decode(Date?.self),
            completedAt: try cells[10].decode(Date?.self)
        )
    }
}

extension PostgresPipelineStore {
    public func unembeddedRecords(projectID: String, limit: Int) async throws -> [(id: String, text: String)] {
        try await mapErrors {
            try await client.query(
                """
                SELECT id, text FROM records WHERE project_id = \(projectID) AND embedded_at IS NULL
                ORDER BY created_at, id LIMIT \(limit)
                """,
                logger: logger
            ).collect().map { row in
                let (id, text) = try row.decode((String, String).self)
                return (id, text)
            }
        }
    }

    public func projectsAwaitingEmbeddings(limit: Int) async throws -> [String] {
        try await mapErrors {
            try await client.query(
                """
                SELECT id FROM projects
                WHERE generate_embeddings
                  AND EXISTS (SELECT 1 FROM records WHERE project_id = projects.id AND embedded_at IS NULL)
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
        let ids = vectors.map(\.id)
        // pgvector reads its text form: '[0.1,0.2,…]'.
        let texts = vectors.map { "[" + $0.vector.map { String($0) }.joined(separator: ",") + "]" }
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    UPDATE projects
                    SET embedding_model = coalesce(embedding_model, \(model)),
                        embedding_dimensions = coalesce(embedding_dimensions, \(dimensions))
                    WHERE id = \(projectID)
                    RETURNING id, name, embedding_model, embedding_dimensions, created_at
                    """,
                    logger: logger
                ).collect()
                guard let row = rows.first else {
                    throw PipelineError(code: .projectNotFound, message: "project \(projectID) does not exist")
                }
                let (id, name, storedModel, storedDimensions, created) = try row.decode(
                    (String, String, String?, Int?, Date).self
                )
                guard storedModel == model, storedDimensions == dimensions else {
                    throw PipelineError.modelMismatch(
                        project: Project(
                            id: id,
                            name: name,
                            embeddingModel: storedModel,
                            embeddingDimensions: storedDimensions,
                            createdAt: created
                        ),
                        model: model,
                        dimensions: dimensions
                    )
                }
                try await connection.query(
                    """
                    UPDATE records SET embedding = new.embedding::vector, embedding_model = \(model), embedded_at = \(now)
                    FROM unnest(\(ids)::text[], \(texts)::text[]) AS new (id, embedding)
                    WHERE records.id = new.id AND records.project_id = \(projectID)
                    """,
                    logger: logger
                )
            }
        }
    }
}

extension PostgresPipelineStore {
    /// Uses the HNSW index for the vector length when there is one (`prepareVectorIndex`): the query repeats the
    /// index's expression and predicate.
    public func nearest(projectID: String, to vector: [Float], model: String, limit: Int) async throws -> [SearchHit] {
        let dimensions = vector.count
        let query = "[" + vector.map { String($0) }.joined(separator: ",") + "]"
        return try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                // A wider candidate list than the default 40, so that a filter by project still finds k records.
                try await connection.query("SET LOCAL hnsw.ef_search = 200", logger: logger)
                try await connection.query("SET LOCAL hnsw.iterative_scan = relaxed_order", logger: logger)
                return try await connection.query(
                    """
                    SELECT id, external_id, text, data::text,
                           (embedding::vector(\(unescaped: String(dimensions))) <=> \(query)::vector(\(unescaped: String(dimensions))))::float8
                    FROM records
                    WHERE project_id = \(projectID) AND embedding_model = \(model)
                      AND vector_dims(embedding) = \(unescaped: String(dimensions))
                    ORDER BY embedding::vector(\(unescaped: String(dimensions))) <=> \(query)::vector(\(unescaped: String(dimensions)))
                    LIMIT \(limit)
                    """,
                    logger: logger
                ).collect().map { row in
                    let (id, external, text, data, distance) = try row.decode(
                        (String, String?, String, String, Double).self
                    )
                    return SearchHit(
                        id: id,
                        externalID: external,
                        text: text,
                        data: try JSONValue(parsing: data),
                        distance: distance
                    )
                }
            }
        }
    }

    public func prepareVectorIndex(dimensions: Int) async throws {
        // The dimension is an identifier-like literal of our own (a positive Int), not a value from outside.
        let n = String(max(1, dimensions))
        _ = try await mapErrors {
            try await client.query(
                """
                CREATE INDEX IF NOT EXISTS records_embedding_hnsw_\(unescaped: n) ON records
                USING hnsw ((embedding::vector(\(unescaped: n))) vector_cosine_ops)
                WHERE vector_dims(embedding) = \(unescaped: n)
                """,
                logger: logger
            )
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
                    UPDATE records SET embedding = NULL, embedding_model = NULL, embedded_at = NULL
                    WHERE project_id = \(projectID) AND embedded_at IS NOT NULL
                    RETURNING id
                    """,
                    logger: logger
                ).collect().count
            }
        }
    }
}
