import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import SluicePipeline
import SluiceWorkers
import Synchronization
import Testing

@Suite("Claims in flight at shutdown", .timeLimit(.minutes(5)))
struct ShutdownClaimTests {
    @Test(
        "a claim that comes back after graceful shutdown began hands its jobs back unrun, the attempt not counted",
        arguments: StoreKind.sql
    )
    func claimAnsweredDuringShutdown(kind: StoreKind) async throws {
        try await withStore(kind) { inner, _ in
            let gate = ClaimGate()
            let store = InterceptingJobStore(inner, beforeClaim: { await gate.pass() })
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
                    types: [.ingestData],
                    concurrency: 1,
                    pollInterval: .milliseconds(50),
                    shutdownGracePeriod: .seconds(120)
                ),
                logger: Logger(label: "test") { _ in StreamLogHandler(sink) }
            )
            let group = ServiceGroup(services: [worker], logger: quietLogger)
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var claims = gate.claimsStarted.makeAsyncIterator()
                _ = await claims.next()  // the worker's claim is in the store, held at the gate
                await group.triggerGracefulShutdown()
                // The worker has taken in the shutdown and waits for its claim.
                for await message in messages where message == "waiting for running jobs" { break }
                gate.openGate()
                try await tasks.waitForAll()
            }
            let handlerRan = ran.load(ordering: .relaxed)
            #expect(!handlerRan, "a job claimed after shutdown began must not run")
            let job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 0, "handed back without counting the attempt")
            #expect(job.leaseOwner == nil)
            // Far below the grace period, with room for a loaded machine (under a full parallel test run the gated
            // claim once took 10 s to come back, as long as the old grace period): waiting it out would take minutes.
            #expect(ContinuousClock.now - started < .seconds(60), "the worker did not wait out the grace period")
        }
    }
}

/// Holds claims at a gate until the test opens it (used as an ``InterceptingJobStore``'s `beforeClaim`).
final class ClaimGate: Sendable {
    /// Yields once for each claim that reaches the gate.
    let claimsStarted: AsyncStream<Void>
    private let claimsStartedSink: AsyncStream<Void>.Continuation
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    init() {
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

    /// Returns once the gate is open.
    func pass() async {
        claimsStartedSink.yield()
        await withCheckedContinuation { continuation in
            let open = gate.withLock { gate in
                if !gate.open { gate.waiting.append(continuation) }
                return gate.open
            }
            if open { continuation.resume() }
        }
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
