import SluiceCore

/// The queue's SQLite tables, in order, under the same names as the PostgreSQL store's queue migrations. Append-only. Libraries that keep tables in the same file append their own lists
/// (``SQLiteJobStore/init(path:migrations:busyTimeout:)``).
///
/// Times are INTEGER microseconds since 1970 UTC; JSON columns are TEXT.
public enum SQLiteQueueMigrations {
    public static let all: [Migration] = [
        Migration(
            "20261129000000_create_job_queue",
            [
                """
                CREATE TABLE job_queue (
                    id               TEXT    PRIMARY KEY NOT NULL,
                    job_type         TEXT    NOT NULL,
                    status           TEXT    NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
                    priority         INTEGER NOT NULL DEFAULT 0,
                    attempts         INTEGER NOT NULL DEFAULT 0,
                    max_attempts     INTEGER NOT NULL DEFAULT 3,
                    payload          TEXT,
                    result           TEXT,
                    progress         TEXT,
                    errors           TEXT    NOT NULL DEFAULT '[]',
                    unique_key       TEXT,
                    lease_owner      TEXT,
                    lease_expires_at INTEGER,
                    scheduled_for    INTEGER NOT NULL,
                    created_at       INTEGER NOT NULL,
                    started_at       INTEGER,
                    completed_at     INTEGER
                )
                """,
                """
                CREATE INDEX job_queue_claim_idx ON job_queue (job_type, priority DESC, scheduled_for, created_at)
                    WHERE status = 'PENDING'
                """,
                "CREATE INDEX job_queue_lease_idx ON job_queue (lease_expires_at) WHERE status = 'PROCESSING'",
                """
                CREATE INDEX job_queue_finished_idx ON job_queue (completed_at)
                    WHERE status IN ('COMPLETED', 'FAILED')
                """,
                "CREATE INDEX job_queue_created_idx ON job_queue (created_at DESC, id DESC)",
                "CREATE INDEX job_queue_status_type_idx ON job_queue (status, job_type)",
                """
                CREATE UNIQUE INDEX job_queue_unique_key_idx ON job_queue (job_type, unique_key)
                    WHERE unique_key IS NOT NULL AND status IN ('PENDING', 'PROCESSING')
                """,
            ]
        ),
        Migration(
            "20261129100100_create_scheduled_runs",
            [
                """
                CREATE TABLE sluice_scheduled_runs (
                    name       TEXT    NOT NULL,
                    slot       INTEGER NOT NULL,
                    owner      TEXT    NOT NULL,
                    claimed_at INTEGER NOT NULL,
                    PRIMARY KEY (name, slot)
                )
                """
            ]
        ),
        Migration(
            "20261129100200_index_jobs_by_status_and_age",
            ["CREATE INDEX job_queue_status_created_idx ON job_queue (status, created_at, id)"]
        ),
        Migration(
            "20261129100300_create_key_locks",
            [
                """
                CREATE TABLE sluice_key_locks (
                    key        TEXT    PRIMARY KEY NOT NULL,
                    owner      TEXT    NOT NULL,
                    expires_at INTEGER NOT NULL
                )
                """
            ]
        ),
        // Stats read maintained counts instead of scanning the table (SQLite has one writer: one row per type and
        // state, kept by row triggers inside the writing transaction).
        Migration(
            "20261129120000_count_jobs_by_type_and_state",
            [
                """
                CREATE TABLE job_queue_counts (
                    job_type TEXT    NOT NULL,
                    status   TEXT    NOT NULL,
                    n        INTEGER NOT NULL,
                    PRIMARY KEY (job_type, status)
                ) WITHOUT ROWID
                """,
                """
                INSERT INTO job_queue_counts (job_type, status, n)
                SELECT job_type, status, count(*) FROM job_queue GROUP BY job_type, status
                """,
                """
                CREATE TRIGGER job_queue_count_inserts AFTER INSERT ON job_queue BEGIN
                    INSERT INTO job_queue_counts (job_type, status, n) VALUES (NEW.job_type, NEW.status, 1)
                    ON CONFLICT (job_type, status) DO UPDATE SET n = n + 1;
                END
                """,
                """
                CREATE TRIGGER job_queue_count_updates AFTER UPDATE OF job_type, status ON job_queue
                WHEN OLD.job_type IS NOT NEW.job_type OR OLD.status IS NOT NEW.status BEGIN
                    UPDATE job_queue_counts SET n = n - 1 WHERE job_type = OLD.job_type AND status = OLD.status;
                    INSERT INTO job_queue_counts (job_type, status, n) VALUES (NEW.job_type, NEW.status, 1)
                    ON CONFLICT (job_type, status) DO UPDATE SET n = n + 1;
                END
                """,
                """
                CREATE TRIGGER job_queue_count_deletes AFTER DELETE ON job_queue BEGIN
                    UPDATE job_queue_counts SET n = n - 1 WHERE job_type = OLD.job_type AND status = OLD.status;
                END
                """,
            ]
        ),
        // Counts come from job_queue_counts now; one index fewer to update on every insert, claim and completion.
        Migration(
            "20261129120100_drop_job_queue_status_type_idx",
            ["DROP INDEX IF EXISTS job_queue_status_type_idx"]
        ),
        // PostgreSQL counts state changes per statement from here; SQLite's row triggers stay (no row versions).
        Migration("20261129120200_count_state_changes_per_statement", []),
        // PostgreSQL's autovacuum settings; SQLite frees a deleted or updated row's index entries at once.
        Migration("20261129130000_vacuum_job_queue_sooner", []),
    ]
}
