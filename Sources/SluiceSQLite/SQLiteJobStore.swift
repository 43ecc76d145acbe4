import Foundation
import GRDB
import Logging
import SluiceCore

/// The embedded store: `job_queue` in one SQLite file in WAL mode, shareable by several processes on one machine.
///
/// SQLite has no row locks, so a claim is one `BEGIN IMMEDIATE` write transaction: claimers take turns, and each job
/// goes to exactly one of them.
public final class SQLiteJobStore: JobStore, ScheduleStore, KeyLockStore, JobNotifyingStore {
    private let signal = JobSignal()
    /// The file's connection pool; stores of other libraries (accounts, the pipeline) share it.
    public let database: SQLiteDatabase
    public var location: String { database.location }
    /// The migrations ``migrate()`` applies, in order: ``SQLiteQueueMigrations/all`` and any appended.
    public let migrations: [Migration]

    private static let columns = """
        id, job_type, status, priority, attempts, max_attempts, payload, result, progress, errors, unique_key, \
        lease_owner, lease_expires_at, scheduled_for, created_at, started_at, completed_at
        """

    /// Opens (creating when needed, with its folder) the database file at `path`.
    ///
    /// - Parameters:
    ///   - migrations: the schema this store keeps current. Default the queue's own tables; a library that keeps its
    ///     tables in the same file appends its migrations (same names on every store).
    ///   - busyTimeout: how long a writer waits for another process's write lock before failing. Default 30 s.
    public init(
        path: String,
        migrations: [Migration] = SQLiteQueueMigrations.all,
        busyTimeout: Duration = .seconds(30)
    ) throws {
        let location = "sqlite:\(path)"
        do {
            // The file holds password hashes, payloads and records: readable by its owner only. A folder Sluice
            // creates is 0700; a new file is created 0600 before SQLite opens it (its -wal and -shm files take the
            // main file's mode). Existing files and folders keep the mode their owner gave them.
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(
                at: folder,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            var configuration = GRDB.Configuration()
            configuration.busyMode = .timeout(busyTimeout.timeInterval)
            configuration.label = "sluice"
            configuration.prepareDatabase { db in
                // WAL with synchronous=NORMAL: commits survive a crash of any process; only a power loss can take
                // the last few commits. FULL would sync every claim and completion to disk.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // Reads through a memory map rather than read(2) into a 2 MB page cache: an exact vector search
                // reads every embedded chunk of a project (about 160 MB at 100,000 chunks of 384 dimensions).
                try db.execute(sql: "PRAGMA mmap_size = \(1 << 30)")
                // Dates in search filters, by the one grammar every store shares.
                db.add(
                    function: DatabaseFunction("sluice_instant", argumentCount: 1, pure: true) { values in
                        String.fromDatabaseValue(values[0]).flatMap(ISOInstant.seconds)
                    }
                )
            }
            database = SQLiteDatabase(
                pool: try DatabasePool(path: path, configuration: configuration),
                location: location
            )
        } catch let error as DatabaseError {
            throw QueueError.storeUnavailable(location, reason: error.message ?? "\(error.resultCode)")
        } catch {
            throw QueueError.storeUnavailable(location, reason: error.localizedDescription)
        }
        self.migrations = migrations
    }

    // MARK: Schema

    public func migrate() async throws -> [String] {
        let migrations = migrations
        return try await write { db in
            try db.execute(
                sql:
                    "CREATE TABLE IF NOT EXISTS sluice_migrations (name TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)"
            )
            let status = SchemaStatus(known: migrations, applied: try Self.appliedMigrations(db))
            if !status.unknown.isEmpty { try status.requireCurrent() }
            var applied: [String] = []
            for migration in migrations where status.pending.contains(migration.name) {
                for statement in migration.statements { try db.execute(sql: statement) }
                try db.execute(
                    sql: "INSERT INTO sluice_migrations (name, applied_at) VALUES (?, ?)",
                    arguments: [migration.name, Self.micros(Date())]
                )
                applied.append(migration.name)
            }
            return applied
        }
    }

    public func schemaStatus() async throws -> SchemaStatus {
        let migrations = migrations
        return try await read { db in
            SchemaStatus(known: migrations, applied: try Self.appliedMigrations(db))
        }
    }

    private static func appliedMigrations(_ db: Database) throws -> [String] {
        guard try db.tableExists("sluice_migrations") else { return [] }
        return try String.fetchAll(db, sql: "SELECT name FROM sluice_migrations ORDER BY name")
    }

    // MARK: Producers

    public func insert(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        let results = try await insertRows(jobs, now: now)
        signal.announce(jobs, results, now: now)
        return results
    }

    /// Workers in this process hear of jobs enqueued through this store at once; workers in other processes
    /// sharing the file find them at their next poll.
    public func readyJobs() -> AsyncStream<JobType?> { signal.subscribe() }

    private func insertRows(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        try await write { db in try Self.insertRows(jobs, db, now: now) }
    }

    /// Inside the caller's write transaction, in which the holder of a unique key cannot finish meanwhile.
    private static func insertRows(_ jobs: [NewJob], _ db: GRDB.Database, now: Date) throws -> [EnqueueResult] {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO job_queue (id, job_type, priority, max_attempts, payload, unique_key, scheduled_for,
                                       created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """
        )
        return try jobs.map { job in
            let id = JobID.make(at: now)
            try insert.execute(arguments: [
                id, job.jobType.rawValue, job.priority, job.maxAttempts, job.payloadText, job.uniqueKey,
                Self.micros(job.scheduledFor ?? now), Self.micros(now),
            ])
            if db.changesCount > 0 { return EnqueueResult(id: id, inserted: true) }
            let holder = try String.fetchOne(
                db,
                sql: """
                    SELECT id FROM job_queue WHERE job_type = ? AND unique_key = ?
                      AND status IN ('PENDING', 'PROCESSING')
                    """,
                arguments: [job.jobType.rawValue, job.uniqueKey]
            )
            return EnqueueResult(id: holder ?? id, inserted: false)
        }
    }

    // MARK: Workers

    /// Each requested type is read from the head of its own ordered partial index (`job_queue_claim_idx`), so a
    /// claim reads a handful of index entries however many jobs wait; the heads are then merged in claim order.
    public func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws
        -> [Job]
    {
        let typeNames = Array(Set(types.map(\.rawValue)))
        let head = """
            SELECT * FROM (
                SELECT id, priority, scheduled_for, created_at FROM job_queue
                WHERE status = 'PENDING' AND job_type = ? AND +scheduled_for <= ?
                ORDER BY priority DESC, scheduled_for, created_at
                LIMIT ?)
            """
        // `+scheduled_for`: keeps SQLite from using the time as an index range, which would skip-scan the index and
        // sort every ready job (0.4 s with a million pending) instead of reading it in order (under 2 ms).
        var arguments: [(any DatabaseValueConvertible)?] = [Self.micros(now), owner, Self.micros(leaseExpiresAt)]
        for type in typeNames { arguments += [type, Self.micros(now), limit] }
        arguments.append(limit)
        let statementArguments = StatementArguments(arguments)
        let heads = Array(repeating: head, count: typeNames.count).joined(separator: "\nUNION ALL\n")
        return try await write { db in
            try Row.fetchAll(
                db,
                sql: """
                    UPDATE job_queue
                    SET status = 'PROCESSING', attempts = attempts + 1, started_at = ?, lease_owner = ?,
                        lease_expires_at = ?
                    WHERE id IN (
                        SELECT id FROM (\(heads))
                        ORDER BY priority DESC, scheduled_for, created_at
                        LIMIT ?)
                    RETURNING \(Self.columns)
                    """,
                arguments: statementArguments
            ).map(Self.decodeJob)
        }
    }

    public func complete(_ lease: JobLease, result: JSONValue?, now: Date) async throws -> Bool {
        try await complete([JobCompletion(lease: lease, result: result)], now: now)[0]
    }

    /// One write transaction: the completion, then the follow-ups.
    public func complete(_ lease: JobLease, result: JSONValue?, followUps: [NewJob], now: Date) async throws -> Bool {
        let results = try await write { db -> [EnqueueResult]? in
            guard try Self.complete([JobCompletion(lease: lease, result: result)], db, now: now)[0] else { return nil }
            return try Self.insertRows(followUps, db, now: now)
        }
        guard let results else { return false }
        signal.announce(followUps, results, now: now)
        return true
    }

    /// One write transaction for the whole batch.
    public func complete(_ completions: [JobCompletion], now: Date) async throws -> [Bool] {
        try await write { db in try Self.complete(completions, db, now: now) }
    }

    private static func complete(_ completions: [JobCompletion], _ db: GRDB.Database, now: Date) throws -> [Bool] {
        let update = try db.cachedStatement(
            sql: """
                UPDATE job_queue
                SET status = 'COMPLETED', result = ?, payload = NULL, completed_at = ?,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ? AND status = 'PROCESSING' AND lease_owner = ?
                """
        )
        return try completions.map { completion in
            try update.execute(arguments: [
                completion.result?.jsonText, Self.micros(now), completion.lease.jobID, completion.lease.owner,
            ])
            return db.changesCount > 0
        }
    }

    public func fail(_ lease: JobLease, error: AttemptError, retryAt: Date?, now: Date) async throws -> Bool {
        let entry = StoredJSON.encode(error)
        if let retryAt {
            return try await changesRow(
                """
                UPDATE job_queue
                SET status = 'PENDING', scheduled_for = ?, errors = json_insert(errors, '$[#]', json(?)),
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ? AND status = 'PROCESSING' AND lease_owner = ?
                """,
                [Self.micros(retryAt), entry, lease.jobID, lease.owner]
            )
        }
        return try await changesRow(
            """
            UPDATE job_queue
            SET status = 'FAILED', result = json_object('error', ?), completed_at = ?,
                errors = json_insert(errors, '$[#]', json(?)), lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ? AND status = 'PROCESSING' AND lease_owner = ?
            """,
            [error.message, Self.micros(now), entry, lease.jobID, lease.owner]
        )
    }

    public func release(_ lease: JobLease, availableAt: Date) async throws -> Bool {
        try await changesRow(
            """
            UPDATE job_queue
            SET status = 'PENDING', attempts = attempts - 1, scheduled_for = ?, started_at = NULL,
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ? AND status = 'PROCESSING' AND lease_owner = ?
            """,
            [Self.micros(availableAt), lease.jobID, lease.owner]
        )
    }

    public func updateProgress(_ lease: JobLease, progress: JobProgress, leaseExpiresAt: Date) async throws -> Bool {
        try await changesRow(
            """
            UPDATE job_queue SET progress = ?, lease_expires_at = ?
            WHERE id = ? AND status = 'PROCESSING' AND lease_owner = ?
            """,
            [StoredJSON.encode(progress), Self.micros(leaseExpiresAt), lease.jobID, lease.owner]
        )
    }

    // MARK: Operators

    public func job(id: String) async throws -> Job? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM job_queue WHERE id = ?", arguments: [id])
                .map(Self.decodeJob)
        }
    }

    public func jobs(matching filter: JobFilter) async throws -> [Job] {
        let status = filter.status?.rawValue
        let type = filter.jobType?.rawValue
        let order = filter.oldestFirst ? "created_at, id" : "created_at DESC, id DESC"
        return try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.columns) FROM job_queue
                    WHERE (? IS NULL OR status = ?) AND (? IS NULL OR job_type = ?)
                    ORDER BY \(order)
                    LIMIT ?
                    """,
                arguments: [status, status, type, type, max(0, filter.limit)]
            ).map(Self.decodeJob)
        }
    }

    /// Reads the counts the `job_queue_counts` triggers keep: one row per type and state, however many jobs.
    public func stats() async throws -> QueueStats {
        try await read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT job_type, status, n FROM job_queue_counts WHERE n <> 0")
            return QueueStats(
                rows: rows.compactMap { row in
                    JobStatus(rawValue: row[1]).map { (JobType(rawValue: row[0]), $0, row[2]) }
                }
            )
        }
    }

    public func finishedPerMinute(since: Date) async throws -> [ThroughputMinute] {
        try await read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT completed_at / 60000000, status, count(*)
                    FROM job_queue
                    WHERE status IN ('COMPLETED', 'FAILED') AND completed_at >= ?
                    GROUP BY 1, 2
                    """,
                arguments: [Self.micros(since)]
            )
            return ThroughputMinute.fromRows(
                rows.compactMap { row in
                    JobStatus(rawValue: row[1]).map { (minute: row[0], status: $0, count: row[2]) }
                }
            )
        }
    }

    public func retry(id: String, now: Date) async throws {
        try await write { db in
            guard
                let status = try String.fetchOne(db, sql: "SELECT status FROM job_queue WHERE id = ?", arguments: [id])
            else { throw QueueError.jobNotFound(id) }
            try QueueTransitions.checkRetry(id: id, status: try JobStatus(stored: status))
            do {
                try db.execute(
                    sql: """
                        UPDATE job_queue
                        SET status = 'PENDING', attempts = 0, scheduled_for = ?, result = NULL, progress = NULL,
                            started_at = NULL, completed_at = NULL
                        WHERE id = ?
                        """,
                    arguments: [Self.micros(now), id]
                )
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw QueueError.invalidTransition(
                    id,
                    from: .failed,
                    reason: "cannot be retried: an unfinished job of its type holds the same unique key"
                )
            }
        }
    }

    public func cancel(id: String, result: JSONValue, now: Date) async throws {
        try await write { db in
            guard
                let status = try String.fetchOne(db, sql: "SELECT status FROM job_queue WHERE id = ?", arguments: [id])
            else { throw QueueError.jobNotFound(id) }
            try QueueTransitions.checkCancel(id: id, status: try JobStatus(stored: status))
            try db.execute(
                sql: """
                    UPDATE job_queue
                    SET status = 'FAILED', result = ?, completed_at = ?, lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = ?
                    """,
                arguments: [result.jsonText, Self.micros(now), id]
            )
        }
    }

    public func deleteFinished(before cutoff: Date, limit: Int) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: """
                    DELETE FROM job_queue WHERE id IN (
                        SELECT id FROM job_queue
                        WHERE status IN ('COMPLETED', 'FAILED') AND completed_at < ?
                        LIMIT ?)
                    """,
                arguments: [Self.micros(cutoff), limit]
            )
            return db.changesCount
        }
    }

    public func rescueExpired(now: Date, error message: String) async throws -> RescueResult {
        let nowMicros = Self.micros(now)
        return try await write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    UPDATE job_queue SET
                        status = CASE WHEN attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
                        scheduled_for = CASE WHEN attempts < max_attempts THEN ? ELSE scheduled_for END,
                        result = CASE WHEN attempts < max_attempts THEN result ELSE json_object('error', ?) END,
                        completed_at = CASE WHEN attempts < max_attempts THEN NULL ELSE ? END,
                        errors = json_insert(errors, '$[#]',
                            json_object('attempt', attempts, 'at', ?, 'message', ?)),
                        lease_owner = NULL, lease_expires_at = NULL
                    WHERE status = 'PROCESSING' AND lease_expires_at < ?
                    RETURNING id, status
                    """,
                arguments: [nowMicros, message, nowMicros, StoredJSON.timestamp(now), message, nowMicros]
            )
            var result = RescueResult()
            for row in rows {
                let id: String = row[0]
                if row[1] == JobStatus.pending.rawValue { result.requeued.append(id) } else { result.failed.append(id) }
            }
            return result
        }
    }

    // MARK: Scheduled runs

    public func claimScheduledRun(name: String, slot: Date, owner: String, now: Date) async throws -> Bool {
        let arguments: StatementArguments = [name, Self.micros(slot), owner, Self.micros(now)]
        let horizon = Self.micros(now - 7 * 86_400)
        return try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO sluice_scheduled_runs (name, slot, owner, claimed_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                arguments: arguments
            )
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM sluice_scheduled_runs WHERE claimed_at < ?", arguments: [horizon])
            return true
        }
    }

    // MARK: Helpers

    func changesRow(_ sql: String, _ arguments: StatementArguments) async throws -> Bool {
        try await database.changesRow(sql, arguments)
    }

    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await database.write(body)
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    static func micros(_ date: Date) -> Int64 { SQLiteDatabase.micros(date) }

    static func date(_ micros: Int64) -> Date { SQLiteDatabase.date(micros) }

    private static func decodeJob(_ row: Row) throws -> Job {
        func json(_ index: Int) throws -> JSONValue? {
            try (row[index] as String?).map { try JSONValue(parsing: $0) }
        }
        func date(_ index: Int) -> Date? { (row[index] as Int64?).map(Self.date) }
        return Job(
            id: row[0],
            jobType: JobType(rawValue: row[1]),
            status: try JobStatus(stored: row[2]),
            priority: row[3],
            attempts: row[4],
            maxAttempts: row[5],
            payload: try json(6),
            result: try json(7),
            progress: try (row[8] as String?).map { try StoredJSON.decode(JobProgress.self, from: $0) },
            errors: try StoredJSON.attemptErrors(from: row[9]),
            uniqueKey: row[10],
            leaseOwner: row[11],
            leaseExpiresAt: date(12),
            scheduledFor: date(13) ?? .distantPast,
            createdAt: date(14) ?? .distantPast,
            startedAt: date(15),
            completedAt: date(16)
        )
    }

    // MARK: Concurrency-key locks

    public func acquireKeyLock(_ key: String, owner: String, now: Date, expiresAt: Date) async throws -> Bool {
        try await changesRow(
            """
            INSERT INTO sluice_key_locks (key, owner, expires_at) VALUES (?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE sluice_key_locks.expires_at < ?
            """,
            [key, owner, Self.micros(expiresAt), Self.micros(now)]
        )
    }

    public func renewKeyLock(_ key: String, owner: String, expiresAt: Date) async throws -> Bool {
        try await changesRow(
            "UPDATE sluice_key_locks SET expires_at = ? WHERE key = ? AND owner = ?",
            [Self.micros(expiresAt), key, owner]
        )
    }

    public func releaseKeyLock(_ key: String, owner: String) async throws {
        _ = try await changesRow("DELETE FROM sluice_key_locks WHERE key = ? AND owner = ?", [key, owner])
    }
}
