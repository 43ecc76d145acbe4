import Foundation
import Synchronization

/// A store in process memory: fast unit tests, and the reference the SQL stores are checked against by the same
/// conformance suite. Nothing survives the process.
public final class MemoryJobStore: JobStore, ScheduleStore, KeyLockStore, JobNotifyingStore {
    private let signal = JobSignal()
    private let jobsByID = Mutex<[String: Job]>([:])
    private let scheduledRuns = Mutex<[String: Date]>([:])
    private let keyLocks = Mutex<[String: (owner: String, expiresAt: Date)]>([:])

    public init() {}

    public var location: String { "memory" }

    public func migrate() async throws -> [String] { [] }

    public func schemaStatus() async throws -> SchemaStatus {
        SchemaStatus(applied: [], pending: [], unknown: [])
    }

    public func insert(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        let results = try await insertRows(jobs, now: now)
        signal.announce(jobs, results, now: now)
        return results
    }

    /// Workers in this process hear of jobs enqueued through this store at once; workers in other processes
    /// sharing the file find them at their next poll.
    public func readyJobs() -> AsyncStream<JobType?> { signal.subscribe() }

    private func insertRows(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        jobsByID.withLock { table in Self.insert(jobs, into: &table, now: now) }
    }

    private static func insert(_ jobs: [NewJob], into table: inout [String: Job], now: Date) -> [EnqueueResult] {
        jobs.map { new in
            if let key = new.uniqueKey,
                let existing = table.values.first(where: {
                    $0.uniqueKey == key && $0.jobType == new.jobType && !$0.status.isFinished
                })
            {
                return EnqueueResult(id: existing.id, inserted: false)
            }
            let id = JobID.make(at: now)
            table[id] = Job(
                id: id,
                jobType: new.jobType,
                status: .pending,
                priority: new.priority,
                attempts: 0,
                maxAttempts: new.maxAttempts,
                payload: new.payload,
                result: nil,
                progress: nil,
                errors: [],
                uniqueKey: new.uniqueKey,
                leaseOwner: nil,
                leaseExpiresAt: nil,
                scheduledFor: new.scheduledFor ?? now,
                createdAt: now,
                startedAt: nil,
                completedAt: nil
            )
            return EnqueueResult(id: id, inserted: true)
        }
    }

    public func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws
        -> [Job]
    {
        jobsByID.withLock { table in
            let ready = table.values
                .filter { $0.status == .pending && types.contains($0.jobType) && $0.scheduledFor <= now }
                .sorted(by: DatabaseQueue.claimOrder)
                .prefix(limit)
            return ready.map { candidate in
                var job = candidate
                job.status = .processing
                job.attempts += 1
                job.startedAt = now
                job.leaseOwner = owner
                job.leaseExpiresAt = leaseExpiresAt
                table[job.id] = job
                return job
            }
        }
    }

    public func complete(_ lease: JobLease, result: JSONValue?, now: Date) async throws -> Bool {
        try await complete(lease, result: result, followUps: [], now: now)
    }

    /// Under one lock: nobody sees the job completed without its follow-ups.
    public func complete(_ lease: JobLease, result: JSONValue?, followUps: [NewJob], now: Date) async throws -> Bool {
        let results = jobsByID.withLock { table -> [EnqueueResult]? in
            let held = Self.updateHeld(lease, in: &table) { job in
                job.status = .completed
                job.result = result
                job.payload = nil
                job.completedAt = now
            }
            return held ? Self.insert(followUps, into: &table, now: now) : nil
        }
        guard let results else { return false }
        signal.announce(followUps, results, now: now)
        return true
    }

    public func fail(_ lease: JobLease, error: AttemptError, retryAt: Date?, now: Date) async throws -> Bool {
        updateHeld(lease) { job in
            job.errors.append(error)
            if let retryAt {
                job.status = .pending
                job.scheduledFor = retryAt
            } else {
                job.status = .failed
                job.result = ["error": .string(error.message)]
                job.completedAt = now
            }
        }
    }

    public func release(_ lease: JobLease, availableAt: Date) async throws -> Bool {
        updateHeld(lease) { job in
            job.status = .pending
            job.attempts -= 1
            job.scheduledFor = availableAt
            job.startedAt = nil
        }
    }

    public func acquireKeyLock(_ key: String, owner: String, now: Date, expiresAt: Date) async throws -> Bool {
        keyLocks.withLock { locks in
            if let held = locks[key], held.expiresAt >= now { return false }
            locks[key] = (owner, expiresAt)
            return true
        }
    }

    public func renewKeyLock(_ key: String, owner: String, expiresAt: Date) async throws -> Bool {
        keyLocks.withLock { locks in
            guard locks[key]?.owner == owner else { return false }
            locks[key] = (owner, expiresAt)
            return true
        }
    }

    public func releaseKeyLock(_ key: String, owner: String) async throws {
        keyLocks.withLock { locks in
            if locks[key]?.owner == owner { locks[key] = nil }
        }
    }

    public func claimScheduledRun(name: String, slot: Date, owner: String, now: Date) async throws -> Bool {
        scheduledRuns.withLock { runs in
            let key = "\(name)@\(slot.timeIntervalSince1970)"
            guard runs[key] == nil else { return false }
            runs = runs.filter { $0.value > now - 7 * 86_400 }
            runs[key] = now
            return true
        }
    }

    public func updateProgress(_ lease: JobLease, progress: JobProgress, leaseExpiresAt: Date) async throws -> Bool {
        jobsByID.withLock { table in
            guard var job = table[lease.jobID], job.status == .processing, job.leaseOwner == lease.owner else {
                return false
            }
            job.progress = progress
            job.leaseExpiresAt = leaseExpiresAt
            table[job.id] = job
            return true
        }
    }

    public func job(id: String) async throws -> Job? {
        jobsByID.withLock { $0[id] }
    }

    public func jobs(matching filter: JobFilter) async throws -> [Job] {
        jobsByID.withLock { table in
            table.values
                .filter { job in
                    (filter.status.map { job.status == $0 } ?? true)
                        && (filter.jobType.map { job.jobType == $0 } ?? true)
                }
                .sorted { filter.oldestFirst != (($0.createdAt, $0.id) > ($1.createdAt, $1.id)) }
                .prefix(filter.limit)
                .map { $0 }
        }
    }

    public func stats() async throws -> QueueStats {
        jobsByID.withLock { table in
            QueueStats(rows: table.values.map { ($0.jobType, $0.status, 1) })
        }
    }

    public func finishedPerMinute(since: Date) async throws -> [ThroughputMinute] {
        jobsByID.withLock { table in
            ThroughputMinute.fromRows(
                table.values.compactMap { job in
                    guard job.status.isFinished, let at = job.completedAt, at >= since else { return nil }
                    return (Int64((at.timeIntervalSince1970 / 60).rounded(.down)), job.status, 1)
                }
            )
        }
    }

    public func retry(id: String, now: Date) async throws {
        try jobsByID.withLock { table in
            guard var job = table[id] else { throw QueueError.jobNotFound(id) }
            try QueueTransitions.checkRetry(id: id, status: job.status)
            if let key = job.uniqueKey,
                table.values.contains(where: {
                    $0.uniqueKey == key && $0.jobType == job.jobType && !$0.status.isFinished
                })
            {
                throw QueueError.invalidTransition(
                    id,
                    from: .failed,
                    reason: "cannot be retried: an unfinished job of its type holds the same unique key"
                )
            }
            job.status = .pending
            job.attempts = 0
            job.scheduledFor = now
            job.result = nil
            job.progress = nil
            job.startedAt = nil
            job.completedAt = nil
            table[id] = job
        }
    }

    public func cancel(id: String, result: JSONValue, now: Date) async throws {
        try jobsByID.withLock { table in
            guard var job = table[id] else { throw QueueError.jobNotFound(id) }
            try QueueTransitions.checkCancel(id: id, status: job.status)
            job.status = .failed
            job.result = result
            job.completedAt = now
            job.leaseOwner = nil
            job.leaseExpiresAt = nil
            table[id] = job
        }
    }

    public func deleteFinished(before cutoff: Date, limit: Int) async throws -> Int {
        jobsByID.withLock { table in
            let doomed = table.values
                .filter { $0.status.isFinished && ($0.completedAt ?? .distantFuture) < cutoff }
                .prefix(limit)
            for job in doomed { table[job.id] = nil }
            return doomed.count
        }
    }

    public func rescueExpired(now: Date, error message: String) async throws -> RescueResult {
        jobsByID.withLock { table in
            var result = RescueResult()
            for candidate in table.values
            where candidate.status == .processing && (candidate.leaseExpiresAt ?? now) < now {
                var job = candidate
                job.errors.append(AttemptError(attempt: job.attempts, at: now, message: message))
                job.leaseOwner = nil
                job.leaseExpiresAt = nil
                if job.attempts < job.maxAttempts {
                    job.status = .pending
                    job.scheduledFor = now
                    result.requeued.append(job.id)
                } else {
                    job.status = .failed
                    job.result = ["error": .string(message)]
                    job.completedAt = now
                    result.failed.append(job.id)
                }
                table[job.id] = job
            }
            return result
        }
    }

    /// Applies `change` when `lease` still holds the job, and clears the lease; false otherwise.
    private func updateHeld(_ lease: JobLease, _ change: (inout Job) -> Void) -> Bool {
        jobsByID.withLock { table in Self.updateHeld(lease, in: &table, change) }
    }

    private static func updateHeld(_ lease: JobLease, in table: inout [String: Job], _ change: (inout Job) -> Void)
        -> Bool
    {
        guard var job = table[lease.jobID], job.status == .processing, job.leaseOwner == lease.owner else {
            return false
        }
        change(&job)
        job.leaseOwner = nil
        job.leaseExpiresAt = nil
        table[job.id] = job
        return true
    }
}
