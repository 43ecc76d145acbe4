import SluiceCore
import SluiceSQLite

/// The schema of a Sluice server's SQLite file: the queue's migrations first, then each library's, under the same
/// names as on PostgreSQL.
enum SQLiteSchema {
    static let migrations = SQLiteQueueMigrations.all + SQLiteAccountMigrations.all + SQLitePipelineMigrations.all
}

/// Users, sessions and API tokens. Append-only, under the same names on both databases.
enum SQLiteAccountMigrations {
    static let all: [Migration] = [
        Migration(
            "20261129100000_create_accounts",
            [
                """
                CREATE TABLE sluice_users (
                    id            TEXT    PRIMARY KEY NOT NULL,
                    email         TEXT    NOT NULL UNIQUE,
                    role          TEXT    NOT NULL CHECK (role IN ('VIEWER', 'MANAGER', 'ADMIN')),
                    password_hash TEXT    NOT NULL,
                    created_at    INTEGER NOT NULL
                )
                """,
                """
                CREATE TABLE sluice_sessions (
                    token_hash TEXT    PRIMARY KEY NOT NULL,
                    user_id    TEXT    NOT NULL REFERENCES sluice_users (id) ON DELETE CASCADE,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                )
                """,
                "CREATE INDEX sluice_sessions_user_idx ON sluice_sessions (user_id)",
                "CREATE INDEX sluice_sessions_expires_idx ON sluice_sessions (expires_at)",
            ]
        ),
        Migration(
            "20261201110000_create_api_tokens",
            [
                """
                CREATE TABLE sluice_api_tokens (
                    id           TEXT    PRIMARY KEY NOT NULL,
                    name         TEXT    NOT NULL UNIQUE,
                    role         TEXT    NOT NULL CHECK (role IN ('VIEWER', 'MANAGER', 'ADMIN')),
                    token_hash   TEXT    NOT NULL UNIQUE,
                    created_at   INTEGER NOT NULL,
                    expires_at   INTEGER,
                    last_used_at INTEGER
                )
                """
            ]
        ),
    ]
}

/// Projects, ingest jobs and records (with their embeddings). Append-only, under the same names on both databases.
enum SQLitePipelineMigrations {
    static let all: [Migration] = [
        Migration(
            "20261129110000_create_projects_and_records",
            [
                """
                CREATE TABLE projects (
                    id                   TEXT    PRIMARY KEY NOT NULL,
                    name                 TEXT    NOT NULL UNIQUE,
                    embedding_model      TEXT,
                    embedding_dimensions INTEGER,
                    created_at           INTEGER NOT NULL
                )
                """,
                """
                CREATE TABLE ingest_jobs (
                    id           TEXT    PRIMARY KEY NOT NULL,
                    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    status       TEXT    NOT NULL
                                 CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
                    total        INTEGER NOT NULL,
                    processed    INTEGER NOT NULL DEFAULT 0,
                    saved        INTEGER NOT NULL DEFAULT 0,
                    skipped      INTEGER NOT NULL DEFAULT 0,
                    error        TEXT,
                    created_at   INTEGER NOT NULL,
                    started_at   INTEGER,
                    completed_at INTEGER
                )
                """,
                "CREATE INDEX ingest_jobs_project_idx ON ingest_jobs (project_id, created_at)",
                """
                CREATE TABLE ingest_chunks (
                    ingest_job_id TEXT    NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
                    chunk_index   INTEGER NOT NULL,
                    processed     INTEGER NOT NULL DEFAULT 0,
                    saved         INTEGER NOT NULL DEFAULT 0,
                    skipped       INTEGER NOT NULL DEFAULT 0,
                    done          INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (ingest_job_id, chunk_index)
                )
                """,
                """
                CREATE TABLE records (
                    id              TEXT    PRIMARY KEY NOT NULL,
                    project_id      TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    external_id     TEXT,
                    text            TEXT    NOT NULL,
                    data            TEXT    NOT NULL,
                    content_hash    TEXT    NOT NULL,
                    embedding_model TEXT,
                    embedded_at     INTEGER,
                    created_at      INTEGER NOT NULL,
                    UNIQUE (project_id, content_hash)
                )
                """,
                "CREATE INDEX records_unembedded_idx ON records (project_id, created_at) WHERE embedded_at IS NULL",
            ]
        ),
        // Same name as PostgreSQL's: SQLite keeps embeddings as little-endian float32 blobs.
        Migration(
            "20260206000000_enable_pgvector_and_fix_embedding_type",
            ["ALTER TABLE records ADD COLUMN embedding BLOB"]
        ),
        Migration(
            "20261201100000_projects_generate_embeddings",
            [
                "ALTER TABLE projects ADD COLUMN generate_embeddings INTEGER NOT NULL DEFAULT 0",
                "UPDATE projects SET generate_embeddings = 1 WHERE embedding_model IS NOT NULL",
            ]
        ),
        // Records keep an identity of their own (the external id, or the content hash without one) and are updated in
        // place; what is embedded moves to `chunks`, one row per piece of a record's text, so that an edited record
        // re-embeds only the chunks that changed. The old unique content hash goes (two records with their own ids
        // may hold the same text); each existing record becomes its own first chunk, its vector kept. An existing
        // external id becomes the identity where it is unique in its project.
        Migration(
            "20261201120000_records_identity_and_chunks",
            [
                """
                CREATE TABLE records_new (
                    id           TEXT    PRIMARY KEY NOT NULL,
                    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    record_key   TEXT    NOT NULL,
                    external_id  TEXT,
                    text         TEXT    NOT NULL,
                    data         TEXT    NOT NULL,
                    content_hash TEXT    NOT NULL,
                    created_at   INTEGER NOT NULL,
                    updated_at   INTEGER
                )
                """,
                """
                INSERT INTO records_new (id, project_id, record_key, external_id, text, data, content_hash, created_at)
                SELECT id, project_id,
                       CASE WHEN external_id IS NOT NULL AND (
                                SELECT count(*) FROM records other
                                WHERE other.project_id = records.project_id AND other.external_id = records.external_id
                            ) = 1
                            THEN 'id:' || external_id ELSE 'sha256:' || content_hash END,
                       external_id, text, data, content_hash, created_at
                FROM records
                """,
                """
                CREATE TABLE old_vectors AS
                SELECT id, project_id, text, embedding, embedding_model, embedded_at, created_at FROM records
                """,
                "DROP TABLE records",
                "ALTER TABLE records_new RENAME TO records",
                "CREATE UNIQUE INDEX records_key_idx ON records (project_id, record_key)",
                "CREATE INDEX records_external_idx ON records (project_id, external_id)",
                """
                CREATE TABLE chunks (
                    id              TEXT    PRIMARY KEY NOT NULL,
                    record_id       TEXT    NOT NULL REFERENCES records (id) ON DELETE CASCADE,
                    position        INTEGER NOT NULL,
                    project_id      TEXT    NOT NULL,
                    text            TEXT    NOT NULL,
                    embedding       BLOB,
                    embedding_model TEXT,
                    embedded_at     INTEGER,
                    created_at      INTEGER NOT NULL,
                    UNIQUE (record_id, position)
                )
                """,
                """
                INSERT INTO chunks (id, record_id, position, project_id, text, embedding, embedding_model, embedded_at,
                                    created_at)
                SELECT id, id, 0, project_id, text, embedding, embedding_model, embedded_at, created_at FROM old_vectors
                """,
                "DROP TABLE old_vectors",
                // Vectorization walks a project's chunks that have no embedding yet; search reads a project's chunks.
                "CREATE INDEX chunks_unembedded_idx ON chunks (project_id, created_at, id) WHERE embedded_at IS NULL",
                "CREATE INDEX chunks_project_idx ON chunks (project_id, embedding_model)",
                "ALTER TABLE ingest_jobs ADD COLUMN updated INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE ingest_jobs ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE ingest_chunks ADD COLUMN updated INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE ingest_chunks ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0",
            ]
        ),
        // A sync upload marks every record it carries; when it completes, the project's unmarked records go.
        Migration(
            "20261201130000_ingest_sync",
            [
                "ALTER TABLE records ADD COLUMN synced_by TEXT",
                "ALTER TABLE ingest_jobs ADD COLUMN sync INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE ingest_jobs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
            ]
        ),
        // A project's own chunk size, overlap and embedding template (nil: the server's defaults, the chunk alone).
        Migration(
            "20261201140000_project_chunking",
            [
                "ALTER TABLE projects ADD COLUMN chunk_size INTEGER",
                "ALTER TABLE projects ADD COLUMN chunk_overlap INTEGER",
                "ALTER TABLE projects ADD COLUMN template TEXT",
            ]
        ),
        // Search filters read the records' JSON with json_type, json_each and sluice_instant, a function every
        // connection registers: nothing to store (the name keeps the stores' histories alike).
        Migration("20261202090000_search_filters", []),
        // Keyword search: an FTS5 index over the chunks' text (its content stays in chunks, found by rowid), kept by
        // triggers, so every path that stores or deletes chunks (deletes cascading from records too) keeps it.
        // unicode61 without diacritic removal: words split and case-folded as PostgreSQL's `simple` does.
        Migration(
            "20261202100000_keyword_search",
            [
                """
                CREATE VIRTUAL TABLE chunks_fts USING fts5(
                    text, content = 'chunks', content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 0')
                """,
                """
                CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
                    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
                END
                """,
                """
                CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
                    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
                END
                """,
                """
                CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
                    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
                    INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
                END
                """,
                "INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')",
            ]
        ),
    ]
}
