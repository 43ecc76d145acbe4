import SluiceCore
import SluicePostgres

/// The schema of a Sluice server's PostgreSQL database: the queue's migrations first, then each library's. The
/// names (not the order of the lists) are what a database records, so a database made when they were one list
/// migrates unchanged.
enum PostgresSchema {
    static let migrations = PostgresQueueMigrations.all + PostgresAccountMigrations.all + PostgresPipelineMigrations.all
}

/// Users, sessions and API tokens. Append-only, under the same names on both databases.
enum PostgresAccountMigrations {
    static let all: [Migration] = [
        Migration(
            "20261129100000_create_accounts",
            [
                """
                CREATE TABLE sluice_users (
                    id            text        PRIMARY KEY,
                    email         text        NOT NULL UNIQUE,
                    role          text        NOT NULL CHECK (role IN ('VIEWER', 'MANAGER', 'ADMIN')),
                    password_hash text        NOT NULL,
                    created_at    timestamptz NOT NULL
                )
                """,
                // Only the SHA-256 of a session token is kept.
                """
                CREATE TABLE sluice_sessions (
                    token_hash text        PRIMARY KEY,
                    user_id    text        NOT NULL REFERENCES sluice_users (id) ON DELETE CASCADE,
                    created_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL
                )
                """,
                "CREATE INDEX sluice_sessions_user_idx ON sluice_sessions (user_id)",
                "CREATE INDEX sluice_sessions_expires_idx ON sluice_sessions (expires_at)",
            ]
        ),
        // Bearer tokens for programs: only the SHA-256 of a token is stored.
        Migration(
            "20261201110000_create_api_tokens",
            [
                """
                CREATE TABLE sluice_api_tokens (
                    id           text        PRIMARY KEY,
                    name         text        NOT NULL UNIQUE,
                    role         text        NOT NULL CHECK (role IN ('VIEWER', 'MANAGER', 'ADMIN')),
                    token_hash   text        NOT NULL UNIQUE,
                    created_at   timestamptz NOT NULL,
                    expires_at   timestamptz,
                    last_used_at timestamptz
                )
                """
            ]
        ),
    ]
}

/// Projects, ingest jobs and records (with their embeddings). Append-only, under the same names on both databases.
enum PostgresPipelineMigrations {
    static let all: [Migration] = [
        Migration(
            "20261129110000_create_projects_and_records",
            [
                """
                CREATE TABLE projects (
                    id                   text        PRIMARY KEY,
                    name                 text        NOT NULL UNIQUE,
                    embedding_model      text,
                    embedding_dimensions integer,
                    created_at           timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE ingest_jobs (
                    id           text        PRIMARY KEY,
                    project_id   text        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    status       text        NOT NULL
                                 CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
                    total        integer     NOT NULL,
                    processed    integer     NOT NULL DEFAULT 0,
                    saved        integer     NOT NULL DEFAULT 0,
                    skipped      integer     NOT NULL DEFAULT 0,
                    error        text,
                    created_at   timestamptz NOT NULL,
                    started_at   timestamptz,
                    completed_at timestamptz
                )
                """,
                "CREATE INDEX ingest_jobs_project_idx ON ingest_jobs (project_id, created_at)",
                // A large upload is split into parts, one INGEST_DATA job each; a retried part resumes here.
                """
                CREATE TABLE ingest_chunks (
                    ingest_job_id text    NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
                    chunk_index   integer NOT NULL,
                    processed     integer NOT NULL DEFAULT 0,
                    saved         integer NOT NULL DEFAULT 0,
                    skipped       integer NOT NULL DEFAULT 0,
                    done          boolean NOT NULL DEFAULT false,
                    PRIMARY KEY (ingest_job_id, chunk_index)
                )
                """,
                // The embedding column comes with 20260206000000_enable_pgvector_and_fix_embedding_type.
                """
                CREATE TABLE records (
                    id              text        PRIMARY KEY,
                    project_id      text        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    external_id     text,
                    text            text        NOT NULL,
                    data            jsonb       NOT NULL,
                    content_hash    text        NOT NULL,
                    embedding_model text,
                    embedded_at     timestamptz,
                    created_at      timestamptz NOT NULL,
                    UNIQUE (project_id, content_hash)
                )
                """,
                // Vectorization walks a project's records that have no embedding yet.
                "CREATE INDEX records_unembedded_idx ON records (project_id, created_at) WHERE embedded_at IS NULL",
            ]
        ),
        // The reference's migration, under its own name: enables pgvector and gives `records` a `vector` embedding
        // column, converting a `double precision[]` one (from the system Sluice replaces) without losing data.
        Migration(
            "20260206000000_enable_pgvector_and_fix_embedding_type",
            requires: "pgvector",
            [
                "CREATE EXTENSION IF NOT EXISTS vector",
                """
                DO $$
                BEGIN
                    IF EXISTS (
                        SELECT 1 FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = 'records'
                          AND column_name = 'embedding' AND udt_name = '_float8'
                    ) THEN
                        ALTER TABLE records ALTER COLUMN embedding TYPE vector USING embedding::vector;
                    ELSIF NOT EXISTS (
                        SELECT 1 FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = 'records' AND column_name = 'embedding'
                    ) THEN
                        ALTER TABLE records ADD COLUMN embedding vector;
                    END IF;
                END
                $$
                """,
            ]
        ),
        // Whether a project's new records are to be embedded (an upload asked for embeddings, or a re-embed), so
        // that the reconciler can queue VECTORIZE for records a lost follow-up left behind. Backfilled from the
        // projects that have embeddings already.
        Migration(
            "20261201100000_projects_generate_embeddings",
            [
                "ALTER TABLE projects ADD COLUMN generate_embeddings boolean NOT NULL DEFAULT false",
                "UPDATE projects SET generate_embeddings = true WHERE embedding_model IS NOT NULL",
            ]
        ),
        // Records keep an identity of their own (the external id, or the content hash without one) and are updated in
        // place; what is embedded moves to `chunks`, one row per piece of a record's text, so that an edited record
        // re-embeds only the chunks that changed, and a vector update no longer rewrites the record's row with its
        // JSON. The old unique content hash goes (two records with their own ids may hold the same text); each
        // existing record becomes its own first chunk, its vector kept (the HNSW indexes on `records` go with the
        // column; `prepareVectorIndex` makes them on `chunks`). An existing external id becomes the identity where
        // it is unique in its project.
        Migration(
            "20261201120000_records_identity_and_chunks",
            [
                "ALTER TABLE records ADD COLUMN record_key text, ADD COLUMN updated_at timestamptz",
                """
                UPDATE records SET record_key =
                    CASE WHEN external_id IS NOT NULL AND (
                             SELECT count(*) FROM records other
                             WHERE other.project_id = records.project_id AND other.external_id = records.external_id
                         ) = 1
                         THEN 'id:' || external_id ELSE 'sha256:' || content_hash END
                """,
                "ALTER TABLE records ALTER COLUMN record_key SET NOT NULL",
                "ALTER TABLE records DROP CONSTRAINT records_project_id_content_hash_key",
                "CREATE UNIQUE INDEX records_key_idx ON records (project_id, record_key)",
                "CREATE INDEX records_external_idx ON records (project_id, external_id)",
                """
                CREATE TABLE chunks (
                    id              text        PRIMARY KEY,
                    record_id       text        NOT NULL REFERENCES records (id) ON DELETE CASCADE,
                    position        integer     NOT NULL,
                    project_id      text        NOT NULL,
                    text            text        NOT NULL,
                    embedding       vector,
                    embedding_model text,
                    embedded_at     timestamptz,
                    created_at      timestamptz NOT NULL,
                    UNIQUE (record_id, position)
                )
                """,
                """
                INSERT INTO chunks (id, record_id, position, project_id, text, embedding, embedding_model, embedded_at,
                                    created_at)
                SELECT id, id, 0, project_id, text, embedding, embedding_model, embedded_at, created_at FROM records
                """,
                "ALTER TABLE records DROP COLUMN embedding, DROP COLUMN embedding_model, DROP COLUMN embedded_at",
                // Vectorization walks a project's chunks that have no embedding yet; search reads a project's chunks.
                "CREATE INDEX chunks_unembedded_idx ON chunks (project_id, created_at, id) WHERE embedded_at IS NULL",
                "CREATE INDEX chunks_project_idx ON chunks (project_id, embedding_model)",
                """
                ALTER TABLE ingest_jobs ADD COLUMN updated integer NOT NULL DEFAULT 0,
                    ADD COLUMN unchanged integer NOT NULL DEFAULT 0
                """,
                """
                ALTER TABLE ingest_chunks ADD COLUMN updated integer NOT NULL DEFAULT 0,
                    ADD COLUMN unchanged integer NOT NULL DEFAULT 0
                """,
            ]
        ),
        // A sync upload marks every record it carries; when it completes, the project's unmarked records go.
        Migration(
            "20261201130000_ingest_sync",
            [
                "ALTER TABLE records ADD COLUMN synced_by text",
                """
                ALTER TABLE ingest_jobs ADD COLUMN sync boolean NOT NULL DEFAULT false,
                    ADD COLUMN deleted integer NOT NULL DEFAULT 0
                """,
            ]
        ),
        // A project's own chunk size, overlap and embedding template (nil: the server's defaults, the chunk alone).
        Migration(
            "20261201140000_project_chunking",
            [
                "ALTER TABLE projects ADD COLUMN chunk_size integer, ADD COLUMN chunk_overlap integer, ADD COLUMN template text"
            ]
        ),
        // Search filters: equality through a GIN index over the records' fields, dates through the grammar of
        // ISOInstant (the same on every store: a string that is not such a date is no date, never an error).
        Migration(
            "20261202090000_search_filters",
            [
                "CREATE INDEX records_data_idx ON records USING gin (data jsonb_path_ops)",
                #"""
                CREATE FUNCTION sluice_instant(value text) RETURNS double precision
                LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
                DECLARE
                    part text[];
                    seconds double precision;
                BEGIN
                    -- 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 fraction, 8 Z, 9 sign, 10-11 offset.
                    part := regexp_match(value,
                        '^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$');
                    IF part IS NULL OR part[1]::int < 1 OR coalesce(part[4]::int, 0) > 23
                       OR coalesce(part[5]::int, 0) > 59 OR coalesce(part[6]::int, 0) > 59
                       OR coalesce(part[10]::int, 0) > 23 OR coalesce(part[11]::int, 0) > 59 THEN
                        RETURN NULL;
                    END IF;
                    -- make_timestamp checks the month and the day of the month (an error, so NULL, below).
                    seconds := extract(epoch FROM make_timestamp(part[1]::int, part[2]::int, part[3]::int,
                        coalesce(part[4]::int, 0), coalesce(part[5]::int, 0), 0));
                    seconds := seconds + coalesce(part[6]::int, 0);
                    IF part[7] IS NOT NULL THEN
                        seconds := seconds + ('0' || part[7])::double precision;
                    END IF;
                    IF part[9] IS NOT NULL THEN
                        seconds := seconds - (CASE part[9] WHEN '+' THEN 1 ELSE -1 END)
                            * (part[10]::int * 3600 + coalesce(part[11]::int, 0) * 60);
                    END IF;
                    RETURN seconds;
                EXCEPTION WHEN others THEN
                    RETURN NULL;
                END
                $$
                """#,
            ]
        ),
        // Keyword search: each chunk's words (`simple`: split and lower-cased, no stemming, no stop words) in a table
        // of their own with a GIN index. Kept beside chunks rather than in them, because saving a vector rewrites the
        // chunk's row, and every new row version would insert all its words into the GIN index again. A statement
        // trigger fills it for every path that stores chunks; deletes cascade; a chunk's text never changes (a new
        // text is a new chunk), but an update of it is followed all the same.
        Migration(
            "20261202100000_keyword_search",
            [
                """
                CREATE TABLE chunk_words (
                    chunk_id   text     PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
                    project_id text     NOT NULL,
                    words      tsvector NOT NULL
                )
                """,
                "CREATE INDEX chunk_words_idx ON chunk_words USING gin (words)",
                """
                CREATE FUNCTION sluice_chunk_words_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO chunk_words (chunk_id, project_id, words)
                    SELECT id, project_id, to_tsvector('simple', text) FROM inserted_chunks;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER chunks_words_insert AFTER INSERT ON chunks
                REFERENCING NEW TABLE AS inserted_chunks
                FOR EACH STATEMENT EXECUTE FUNCTION sluice_chunk_words_insert()
                """,
                """
                CREATE FUNCTION sluice_chunk_words_update() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE chunk_words SET words = to_tsvector('simple', NEW.text) WHERE chunk_id = NEW.id;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER chunks_words_update AFTER UPDATE OF text ON chunks
                FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION sluice_chunk_words_update()
                """,
                """
                INSERT INTO chunk_words (chunk_id, project_id, words)
                SELECT id, project_id, to_tsvector('simple', text) FROM chunks
                """,
            ]
        ),
    ]
}
