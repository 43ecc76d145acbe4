import PostgresNIO
import SluiceCore

/// The queue's PostgreSQL tables (`job_queue`, its counts, scheduled runs, key locks), in order. Append-only: never
/// edit a migration that has shipped. Libraries that keep tables in the same database append their own lists
/// (``PostgresJobStore/init(configuration:migrations:logger:)``).
public enum PostgresQueueMigrations {
    public static let all: [Migration] = [
        Migration(
            "20261129000000_create_job_queue",
            [
                """
                CREATE TABLE job_queue (
                    id               text        PRIMARY KEY,
                    job_type         text        NOT NULL,
                    status           text        NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
                    priority         integer     NOT NULL DEFAULT 0,
                    attempts         integer     NOT NULL DEFAULT 0,
                    max_attempts     integer     NOT NULL DEFAULT 3,
                    payload          jsonb,
                    result           jsonb,
                    progress         jsonb,
                    errors           jsonb       NOT NULL DEFAULT '[]'::jsonb,
                    unique_key       text,
                    lease_owner      text,
                    lease_expires_at timestamptz,
                    scheduled_for    timestamptz NOT NULL DEFAULT now(),
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    started_at       timestamptz,
                    completed_at     timestamptz
                )
                """,
                // Claiming walks only the ready set, in claim order, whatever the size of the finished history.
                """
                CREATE INDEX job_queue_claim_idx ON job_queue (job_type, priority DESC, scheduled_for, created_at)
                    WHERE status = 'PENDING'
                """,
                // The rescuer looks only at running jobs.
                "CREATE INDEX job_queue_lease_idx ON job_queue (lease_expires_at) WHERE status = 'PROCESSING'",
                // Cleanup finds finished jobs by age.
                """
                CREATE INDEX job_queue_finished_idx ON job_queue (completed_at)
                    WHERE status IN ('COMPLETED', 'FAILED')
                """,
                // Recent jobs for the monitor and `sluice jobs list`, and per-state counts.
                "CREATE INDEX job_queue_created_idx ON job_queue (created_at DESC, id DESC)",
                "CREATE INDEX job_queue_status_type_idx ON job_queue (status, job_type)",
                // A unique key is unique among the unfinished jobs of a type.
                """
                CREATE UNIQUE INDEX job_queue_unique_key_idx ON job_queue (job_type, unique_key)
                    WHERE unique_key IS NOT NULL AND status IN ('PENDING', 'PROCESSING')
                """,
            ]
        ),
        Migration(
            "20261129100100_create_scheduled_runs",
            [
                // One row per scheduled run: the primary key makes each (name, slot) run once per cluster.
                """
                CREATE TABLE sluice_scheduled_runs (
                    name       text        NOT NULL,
                    slot       timestamptz NOT NULL,
                    owner      text        NOT NULL,
                    claimed_at timestamptz NOT NULL,
                    PRIMARY KEY (name, slot)
                )
                """
            ]
        ),
        Migration(
            "20261129100200_index_jobs_by_status_and_age",
            [
                // The monitor's oldest pending job, and recent jobs filtered by state, without a scan.
                "CREATE INDEX job_queue_status_created_idx ON job_queue (status, created_at, id)"
            ]
        ),
        Migration(
            "20261129100300_create_key_locks",
            [
                // A row per concurrency key in use (VECTORIZE: a project), held by one worker until it expires.
                """
                CREATE TABLE sluice_key_locks (
                    key        text        PRIMARY KEY,
                    owner      text        NOT NULL,
                    expires_at timestamptz NOT NULL
                )
                """
            ]
        ),
        // Stats read maintained counts instead of scanning the table. Each change adds to a row of its own
        // connection's slot (its backend pid), so concurrent workers never wait on one another's counts (one hot row
        // per state would serialise every claim); `stats()` sums the slots and folds those of ended connections
        // into slot 0. Inserts and deletes are counted once per statement (bulk enqueue, cleanup); updates per
        // row, and only when the state or type changes (a progress update or a lease renewal costs nothing).
        Migration(
            "20261129120000_count_jobs_by_type_and_state",
            [
                """
                CREATE TABLE job_queue_counts (
                    job_type text    NOT NULL,
                    status   text    NOT NULL,
                    slot     integer NOT NULL,
                    n        bigint  NOT NULL,
                    PRIMARY KEY (job_type, status, slot)
                )
                """,
                """
                CREATE FUNCTION job_queue_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'TRUNCATE' THEN
                        DELETE FROM job_queue_counts;
                    ELSIF TG_OP = 'INSERT' THEN
                        INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
                        SELECT job_type, status, pg_backend_pid(), count(*) FROM new_rows GROUP BY job_type, status
                        ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
                    ELSE
                        INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
                        SELECT job_type, status, pg_backend_pid(), -count(*) FROM old_rows GROUP BY job_type, status
                        ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE FUNCTION job_queue_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
                    VALUES (OLD.job_type, OLD.status, pg_backend_pid(), -1), (NEW.job_type, NEW.status, pg_backend_pid(), 1)
                    ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
                    RETURN NULL;
                END
                $$
                """,
                // Writers wait while the existing rows are counted, so no change is counted twice or missed.
                "LOCK TABLE job_queue IN SHARE ROW EXCLUSIVE MODE",
                """
                CREATE TRIGGER job_queue_count_inserts AFTER INSERT ON job_queue
                    REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION job_queue_count_statement()
                """,
                """
                CREATE TRIGGER job_queue_count_updates AFTER UPDATE OF job_type, status ON job_queue
                    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.job_type IS DISTINCT FROM NEW.job_type)
                    EXECUTE FUNCTION job_queue_count_row()
                """,
                """
                CREATE TRIGGER job_queue_count_deletes AFTER DELETE ON job_queue
                    REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION job_queue_count_statement()
                """,
                """
                CREATE TRIGGER job_queue_count_truncates AFTER TRUNCATE ON job_queue
                    FOR EACH STATEMENT EXECUTE FUNCTION job_queue_count_statement()
                """,
                """
                INSERT INTO job_queue_counts (job_type, status, slot, n)
                SELECT job_type, status, 0, count(*) FROM job_queue GROUP BY job_type, status
                """,
            ]
        ),
        // Counts come from job_queue_counts now; one index fewer to update on every insert, claim and completion.
        Migration(
            "20261129120100_drop_job_queue_status_type_idx",
            ["DROP INDEX IF EXISTS job_queue_status_type_idx"]
        ),
        // Row-level counting made one statement that changes the state of many jobs quadratic (every row updated
        // the same count rows again within one transaction: 10,000 rows took 3.4 s, 29,000 took 28 s); counted once
        // per statement instead, from its transition tables, like inserts and deletes.
        Migration(
            "20261129120200_count_state_changes_per_statement",
            [
                "DROP TRIGGER job_queue_count_updates ON job_queue",
                "DROP FUNCTION job_queue_count_row()",
                """
                CREATE FUNCTION job_queue_count_update_statement() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
                    SELECT job_type, status, pg_backend_pid(), sum(change) FROM (
                        SELECT job_type, status, 1 AS change FROM new_rows
                        UNION ALL
                        SELECT job_type, status, -1 FROM old_rows
                    ) AS changes
                    GROUP BY job_type, status HAVING sum(change) <> 0
                    ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER job_queue_count_updates AFTER UPDATE ON job_queue
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION job_queue_count_update_statement()
                """,
            ]
        ),
        // Every job leaves dead row versions behind (claim, completion), and their index entries stay until VACUUM:
        // claims and the monitor's oldest-pending lookup step over them. PostgreSQL's default waits until a fifth
        // of the table is dead (200,000 rows in a million-job table); measured at 2,000,000 rows, 500,000 jobs
        // finished since the last vacuum took a claim from 0.49 to 0.91 ms, and 1,000,000 the oldest-pending
        // lookup from 0.14 to 4-14 ms (4,931 index pages). Vacuum after 1% instead, as queue tables usually are.
        Migration(
            "20261129130000_vacuum_job_queue_sooner",
            [
                """
                ALTER TABLE job_queue SET (
                    autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
                    autovacuum_analyze_scale_factor = 0.02)
                """
            ]
        ),
    ]
}
