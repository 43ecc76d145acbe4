import Foundation

/// What a database must do for ``DatabaseQueue``: one conformance per store (PostgreSQL, SQLite, memory).
///
/// Stores hold no policy: times come in as arguments (so tests can control them), and decisions such as when to
/// retry are made by the queue. Every method that changes a PROCESSING job takes the lease and changes nothing
/// when the lease is no longer held.
public protocol JobStore: Sendable {
    /// Where the store is, safe to print (no password).
    var location: String { get }

    /// Applies the migrations this build knows and the database lacks; returns the names applied.
    func migrate() async throws -> [String]

    /// Which migrations the database has, compared with the ones this build knows.
    func schemaStatus() async throws -> SchemaStatus

    /// Inserts jobs (all in one round trip), returning one result per job, in order. A job whose unique key
    /// matches an unfinished job of its type is not inserted; its result carries the existing job's id.
    func insert(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult]

    /// Atomically moves up to `limit` PENDING jobs of `types` whose time has come to PROCESSING, highest priority
    /// first, then earliest scheduled, then oldest; each claim increments `attempts` and takes a lease for `owner`.
    func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws -> [Job]

    /// PROCESSING to COMPLETED, storing `result` and clearing the payload. False when the lease is not held.
    func complete(_ lease: JobLease, result: JSONValue?, now: Date) async throws -> Bool

    /// ``complete(_:result:now:)`` for many jobs in one round trip: one answer per completion, in order.
    func complete(_ completions: [JobCompletion], now: Date) async throws -> [Bool]

    /// Completes the job and inserts `followUps` (as ``insert(_:now:)`` does, unique keys included) in one
    /// transaction: either the job is COMPLETED and its follow-ups are queued, or nothing changed. A follow-up may
    /// share the completing job's unique key, which the job gives up in the same transaction. False when the lease
    /// is not held (nothing is inserted then).
    func complete(_ lease: JobLease, result: JSONValue?, followUps: [NewJob], now: Date) async throws -> Bool

    /// Records `error` in the job's history, then back to PENDING at `retryAt`, or FAILED when `retryAt` is nil.
    /// False when the lease is not held.
    func fail(_ lease: JobLease, error: AttemptError, retryAt: Date?, now: Date) async throws -> Bool

    /// PROCESSING back to PENDING, claimable from `availableAt`, without counting the attempt: for a worker that
    /// stops before it finished (a graceful shutdown) or cannot start yet. False when the lease is not held.
    func release(_ lease: JobLease, availableAt: Date) async throws -> Bool

    /// Stores progress and extends the lease. False when the lease is not held.
    func updateProgress(_ lease: JobLease, progress: JobProgress, leaseExpiresAt: Date) async throws -> Bool

    func job(id: String) async throws -> Job?

    /// Jobs matching `filter`, newest first (oldest first when `filter.oldestFirst`).
    func jobs(matching filter: JobFilter) async throws -> [Job]

    func stats() async throws -> QueueStats

    /// How many jobs finished in each minute since `since`: COMPLETED and FAILED counted by `completed_at`,
    /// oldest minute first, minutes with none left out.
    func finishedPerMinute(since: Date) async throws -> [ThroughputMinute]

    /// FAILED back to PENDING at `now` with attempts reset; throws ``QueueError`` when the job is missing or not
    /// FAILED.
    func retry(id: String, now: Date) async throws

    /// PENDING or PROCESSING to FAILED with `result`, clearing any lease; throws ``QueueError`` when the job is
    /// missing or finished.
    func cancel(id: String, result: JSONValue, now: Date) async throws

    /// Deletes up to `limit` COMPLETED and FAILED jobs that finished before `cutoff`; returns how many.
    func deleteFinished(before cutoff: Date, limit: Int) async throws -> Int

    /// PROCESSING jobs whose lease expired before `now` go back to PENDING, or to FAILED when they have no
    /// attempts left; `error` is appended to their history (with the attempt number filled in by the store).
    func rescueExpired(now: Date, error message: String) async throws -> RescueResult
}

/// One job to complete, for ``JobStore/complete(_:now:)``.
public struct JobCompletion: Sendable {
    public var lease: JobLease
    public var result: JSONValue?

    public init(lease: JobLease, result: JSONValue?) {
        self.lease = lease
        self.result = result
    }
}

extension JobStore {
    /// One statement per job: for stores with nothing faster.
    public func complete(_ completions: [JobCompletion], now: Date) async throws -> [Bool] {
        var answers: [Bool] = []
        for completion in completions {
            answers.append(try await complete(completion.lease, result: completion.result, now: now))
        }
        return answers
    }
}

/// Migrations a database has and lacks.
public struct SchemaStatus: Sendable, Hashable {
    /// Known to this build and applied to the database, in order.
    public var applied: [String]
    /// Known to this build and not applied yet.
    public var pending: [String]
    /// Applied to the database but unknown to this build: the database was migrated by a newer Sluice.
    public var unknown: [String]

    public init(applied: [String], pending: [String], unknown: [String]) {
        self.applied = applied
        self.pending = pending
        self.unknown = unknown
    }

    public var isCurrent: Bool { pending.isEmpty && unknown.isEmpty }
}

/// Which jobs to list.
public struct JobFilter: Sendable, Hashable {
    public var status: JobStatus?
    public var jobType: JobType?
    /// At most this many jobs, newest first. Default 50.
    public var limit: Int
    /// Oldest first instead (by creation time). Default false.
    public var oldestFirst: Bool

    public init(status: JobStatus? = nil, jobType: JobType? = nil, limit: Int = 50, oldestFirst: Bool = false) {
        self.status = status
        self.jobType = jobType
        self.limit = limit
        self.oldestFirst = oldestFirst
    }
}

/// How many jobs are in each state.
public struct StatusCounts: Sendable, Hashable, Codable {
    public var pending: Int
    public var processing: Int
    public var completed: Int
    public var failed: Int

    public init(pending: Int = 0, processing: Int = 0, completed: Int = 0, failed: Int = 0) {
        self.pending = pending
        self.processing = processing
        self.completed = completed
        self.failed = failed
    }

    public subscript(status: JobStatus) -> Int {
        get {
            switch status {
            case .pending: pending
            case .processing: processing
            case .completed: completed
            case .failed: failed
            }
        }
        set {
            switch status {
            case .pending: pending = newValue
            case .processing: processing = newValue
            case .completed: completed = newValue
            case .failed: failed = newValue
            }
        }
    }

    public var total: Int { pending + processing + completed + failed }
}

/// Queue statistics: totals by state, and the same per job type.
public struct QueueStats: Sendable, Hashable {
    public var total: StatusCounts
    public var byType: [JobType: StatusCounts]

    public init(total: StatusCounts = .init(), byType: [JobType: StatusCounts] = [:]) {
        self.total = total
        self.byType = byType
    }

    /// Builds the totals from `(type, status, count)` rows such as a `GROUP BY job_type, status` returns.
    public init(rows: [(JobType, JobStatus, Int)]) {
        self.init()
        for (type, status, count) in rows {
            total[status] += count
            byType[type, default: StatusCounts()][status] += count
        }
    }

    public var pending: Int { total.pending }
    public var processing: Int { total.processing }
    public var completed: Int { total.completed }
    public var failed: Int { total.failed }
}

/// Jobs that finished in one minute.
public struct ThroughputMinute: Sendable, Hashable {
    /// The minute's start (UTC, whole minute).
    public var minute: Date
    public var completed: Int
    public var failed: Int

    public init(minute: Date, completed: Int = 0, failed: Int = 0) {
        self.minute = minute
        self.completed = completed
        self.failed = failed
    }

    /// Builds minutes from `(minute number since 1970, status, count)` rows such as a `GROUP BY` returns.
    public static func fromRows(_ rows: [(minute: Int64, status: JobStatus, count: Int)]) -> [ThroughputMinute] {
        var byMinute: [Int64: ThroughputMinute] = [:]
        for row in rows {
            var entry =
                byMinute[row.minute] ?? ThroughputMinute(minute: Date(timeIntervalSince1970: Double(row.minute) * 60))
            switch row.status {
            case .completed: entry.completed += row.count
            case .failed: entry.failed += row.count
            case .pending, .processing: break
            }
            byMinute[row.minute] = entry
        }
        return byMinute.keys.sorted().compactMap { byMinute[$0] }
    }
}

/// What a rescue pass did with jobs whose worker was lost.
public struct RescueResult: Sendable, Hashable {
    /// Returned to PENDING to run again.
    public var requeued: [String]
    /// Moved to FAILED: no attempts were left.
    public var failed: [String]

    public init(requeued: [String] = [], failed: [String] = []) {
        self.requeued = requeued
        self.failed = failed
    }
}

/// What ``DatabaseQueue`` needs of a database to keep every guarantee it documents: the job operations, key locks
/// (one VECTORIZE job per project across every worker) and scheduled-run records (each scheduled task once per
/// cluster). A compile-time requirement, so that a new store cannot silently lose either. Wake-ups
/// (``JobNotifyingStore``) stay optional: without them workers poll, which is slower but loses nothing.
///
/// A store implements these three protocols; the conformance suite (`ConformanceTests`) runs against each.
public typealias QueueStore = JobStore & KeyLockStore & ScheduleStore

/// Once-per-cluster runs of scheduled work: the first server to claim a (name, slot) pair runs it, the others see
/// it taken. Part of ``QueueStore``; its own protocol because only the scheduler calls it.
public protocol ScheduleStore: Sendable {
    /// Records that `owner` runs `name` for the time slot `slot`; false when another server claimed it first.
    /// Also forgets claims older than a week.
    func claimScheduledRun(name: String, slot: Date, owner: String, now: Date) async throws -> Bool
}

/// Cluster-wide locks on concurrency keys, so that jobs sharing a key (VECTORIZE jobs of one project) run one at a
/// time across every worker process. A lock expires unless renewed, so a crashed holder cannot keep it.
public protocol KeyLockStore: Sendable {
    /// Takes the lock on `key` for `owner` until `expiresAt` when nobody holds it or its holder's lock expired
    /// before `now`; true when taken.
    func acquireKeyLock(_ key: String, owner: String, now: Date, expiresAt: Date) async throws -> Bool
    /// Extends the lock `owner` holds; false when it no longer holds it.
    func renewKeyLock(_ key: String, owner: String, expiresAt: Date) async throws -> Bool
    /// Lets go of the lock when `owner` holds it.
    func releaseKeyLock(_ key: String, owner: String) async throws
}
