import Foundation
import SluiceCore

/// A store that passes every call to a real one, except where a test steps in: before each claim, and in place of
/// completing with follow-ups (to inject a fault there).
struct InterceptingJobStore: QueueStore {
    typealias CompleteWithFollowUps =
        @Sendable (_ inner: any QueueStore, JobLease, JSONValue?, [NewJob], Date) async throws -> Bool

    let inner: any QueueStore
    private let beforeClaim: @Sendable () async -> Void
    private let completeWithFollowUps: CompleteWithFollowUps?

    init(
        _ inner: any QueueStore,
        beforeClaim: @escaping @Sendable () async -> Void = {},
        completeWithFollowUps: CompleteWithFollowUps? = nil
    ) {
        self.inner = inner
        self.beforeClaim = beforeClaim
        self.completeWithFollowUps = completeWithFollowUps
    }

    func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws -> [Job] {
        await beforeClaim()
        return try await inner.claim(
            types: types,
            limit: limit,
            owner: owner,
            now: now,
            leaseExpiresAt: leaseExpiresAt
        )
    }

    func complete(_ lease: JobLease, result: JSONValue?, followUps: [NewJob], now: Date) async throws -> Bool {
        if let completeWithFollowUps { return try await completeWithFollowUps(inner, lease, result, followUps, now) }
        return try await inner.complete(lease, result: result, followUps: followUps, now: now)
    }

    var location: String { inner.location }
    func migrate() async throws -> [String] { try await inner.migrate() }
    func schemaStatus() async throws -> SchemaStatus { try await inner.schemaStatus() }
    func insert(_ jobs: [NewJob], now: Date) async throws -> [EnqueueResult] {
        try await inner.insert(jobs, now: now)
    }
    func complete(_ lease: JobLease, result: JSONValue?, now: Date) async throws -> Bool {
        try await inner.complete(lease, result: result, now: now)
    }
    func complete(_ completions: [JobCompletion], now: Date) async throws -> [Bool] {
        try await inner.complete(completions, now: now)
    }
    func fail(_ lease: JobLease, error: AttemptError, retryAt: Date?, now: Date) async throws -> Bool {
        try await inner.fail(lease, error: error, retryAt: retryAt, now: now)
    }
    func release(_ lease: JobLease, availableAt: Date) async throws -> Bool {
        try await inner.release(lease, availableAt: availableAt)
    }
    func updateProgress(_ lease: JobLease, progress: JobProgress, leaseExpiresAt: Date) async throws -> Bool {
        try await inner.updateProgress(lease, progress: progress, leaseExpiresAt: leaseExpiresAt)
    }
    func job(id: String) async throws -> Job? { try await inner.job(id: id) }
    func jobs(matching filter: JobFilter) async throws -> [Job] { try await inner.jobs(matching: filter) }
    func stats() async throws -> QueueStats { try await inner.stats() }
    func finishedPerMinute(since: Date) async throws -> [ThroughputMinute] {
        try await inner.finishedPerMinute(since: since)
    }
    func retry(id: String, now: Date) async throws { try await inner.retry(id: id, now: now) }
    func cancel(id: String, result: JSONValue, now: Date) async throws {
        try await inner.cancel(id: id, result: result, now: now)
    }
    func deleteFinished(before cutoff: Date, limit: Int) async throws -> Int {
        try await inner.deleteFinished(before: cutoff, limit: limit)
    }
    func rescueExpired(now: Date, error message: String) async throws -> RescueResult {
        try await inner.rescueExpired(now: now, error: message)
    }
    func acquireKeyLock(_ key: String, owner: String, now: Date, expiresAt: Date) async throws -> Bool {
        try await inner.acquireKeyLock(key, owner: owner, now: now, expiresAt: expiresAt)
    }
    func renewKeyLock(_ key: String, owner: String, expiresAt: Date) async throws -> Bool {
        try await inner.renewKeyLock(key, owner: owner, expiresAt: expiresAt)
    }
    func releaseKeyLock(_ key: String, owner: String) async throws {
        try await inner.releaseKeyLock(key, owner: owner)
    }
    func claimScheduledRun(name: String, slot: Date, owner: String, now: Date) async throws -> Bool {
        try await inner.claimScheduledRun(name: name, slot: slot, owner: owner, now: now)
    }
}
