import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluiceWorkers
import Synchronization
import Testing

@Suite("Claims in flight at shutdown")
struct ShutdownClaimTests {
    @Test(
        "a claim that comes back after graceful shutdown began hands its jobs back unrun, the attempt not counted",
        arguments: StoreKind.sql)
    func claimAnsweredDuringShutdown(kind: StoreKind) async throws {
        try await withStore(kind) { inner, _ in
            let store = GatedClaimStore(inner)
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let id = try await queue.enqueue(NewJob(jobType: .ingestData)).id
            let ran = Atomic<Bool>(false)
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData) { _ in
                ran.store(true, ordering: .relaxed)
                return nil
            }
            let (messages, sink) = AsyncStream<String>.makeStream()
            let worker = ContinuousWorker(
                runner: JobRunner(queue: queue, handlers: handlers, logger: quietLogger),
                options: ContinuousWorkerOptions(
                    types: [.ingestData], concurrency: 1, pollInterval: .milliseconds(50),
                    shutdownGracePeriod: .seconds(10)),
                logger: Logger(label: "test") { _ in StreamLogHandler(sink) })
            let group = ServiceGroup(services: [worker], logger: quietLogger)
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var claims = store.claimsStarted.makeAsyncIterator()
                _ = await claims.next()  // the worker's claim is in the store, held at the gate
                await group.triggerGracefulShutdown()
                // The worker has taken in the shutdown and waits for its claim.
                for await message in messages where message == "waiting for running jobs" { break }
                store.openGate()
                try await tasks.waitForAll()
            }
            let handlerRan = ran.load(ordering: .relaxed)
            #expect(!handlerRan, "a job claimed after shutdown began must not run")
            let job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 0, "handed back without counting the attempt")
            #expect(job.leaseOwner == nil)
            #expect(ContinuousClock.now - started < .seconds(10), "the worker did not wait out the grace period")
        }
    }
}

/// A store whose claims wait at a gate until the test opens it; every other call goes straight to `inner`.
final class GatedClaimStore: JobStore {
    let inner: any JobStore
    /// Yields once for each claim that reaches the store.
    let claimsStarted: AsyncStream<Void>
    private let claimsStartedSink: AsyncStream<Void>.Continuation
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    init(_ inner: any JobStore) {
        self.inner = inner
        (claimsStarted, claimsStartedSink) = AsyncStream<Void>.makeStream()
    }

    func openGate() {
        let waiting = gate.withLock { gate in
            gate.open = true
            defer { gate.waiting = [] }
            return gate.waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    func claim(types: [JobType], limit: Int, owner: String, now: Date, leaseExpiresAt: Date) async throws -> [Job] {
        claimsStartedSink.yield()
        await withCheckedContinuation { continuation in
            let open = gate.withLock { gate in
                if !gate.open { gate.waiting.append(continuation) }
                return gate.open
            }
            if open { continuation.resume() }
        }
        return try await inner.claim(
            types: types, limit: limit, owner: owner, now: now, leaseExpiresAt: leaseExpiresAt)
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
}

/// Sends every message logged at info level or above to an `AsyncStream`, for a test to wait on.
struct StreamLogHandler: LogHandler {
    let sink: AsyncStream<String>.Continuation
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(_ sink: AsyncStream<String>.Continuation) { self.sink = sink }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.yield(event.message.description)
    }
}
