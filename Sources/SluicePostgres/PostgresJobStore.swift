import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SluiceCore

/// The production store: `job_queue` in PostgreSQL, shared by any number of servers and workers.
///
/// Claims use `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on each other and never get the same job.
/// The store is a `Service`: its connection pool works only while ``run()`` runs.
public final class PostgresJobStore: JobStore, ScheduleStore, KeyLockStore, JobNotifyingStore, Service {
    /// The connection pool, with Sluice's error mapping; stores of other libraries (accounts, the pipeline) share it.
    public let database: PostgresPool
    public var client: PostgresClient { database.client }
    /// The migrations ``migrate()`` applies, in order: ``PostgresQueueMigrations/all`` and any appended.
    public let migrations: [Migration]
    /// The channel every insert notifies with the job's type, and every process with workers listens on.
    static let readyChannel = "sluice_jobs"
    private let signal = JobSignal()
    public var location: String { database.location }
    private let configuration: PostgresStoreConfiguration
    var logger: Logger { database.logger }

    /// Serialises migrations across processes (an arbitrary constant: "sluice" in ASCII).
    private static let migrationLockKey: Int64 = 0x736c_7569_6365

    /// The columns a ``Job`` is decoded from, in `decodeJob`'s order.
    static let columns = """
        id, job_type, status, priority, attempts, max_attempts, payload::text, result::text, progress::text, \
        errors::text, unique_key, lease_owner, lease_expires_at, scheduled_for, created_at, started_at, completed_at
        """

    /// - Parameter migrations: the schema this store keeps current. Default the queue's own tables; a library that
    ///   keeps its tables in the same database appends its migrations (same names on every store).
    public init(
        configuration: PostgresStoreConfiguration,
        migrations: [Migration] = PostgresQueueMigrations.all,
        logger: Logger = Logger(label: "sluice.postgres")
    ) {
        // The pool logs every failed connection attempt, and a warning when a query races the start of `run()`;
        // failures reach the caller as errors anyway, so keep only the pool's errors.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .error)
        self.database = PostgresPool(
            client: PostgresClient(configuration: configuration.client, backgroundLogger: poolLogger),
            location: configuration.redactedURL,
            logger: logger
        )
        self.migrations = migrations
        self.configuration = configuration
    }

    /// Opens one connection outside the pool and runs `SELECT 1`, failing fast with the server's or the network's
    /// reason (the pool itself would keep retrying for a minute).
    public func checkReachable() async throws {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(),
                id: 0,
                logger: logger
            )
            do {
                try await connection.query("SELECT 1", logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
        } catch let error as PSQLError {
            if let mapped = PostgresErrors.describe(error, location: location) as? QueueError { throw mapped }
            let reason = error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw QueueError.storeUnavailable(location, reason: reason)
        } catch let error as QueueError {
            throw error
        } catch {
            throw QueueError.storeUnavailable(location, reason: "\(error)")
        }
    }

    /// Runs the connection pool, and the listener for new jobs once a worker subscribes, until cancelled.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listenForReadyJobs() }
        }
    }

    /// Workers anywhere in the cluster hear of a job enqueued by any process: every insert sends a NOTIFY with the
    /// job's type (PostgreSQL delivers identical notifications of one transaction once), and each process keeps
    /// one connection that listens, opened when its first worker subscribes.
    public func readyJobs() -> AsyncStream<JobType?> { signal.subscribe() }

    /// Holds one connection outside the pool in LISTEN, forwarding notifications to the process's subscribers;
    /// reconnects with backoff, and wakes everyone after a reconnect since notifications may have been missed.
    private func listenForReadyJobs() async {
        await signal.waitForSubscriber()
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try configuration.connectionConfiguration(),
                    id: 1,
                    logger: logger
                )
                do {
                    try await connection.listen(on: Self.readyChannel) { notifications in
                        failures = 0
                        signal.send(nil)
                        for try await notification in notifications {
                            signal.send(JobType(rawValue: notification.payload))
                        }
                    }
                    try? await connection.close()
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch {
                guard !Task.isCancelled else { return }
                failures += 1
                logger.warning(
                    "listening for new jobs failed; workers poll meanwhile",
                    metadata: [LogKey.error: "\(PostgresErrors.loggable(error))"]
                )
                try? await Task.sleep(for: .seconds(min(30, 1 << min(failures, 5))))
            }
        }
    }

    // MARK: Schema

    public func migrate() async throws -> [String] {
        try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS sluice_migrations (
                        name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                    """,
                    logger: logger
                )
                let status = SchemaStatus(
                    known: migrations,
                    applied: try await Self.appliedMigrations(connection, logger)
                )
                if !status.unknown.isEmpty { try status.requireCurrent() }
                var applied: [String] = []
                for migration in migrations where status.pending.contains(migration.name) {
                    for statement in migration.statements {
                        do {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        } catch let error as PSQLError
                            where migration.requires != nil && statement.hasPrefix("CREATE EXTENSION")
                        {
                            throw Self.missingExtension(migration, statement, error)
                        }
                    }
                    try await connection.query(
                        "INSERT INTO sluice_migrations (name) VALUES (\(migration.name))",
                        logger: logger
                    )
                    applied.append(migration.name)
                }
                return applied
            }
        }
    }

    /// The server lacks what `migration` requires: say what to install and the statement to run afterwards.
    private static func missingExtension(_ migration: Migration, _ statement: String, _ error: PSQLError) -> QueueError
    {
        let requirement = migration.requires ?? "an extension"
        return QueueError.schemaOutOfDate(
            "\(requirement) is not installed on this PostgreSQL (\(error.serverInfo?[.message] ?? "\(error.code)")). "
                + "Install the \(requirement) package for your PostgreSQL, then run `\(statement);` as a superuser, "
                + "and start Sluice again"
        )
    }

    public func schemaStatus() async throws -> SchemaStatus {
        try await mapErrors {
            try await client.withConnection { connection in
                SchemaStatus(
                    known: migrations,
                    applied: try await Self.appliedMigrations(connection, logger)
                )
            }
        }
    }

    private static func appliedMigrations(_ connection: PostgresConnection, _ logger: Logger) async throws -> [String] {
        let exists =
            try await connection.query(
                "SELECT to_regclass('sluice_migrations') IS NOT NULL",
                logger: logger
            ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        var names: [String] = []
        for try await name in try await connection.query(
            "SELECT name FROM sluice_migrations ORDER BY name",
            logger: logger
        ).decode(String.self) {
            names.append(name)
        }
        return names
    }

    // MARK: Producers

    public func insert(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        let ids = jobs.map { _ in JobID.make(at: now) }
        let inserted = try await mapErrors {
            if jobs.count == 1 {
                return try await collect(
                    client.execute(PostgresStatements.InsertJob(id: ids[0], job: jobs[0], now: now), logger: logger)
                )
            }
            return try await collect(
                client.execute(PostgresStatements.InsertJobs(ids: ids, jobs: jobs, now: now), logger: logger)
            )
        }
        let insertedIDs = Set(inserted)
        var results = zip(ids, jobs).map { id, _ in EnqueueResult(id: id, inserted: insertedIDs.contains(id)) }
        let skipped = results.indices.filter { !results[$0].inserted }
        guard !skipped.isEmpty else { return results }

        // Skipped jobs lost to an unfinished job with the same unique key: report that job's id.
        let keys = skipped.map { jobs[$0].uniqueKey ?? "" }
        let holders = try await mapErrors {
            try await client.query(
                """
                SELECT job_type, unique_key, id FROM job_queue
                WHERE unique_key = ANY(\(keys)::text[]) AND status IN ('PENDING', 'PROCESSING')
                """,
                logger: logger
            ).collect()
        }
        var holderByKey: [String: String] = [:]
        for row in holders {
            let (type, key, id) = try row.decode((String, String, String).self)
            holderByKey[type + "\u{0}" + key] = id
        }
        var retry: [Int] = []
        for index in skipped {
            if let holder = holderByKey[jobs[index].jobType.rawValue + "\u{0}" + (jobs[index].uniqueKey ?? "")] {
                results[index] = EnqueueResult(id: holder, inserted: false)
            } else {
                retry.append(index)  // the holder finished between the two statements: insert again
            }
        }
        if !retry.isEmpty {
            let again = try await insert(retry.map { jobs[$0] }, now: now)
            for (index, result) in zip(retry, again) { results[index] = result }
        }
        return results
    }

    // MARK: Workers

    /// One prepared statement (``PostgresStatements/ClaimJobs``) reading each type's head of the ready index.
    public func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws
        -> [Job]
    {
        let claim = PostgresStatements.ClaimJobs(
            types: Array(Set(types.map(\.rawValue))),
            limit: limit,
            owner: owner,
            now: now,
            leaseExpiresAt: leaseExpiresAt
        )
        return try await mapErrors { try await collect(client.execute(claim, logger: logger)) }
    }

    public func complete(_ lease: JobLease, result: JSONValue?, now: Date) async throws -> Bool {
        try await complete([JobCompletion(lease: lease, result: result)], now: now)[0]
    }

    /// One `UPDATE … FROM unnest(…)` for the whole batch.
    public func complete(_ completions: [JobCompletion], now: Date) async throws -> [Bool] {
        let done = Set(
            try await mapErrors {
                try await collect(
                    client.execute(PostgresStatements.CompleteJobs(completions: completions, now: now), logger: logger)
                )
            }
        )
        return completions.map { done.contains($0.lease.jobID) }
    }

    /// One transaction: the completion, then (when the lease was held) the follow-ups, whose notifications
    /// PostgreSQL delivers at commit. A follow-up that an unfinished job's unique key keeps out is left out.
    public func complete(_ lease: JobLease, result: JSONValue?, followUps: [NewJob], now: Date) async throws -> Bool {
        let completion = PostgresStatements.CompleteJobs(
            completions: [JobCompletion(lease: lease, result: result)],
            now: now
        )
        let ids = followUps.map { _ in JobID.make(at: now) }
        let logger = self.logger
        return try await mapErrors {
            try await client.withTransaction(logger: logger) { connection in
                var completed = false
                for try await _ in try await connection.execute(completion, logger: logger) { completed = true }
                guard completed else { return false }
                if !followUps.isEmpty {
                    let insert = PostgresStatements.InsertJobs(ids: ids, jobs: followUps, now: now)
                    for try await _ in try await connection.execute(insert, logger: logger) {}
                }
                return true
            }
        }
    }

    public func fail(_ lease: JobLease, error: AttemptError, retryAt: Date?, now: Date) async throws -> Bool {
        let entry = StoredJSON.encode([error])
        if let retryAt {
            return try await changesRow(
                """
                UPDATE job_queue
                SET status = 'PENDING', scheduled_for = \(retryAt), errors = errors || \(entry)::jsonb,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(lease.jobID) AND status = 'PROCESSING' AND lease_owner = \(lease.owner)
                RETURNING id
                """
            )
        }
        return try await changesRow(
            """
            UPDATE job_queue
            SET status = 'FAILED', result = jsonb_build_object('error', \(error.message)::text),
                completed_at = \(now), errors = errors || \(entry)::jsonb, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(lease.jobID) AND status = 'PROCESSING' AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
    }

    public func release(_ lease: JobLease, availableAt: Date) async throws -> Bool {
        try await changesRow(
            """
            UPDATE job_queue
            SET status = 'PENDING', attempts = attempts - 1, scheduled_for = \(availableAt), started_at = NULL,
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(lease.jobID) AND status = 'PROCESSING' AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
    }

    public func acquireKeyLock(_ key: String, owner: String, now: Date, expiresAt: Date) async throws -> Bool {
        try await changesRow(
            """
            INSERT INTO sluice_key_locks (key, owner, expires_at) VALUES (\(key), \(owner), \(expiresAt))
            ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE sluice_key_locks.expires_at < \(now)
            RETURNING key
            """
        )
    }

    public func renewKeyLock(_ key: String, owner: String, expiresAt: Date) async throws -> Bool {
        try await changesRow(
            """
            UPDATE sluice_key_locks SET expires_at = \(expiresAt) WHERE key = \(key) AND owner = \(owner)
            RETURNING key
            """
        )
    }

    public func releaseKeyLock(_ key: String, owner: String) async throws {
        _ = try await changesRow("DELETE FROM sluice_key_locks WHERE key = \(key) AND owner = \(owner) RETURNING key")
    }

    public func claimScheduledRun(name: String, slot: Date, owner: String, now: Date) async throws -> Bool {
        let claimed = try await changesRow(
            """
            INSERT INTO sluice_scheduled_runs (name, slot, owner, claimed_at) VALUES (\(name), \(slot), \(owner), \(now))
            ON CONFLICT DO NOTHING
            RETURNING name
            """
        )
        if claimed {
            _ = try await changesRow(
                "DELETE FROM sluice_scheduled_runs WHERE claimed_at < \(now - 7 * 86_400) RETURNING name"
            )
        }
        return claimed
    }

    public func updateProgress(_ lease: JobLease, progress: JobProgress, leaseExpiresAt: Date) async throws -> Bool {
        try await changesRow(
            """
            UPDATE job_queue SET progress = \(StoredJSON.encode(progress))::jsonb, lease_expires_at = \(leaseExpiresAt)
            WHERE id = \(lease.jobID) AND status = 'PROCESSING' AND lease_owner = \(lease.owner)
            RETURNING id
            """
        )
    }

    // MARK: Operators

    public func job(id: String) async throws -> Job? {
        try await fetchJobs("SELECT \(unescaped: Self.columns) FROM job_queue WHERE id = \(id)").first
    }

    public func jobs(matching filter: JobFilter) async throws -> [Job] {
        try await fetchJobs(
            """
            SELECT \(unescaped: Self.columns) FROM job_queue
            WHERE (\(filter.status?.rawValue)::text IS NULL OR status = \(filter.status?.rawValue))
              AND (\(filter.jobType?.rawValue)::text IS NULL OR job_type = \(filter.jobType?.rawValue))
            ORDER BY \(unescaped: filter.oldestFirst ? "created_at, id" : "created_at DESC, id DESC")
            LIMIT \(max(0, filter.limit))
            """
        )
    }

    /// Reads the counts the `job_queue_counts` triggers keep: a few rows per type and state and live connection,
    /// however many jobs. First folds the slots of connections that have ended into slot 0, which keeps it so.
    public func stats() async throws -> QueueStats {
        try await mapErrors {
            try await client.query(
                """
                WITH ended AS (
                    DELETE FROM job_queue_counts
                    WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
                    RETURNING job_type, status, n)
                INSERT INTO job_queue_counts AS counts (job_type, status, slot, n)
                SELECT job_type, status, 0, sum(n) FROM ended GROUP BY job_type, status ORDER BY job_type, status
                ON CONFLICT (job_type, status, slot) DO UPDATE SET n = counts.n + excluded.n
                """,
                logger: logger
            )
            var rows: [(JobType, JobStatus, Int)] = []
            for try await (type, status, count) in try await client.query(
                "SELECT job_type, status, sum(n)::int8 FROM job_queue_counts GROUP BY 1, 2 HAVING sum(n) <> 0",
                logger: logger
            ).decode((String, String, Int).self) {
                if let status = JobStatus(rawValue: status) { rows.append((JobType(rawValue: type), status, count)) }
            }
            return QueueStats(rows: rows)
        }
    }

    public func finishedPerMinute(since: Date) async throws -> [ThroughputMinute] {
        try await mapErrors {
            var rows: [(minute: Int64, status: JobStatus, count: Int)] = []
            for try await (minute, status, count) in try await client.query(
                """
                SELECT floor(extract(epoch FROM completed_at) / 60)::bigint, status, count(*)
                FROM job_queue
                WHERE status IN ('COMPLETED', 'FAILED') AND completed_at >= \(since)
                GROUP BY 1, 2
                """,
                logger: logger
            ).decode((Int64, String, Int).self) {
                if let status = JobStatus(rawValue: status) { rows.append((minute, status, count)) }
            }
            return ThroughputMinute.fromRows(rows)
        }
    }

    public func retry(id: String, now: Date) async throws {
        let changed = try await mapErrors {
            do {
                return try await !client.query(
                    """
                    UPDATE job_queue
                    SET status = 'PENDING', attempts = 0, scheduled_for = \(now), result = NULL, progress = NULL,
                        started_at = NULL, completed_at = NULL
                    WHERE id = \(id) AND status = 'FAILED'
                    RETURNING id
                    """,
                    logger: logger
                ).collect().isEmpty
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {  // unique_violation
                throw QueueError.invalidTransition(
                    id,
                    from: .failed,
                    reason: "cannot be retried: an unfinished job of its type holds the same unique key"
                )
            }
        }
        if !changed { try await explainRefusal(id, QueueTransitions.checkRetry) }
    }

    public func cancel(id: String, result: JSONValue, now: Date) async throws {
        let changed = try await changesRow(
            """
            UPDATE job_queue
            SET status = 'FAILED', result = \(result.jsonText)::jsonb, completed_at = \(now),
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = \(id) AND status IN ('PENDING', 'PROCESSING')
            RETURNING id
            """
        )
        if !changed { try await explainRefusal(id, QueueTransitions.checkCancel) }
    }

    public func deleteFinished(before cutoff: Date, limit: Int) async throws -> Int {
        try await mapErrors {
            try await client.query(
                """
                WITH doomed AS (
                    DELETE FROM job_queue WHERE id IN (
                        SELECT id FROM job_queue
                        WHERE status IN ('COMPLETED', 'FAILED') AND completed_at < \(cutoff)
                        LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*) FROM doomed
                """,
                logger: logger
            ).collect().first?.decode(Int.self) ?? 0
        }
    }

    public func rescueExpired(now: Date, error message: String) async throws -> RescueResult {
        try await mapErrors {
            var result = RescueResult()
            for try await (id, status) in try await client.query(
                """
                UPDATE job_queue SET
                    status = CASE WHEN attempts < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
                    scheduled_for = CASE WHEN attempts < max_attempts THEN \(now) ELSE scheduled_for END,
                    result = CASE WHEN attempts < max_attempts THEN result
                                  ELSE jsonb_build_object('error', \(message)::text) END,
                    completed_at = CASE WHEN attempts < max_attempts THEN NULL ELSE \(now) END,
                    errors = errors || jsonb_build_array(jsonb_build_object(
                        'attempt', attempts, 'at', \(StoredJSON.timestamp(now))::text, 'message', \(message)::text)),
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id IN (
                    SELECT id FROM job_queue WHERE status = 'PROCESSING' AND lease_expires_at < \(now)
                    FOR UPDATE SKIP LOCKED)
                RETURNING id, status
                """,
                logger: logger
            ).decode((String, String).self) {
                if status == JobStatus.pending.rawValue { result.requeued.append(id) } else { result.failed.append(id) }
            }
            return result
        }
    }

    // MARK: Helpers

    /// After a guarded update changed nothing: not found, or the state's own reason.
    private func explainRefusal(_ id: String, _ check: (String, JobStatus) throws -> Void) async throws {
        guard let job = try await job(id: id) else { throw QueueError.jobNotFound(id) }
        try check(id, job.status)
        // The job moved into an allowed state between the two statements; say so rather than pretend it worked.
        throw QueueError.invalidTransition(id, from: job.status, reason: "changed state meanwhile; try again")
    }

    func fetchJobs(_ query: PostgresQuery) async throws -> [Job] {
        try await mapErrors {
            try await client.query(query, logger: logger).collect().map(Self.decodeJob)
        }
    }

    func changesRow(_ query: PostgresQuery) async throws -> Bool { try await database.changesRow(query) }

    private func collect<Rows: AsyncSequence>(_ rows: Rows) async throws -> [Rows.Element] {
        var values: [Rows.Element] = []
        for try await value in rows { values.append(value) }
        return values
    }

    static func decodeJob(_ row: PostgresRow) throws -> Job {
        let cells = row.makeRandomAccess()
        func json(_ index: Int) throws -> JSONValue? {
            try cells[index].decode(String?.self).map { try JSONValue(parsing: $0) }
        }
        return Job(
            id: try cells[0].decode(String.self),
            jobType: JobType(rawValue: try cells[1].decode(String.self)),
            status: try JobStatus(stored: try cells[2].decode(String.self)),
            priority: try cells[3].decode(Int.self),
            attempts: try cells[4].decode(Int.self),
            maxAttempts: try cells[5].decode(Int.self),
            payload: try json(6),
            result: try json(7),
            progress: try cells[8].decode(String?.self).map { try StoredJSON.decode(JobProgress.self, from: $0) },
            errors: try StoredJSON.attemptErrors(from: try cells[9].decode(String.self)),
            uniqueKey: try cells[10].decode(String?.self),
            leaseOwner: try cells[11].decode(String?.self),
            leaseExpiresAt: try cells[12].decode(Date?.self),
            scheduledFor: try cells[13].decode(Date.self),
            createdAt: try cells[14].decode(Date.self),
            startedAt: try cells[15].decode(Date?.self),
            completedAt: try cells[16].decode(Date?.self)
        )
    }

    func mapErrors<T>(_ body: () async throws -> T) async throws -> T { try await database.mapErrors(body) }
}
