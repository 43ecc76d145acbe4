import Foundation
import PostgresNIO
import SluiceCore

/// The statements every job passes through, prepared once per connection: the server parses and plans them once
/// instead of on every call (about half the cost of a one-row insert).
enum PostgresStatements {
    /// Adds one job unless an unfinished job of its type holds its unique key, and notifies listeners of its type
    /// in the same statement; returns the id when inserted.
    struct InsertJob: PostgresPreparedStatement {
        static let sql = """
            WITH inserted AS (
                INSERT INTO job_queue (id, job_type, priority, max_attempts, payload, unique_key, scheduled_for,
                                       created_at)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
                ON CONFLICT DO NOTHING
                RETURNING id, job_type)
            SELECT id FROM inserted,
                LATERAL (SELECT pg_notify('\(PostgresJobStore.readyChannel)', inserted.job_type)) AS notified
            """

        var id: String
        var job: NewJob
        var now: Date

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 8)
            bindings.append(id)
            bindings.append(job.jobType.rawValue)
            bindings.append(job.priority)
            bindings.append(job.maxAttempts)
            bindings.append(job.payloadText)
            bindings.append(job.uniqueKey)
            bindings.append(job.scheduledFor ?? now)
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
    }

    /// Adds many jobs in one statement (arrays unnested side by side); returns the ids it inserted.
    struct InsertJobs: PostgresPreparedStatement {
        static let sql = """
            WITH inserted AS (
                INSERT INTO job_queue (id, job_type, priority, max_attempts, payload, unique_key, scheduled_for,
                                       created_at)
                SELECT id, job_type, priority, max_attempts, payload::jsonb, NULLIF(unique_key, ''), scheduled_for, $8
                FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[],
                            $7::timestamptz[])
                     AS new (id, job_type, priority, max_attempts, payload, unique_key, scheduled_for)
                ON CONFLICT DO NOTHING
                RETURNING id, job_type)
            SELECT id FROM inserted,
                LATERAL (SELECT pg_notify('\(PostgresJobStore.readyChannel)', inserted.job_type)) AS notified
            """

        var ids: [String]
        var jobs: [NewJob]
        var now: Date

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 8)
            bindings.append(ids)
            bindings.append(jobs.map(\.jobType.rawValue))
            bindings.append(jobs.map(\.priority))
            bindings.append(jobs.map(\.maxAttempts))
            bindings.append(jobs.map(\.payloadText))
            bindings.append(jobs.map { $0.uniqueKey ?? "" })  // "" stands for NULL: validation forbids empty keys
            bindings.append(jobs.map { $0.scheduledFor ?? now })
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
    }

    /// Claims up to `limit` ready jobs of `types`. Each type is read from the head of its own ordered partial
    /// index (`job_queue_claim_idx`), so a claim reads a handful of index entries however many jobs wait; the
    /// heads are then merged in claim order. Rows a type's head locked but the merge did not pick are released
    /// when the statement ends.
    struct ClaimJobs: PostgresPreparedStatement {
        static let sql = """
            WITH next AS (
                SELECT candidate.id AS next_id
                FROM unnest($1::text[]) AS wanted (job_type),
                LATERAL (
                    SELECT id, priority, scheduled_for, created_at FROM job_queue
                    WHERE status = 'PENDING' AND job_queue.job_type = wanted.job_type AND scheduled_for <= $2
                    ORDER BY priority DESC, scheduled_for, created_at
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                ) AS candidate
                ORDER BY candidate.priority DESC, candidate.scheduled_for, candidate.created_at
                LIMIT $3
            )
            UPDATE job_queue
            SET status = 'PROCESSING', attempts = attempts + 1, started_at = $2, lease_owner = $4,
                lease_expires_at = $5
            FROM next WHERE id = next.next_id
            RETURNING \(PostgresJobStore.columns)
            """

        var types: [String]
        var limit: Int
        var owner: String
        var now: Date
        var leaseExpiresAt: Date

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(types)
            bindings.append(now)
            bindings.append(limit)
            bindings.append(owner)
            bindings.append(leaseExpiresAt)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Job { try PostgresJobStore.decodeJob(row) }
    }

    /// Completes the jobs whose leases are still held, in one statement; returns the ids it completed.
    struct CompleteJobs: PostgresPreparedStatement {
        static let sql = """
            UPDATE job_queue AS job
            SET status = 'COMPLETED', result = NULLIF(done.result, '')::jsonb, payload = NULL, completed_at = $4,
                lease_owner = NULL, lease_expires_at = NULL
            FROM unnest($1::text[], $2::text[], $3::text[]) AS done (id, owner, result)
            WHERE job.id = done.id AND job.status = 'PROCESSING' AND job.lease_owner = done.owner
            RETURNING job.id
            """

        var completions: [JobCompletion]
        var now: Date

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(completions.map(\.lease.jobID))
            bindings.append(completions.map(\.lease.owner))
            bindings.append(completions.map { $0.result?.jsonText ?? "" })  // "" stands for NULL: not valid JSON
            bindings.append(now)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> String { try row.decode(String.self) }
    }
}
