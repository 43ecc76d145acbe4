import Foundation
import Logging

/// Settings of a ``DatabaseQueue``.
public struct QueueOptions: Sendable {
    /// How long a claim stays valid without a progress report before the rescuer may hand the job to another
    /// worker. Default 5 minutes (`SLUICE_LEASE_SECONDS`).
    public var leaseDuration: Duration
    /// Delays between attempts. Default 10 s doubling, at most 1 hour (`SLUICE_RETRY_BASE_SECONDS`).
    public var retry: RetryPolicy
    /// Names this process in lease owners, so an operator can tell who holds a job. Default `host:pid`.
    public var workerName: String
    /// Most jobs one cleanup statement deletes, so that cleanup never holds long locks. Default 10,000.
    public var cleanupBatchSize: Int
    /// Completions of jobs that finish while another completion is being written wait for it, then go to the
    /// database together in one statement (group commit; a lone completion is written at once). Default true.
    public var batchCompletions: Bool

    public init(
        leaseDuration: Duration = .seconds(300),
        retry: RetryPolicy = RetryPolicy(),
        workerName: String = QueueOptions.defaultWorkerName,
        cleanupBatchSize: Int = 10_000,
        batchCompletions: Bool = true
    ) {
        self.leaseDuration = leaseDuration
        self.retry = retry
        self.workerName = workerName
        self.cleanupBatchSize = cleanupBatchSize
        self.batchCompletions = batchCompletions
    }

    /// `hostname:pid`.
    public static var defaultWorkerName: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}

/// An action on many jobs at once, from the queue monitor.
public enum BulkAction: String, Sendable, CaseIterable {
    /// FAILED jobs back to PENDING.
    case retry
    /// PENDING and PROCESSING jobs to FAILED.
    case cancel

    /// The states the action applies to, narrowed to `status` when one is given.
    public func statuses(within status: JobStatus?) -> [JobStatus] {
        let all: [JobStatus] = self == .retry ? [.failed] : [.pending, .processing]
        return status.map { status in all.filter { $0 == status } } ?? all
    }
}

/// What a bulk action did.
public struct BulkActionResult: Sendable, Hashable {
    /// Jobs changed, oldest first.
    public var changed: [String] = []
    /// Jobs that matched but changed state before the action reached them.
    public var skipped = 0
    /// Jobs still matching afterwards (past the cap, or arrived meanwhile).
    public var remaining = 0

    public init() {}
}

/// The job queue: enqueue, claim, complete, fail, retry, cancel, clean up and rescue, on any ``JobStore``.
///
/// Workers claim jobs and get a ``JobLease`` with each; only the holder of the lease can complete, fail or report
/// progress on the job, so a worker whose job was cancelled or rescued meanwhile is told to stop
/// (``QueueError/Code/leaseLost``) instead of overwriting what happened since.
public struct DatabaseQueue: Sendable {
    public let store: any QueueStore
    public let options: QueueOptions
    private let clock: any WallClock
    private let completions = CompletionBatcher()
    private let logger: Logger

    public init(
        store: any QueueStore,
        options: QueueOptions = QueueOptions(),
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "sluice.queue")
    ) {
        self.store = store
        self.options = options
        self.clock = clock
        var logger = logger
        logger[metadataKey: LogKey.store] = "\(store.location)"
        self.logger = logger
    }

    // MARK: Producers

    /// Adds a job; returns its id (or, when its unique key is taken, the id of the job holding it).
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> EnqueueResult {
        try await enqueue(contentsOf: [job])[0]
    }

    /// Adds many jobs in one round trip; returns one result per job, in order.
    @discardableResult
    public func enqueue(contentsOf jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        for job in jobs { try job.validate() }
        let results = try await store.insert(jobs, now: clock.now())
        logger.debug("enqueued jobs", metadata: [LogKey.count: "\(results.count { $0.inserted })"])
        return results
    }

    // MARK: Workers

    /// Claims the next job of one of `workerTypes`, or returns nil when none is ready.
    public func claimJob(_ workerTypes: [JobType]) async throws -> ClaimedJob? {
        try await claimJobs(workerTypes, limit: 1).first
    }

    /// Claims up to `limit` ready jobs of `workerTypes` in one statement, in claim order.
    public func claimJobs(_ workerTypes: [JobType], limit: Int) async throws -> [ClaimedJob] {
        guard !workerTypes.isEmpty, limit > 0 else { return [] }
        let now = clock.now()
        let owner = "\(options.workerName)/\(Self.randomToken())"
        let jobs = try await store.claim(
            types: workerTypes,
            limit: limit,
            owner: owner,
            now: now,
            leaseExpiresAt: now + options.leaseDuration.timeInterval
        )
        return jobs.sorted(by: Self.claimOrder).map(ClaimedJob.init(job:))
    }

    /// Marks the job COMPLETED with `result`, clearing its payload, and queues `followUps` in the same transaction,
    /// so that no crash or database error between the two can lose them.
    public func completeJob(_ lease: JobLease, result: JSONValue? = nil, followUps: [NewJob] = []) async throws {
        for job in followUps { try job.validate() }
        let held: Bool
        if !followUps.isEmpty {
            // Never in a batch: the completion and its follow-ups commit together or not at all.
            held = try await store.complete(lease, result: result, followUps: followUps, now: clock.now())
        } else if options.batchCompletions {
            held = try await completions.complete(JobCompletion(lease: lease, result: result)) {
                [store, clock] batch in try await store.complete(batch, now: clock.now())
            }
        } else {
            held = try await store.complete(lease, result: result, now: clock.now())
        }
        guard held else {
            throw try await leaseLost(lease)
        }
        logger.debug("job completed", metadata: metadata(lease))
    }

    /// What ``failJob(_:error:)`` did with the job.
    public enum FailOutcome: Sendable, Hashable {
        /// Back to PENDING; claimable again from this time.
        case retryScheduled(at: Date)
        /// No attempts left: FAILED.
        case failed
    }

    /// Records the error; the job runs again after the backoff delay if attempts remain, else it is FAILED.
    @discardableResult
    public func failJob(_ lease: JobLease, error message: String) async throws -> FailOutcome {
        let now = clock.now()
        let error = AttemptError(attempt: lease.attempt, at: now, message: Self.truncated(message))
        let retryAt: Date? =
            lease.attempt < lease.maxAttempts
            ? now + options.retry.delay(afterAttempt: lease.attempt).timeInterval : nil
        guard try await store.fail(lease, error: error, retryAt: retryAt, now: now) else {
            throw try await leaseLost(lease)
        }
        if let retryAt {
            logger.info("job attempt failed; will retry", metadata: metadata(lease, [LogKey.retryAt: "\(retryAt)"]))
            return .retryScheduled(at: retryAt)
        }
        logger.warning("job failed; no attempts left", metadata: metadata(lease))
        return .failed
    }

    /// Records a thrown error, described by `String(describing:)`; otherwise the same as failing with a message.
    @discardableResult
    public func failJob(_ lease: JobLease, error: any Error) async throws -> FailOutcome {
        try await failJob(lease, error: String(describing: error))
    }

    /// Hands a claimed job back unfinished (this worker is stopping, or the job cannot start yet): PENDING again
    /// after `delay`, the attempt not counted. Throws ``QueueError/Code/leaseLost`` when the lease is no longer
    /// held.
    public func releaseJob(_ lease: JobLease, delay: Duration = .zero) async throws {
        guard try await store.release(lease, availableAt: clock.now() + delay.timeInterval) else {
            throw try await leaseLost(lease)
        }
        logger.info("job released unfinished", metadata: metadata(lease))
    }

    // MARK: Concurrency keys

    /// Takes the cluster-wide lock on `key` for the holder of `lease`, for one lease duration; false while another
    /// worker holds it.
    public func lockKey(_ key: String, for lease: JobLease) async throws -> Bool {
        let now = clock.now()
        return try await store.acquireKeyLock(
            key,
            owner: Self.keyOwner(lease),
            now: now,
            expiresAt: now + options.leaseDuration.timeInterval
        )
    }

    /// Extends the lock on `key` by one lease duration; false when it was lost (it expired and another worker took
    /// it).
    public func renewKey(_ key: String, for lease: JobLease) async throws -> Bool {
        return try await store.renewKeyLock(
            key,
            owner: Self.keyOwner(lease),
            expiresAt: clock.now() + options.leaseDuration.timeInterval
        )
    }

    public func unlockKey(_ key: String, for lease: JobLease) async throws {
        try await store.releaseKeyLock(key, owner: Self.keyOwner(lease))
    }

    /// Jobs claimed together share a lease owner; a key lock belongs to one job.
    private static func keyOwner(_ lease: JobLease) -> String { "\(lease.owner)/\(lease.jobID)" }

    /// Stores progress for the monitor and renews the lease.
    public func updateProgress(_ lease: JobLease, current: Int, total: Int, message: String = "") async throws {
        let progress = JobProgress(current: current, total: total, message: message)
        let expires = clock.now() + options.leaseDuration.timeInterval
        guard try await store.updateProgress(lease, progress: progress, leaseExpiresAt: expires) else {
            throw try await leaseLost(lease)
        }
    }

    // MARK: Operators

    public func getQueueStats() async throws -> QueueStats {
        try await store.stats()
    }

    public func getJob(_ id: String) async throws -> Job {
        guard let job = try await store.job(id: id) else { throw QueueError.jobNotFound(id) }
        return job
    }

    public func listJobs(_ filter: JobFilter = JobFilter()) async throws -> [Job] {
        try await store.jobs(matching: filter)
    }

    /// The PENDING job created longest ago, or nil: how far behind the workers are.
    public func oldestPendingJob() async throws -> Job? {
        try await store.jobs(matching: JobFilter(status: .pending, limit: 1, oldestFirst: true)).first
    }

    /// Sends a FAILED job back to PENDING now, with its attempts reset and its error history kept.
    public func retryJob(_ id: String) async throws {
        try await store.retry(id: id, now: clock.now())
        logger.info("job retried", metadata: [LogKey.jobID: "\(id)"])
    }

    /// Fails a PENDING or PROCESSING job at once; its worker's next call about it is refused.
    public func cancelJob(_ id: String, reason: String = "cancelled by an administrator") async throws {
        let now = clock.now()
        try await store.cancel(id: id, result: Self.cancellation(reason: reason, at: now), now: now)
        logger.info("job cancelled", metadata: [LogKey.jobID: "\(id)"])
    }

    /// The result a cancelled job keeps.
    private static func cancellation(reason: String, at now: Date) -> JSONValue {
        [
            "error": .string("Job cancelled: \(reason)"),
            "cancelled": true,
            "cancelledAt": .string(now.formatted(.iso8601)),
        ]
    }

    /// How many jobs `action` would change among those of `status` and `jobType` (nil: any): FAILED jobs for a
    /// retry, PENDING and PROCESSING ones for a cancel. Read from the queue statistics.
    public func countJobs(for action: BulkAction, status: JobStatus? = nil, jobType: JobType? = nil) async throws
        -> Int
    {
        let stats = try await store.stats()
        let counts = jobType.map { stats.byType[$0] ?? StatusCounts() } ?? stats.total
        return action.statuses(within: status).reduce(0) { $0 + counts[$1] }
    }

    /// Retries or cancels, oldest first, up to `limit` of the jobs ``countJobs(for:status:jobType:)`` counts.
    /// A job that changed meanwhile (finished, retried, cancelled elsewhere) is skipped, not an error.
    public func perform(
        _ action: BulkAction,
        status: JobStatus? = nil,
        jobType: JobType? = nil,
        limit: Int,
        reason: String = "cancelled by an administrator"
    ) async throws -> BulkActionResult {
        var result = BulkActionResult()
        for status in action.statuses(within: status) where result.changed.count < limit {
            let jobs = try await store.jobs(
                matching: JobFilter(
                    status: status,
                    jobType: jobType,
                    limit: limit - result.changed.count,
                    oldestFirst: true
                )
            )
            for job in jobs {
                let now = clock.now()
                do {
                    switch action {
                    case .retry: try await store.retry(id: job.id, now: now)
                    case .cancel:
                        try await store.cancel(id: job.id, result: Self.cancellation(reason: reason, at: now), now: now)
                    }
                    result.changed.append(job.id)
                } catch let error as QueueError where error.code == .invalidTransition || error.code == .jobNotFound {
                    result.skipped += 1
                }
            }
        }
        result.remaining = try await countJobs(for: action, status: status, jobType: jobType)
        logger.info(
            "bulk \(action.rawValue)",
            metadata: [
                LogKey.bulkChanged: "\(result.changed.count)", LogKey.bulkSkipped: "\(result.skipped)",
                LogKey.jobType: "\(jobType?.rawValue ?? "any")",
            ]
        )
        return result
    }

    /// Completed and failed jobs per minute over the last `minutes` minutes, the current one included: one entry
    /// per minute, oldest first, zeros included.
    public func throughput(lastMinutes minutes: Int) async throws -> [ThroughputMinute] {
        let currentMinute = (clock.now().timeIntervalSince1970 / 60).rounded(.down)
        let first = Date(timeIntervalSince1970: (currentMinute - Double(max(minutes, 1) - 1)) * 60)
        let found = Dictionary(
            try await store.finishedPerMinute(since: first).map { ($0.minute, $0) },
            uniquingKeysWith: { a, _ in a }
        )
        return (0..<max(minutes, 1)).map { index in
            let minute = first.addingTimeInterval(Double(index) * 60)
            return found[minute] ?? ThroughputMinute(minute: minute)
        }
    }

    /// Deletes COMPLETED and FAILED jobs that finished more than `olderThanDays` days ago, in bounded batches.
    /// PENDING and PROCESSING jobs are never touched. Returns how many were deleted.
    @discardableResult
    public func cleanup(olderThanDays days: Int = 7) async throws -> Int {
        guard days >= 0 else { throw QueueError.invalidConfiguration("cleanup days must be 0 or more, not \(days)") }
        let cutoff = clock.now() - Double(days) * 86_400
        var deleted = 0
        while true {
            let batch = try await store.deleteFinished(before: cutoff, limit: options.cleanupBatchSize)
            deleted += batch
            if batch < options.cleanupBatchSize { break }
        }
        logger.info("cleanup done", metadata: [LogKey.deleted: "\(deleted)", LogKey.days: "\(days)"])
        return deleted
    }

    /// Returns PROCESSING jobs whose lease expired (their worker crashed or hung) to PENDING, or fails them when
    /// they have no attempts left.
    @discardableResult
    public func rescueExpiredJobs() async throws -> RescueResult {
        let result = try await store.rescueExpired(
            now: clock.now(),
            error: "worker lost: its lease expired before the job finished"
        )
        if !result.requeued.isEmpty || !result.failed.isEmpty {
            logger.warning(
                "rescued jobs whose worker was lost",
                metadata: [LogKey.requeued: "\(result.requeued.count)", LogKey.failed: "\(result.failed.count)"]
            )
        }
        return result
    }

    // MARK: Helpers

    /// Claim order: priority descending, then scheduled time, then creation, then id.
    public static func claimOrder(_ a: Job, _ b: Job) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        if a.scheduledFor != b.scheduledFor { return a.scheduledFor < b.scheduledFor }
        if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
        return a.id < b.id
    }

    private func leaseLost(_ lease: JobLease) async throws -> QueueError {
        let status = try await store.job(id: lease.jobID)?.status
        logger.notice("lease lost", metadata: metadata(lease, [LogKey.status: "\(status?.rawValue ?? "deleted")"]))
        return QueueError.leaseLost(lease.jobID, status: status)
    }

    private func metadata(_ lease: JobLease, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        extra.merging([LogKey.jobID: "\(lease.jobID)", LogKey.attempt: "\(lease.attempt)"]) { a, _ in a }
    }

    private static func randomToken() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// Keeps error messages to a size the monitor can show and the table can afford.
    static func truncated(_ message: String, limit: Int = 8_192) -> String {
        message.utf8.count <= limit ? message : String(decoding: message.utf8.prefix(limit), as: UTF8.self) + "…"
    }
}
