import Foundation
import ServiceLifecycle
import SluiceCore
import SluicePipeline
import SluiceStores
import SluiceWorkers
import Testing

/// Workers hear of new jobs instead of waiting for their next poll: LISTEN/NOTIFY on PostgreSQL (across
/// processes), an in-process signal on SQLite and in memory.
@Suite("Wake-ups", .timeLimit(.minutes(5)))
struct WakeupTests {
    /// The first job type `stream` yields after `trigger` ran, or nil after `timeout`. With `waitForListener`
    /// (PostgreSQL) the trigger runs once the store's LISTEN connection is up, which it announces with a nil.
    private func hear(
        _ stream: AsyncStream<JobType?>,
        waitForListener: Bool,
        timeout: Duration = .seconds(20),
        trigger: @escaping @Sendable () async throws -> Void
    ) async throws -> JobType? {
        try await TestExpectation.value(within: timeout) {
            var triggered = false
            if !waitForListener {
                try await trigger()
                triggered = true
            }
            for await type in stream {
                if let type, triggered { return type }
                if type == nil, !triggered {
                    try await trigger()
                    triggered = true
                }
            }
            return nil
        }
    }

    @Test("a subscriber hears the type of each job enqueued through the store", arguments: StoreKind.allCases)
    func storeSignals(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let notifying = try #require(store as? any JobNotifyingStore)
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let heard = try await hear(notifying.readyJobs(), waitForListener: kind == .postgres) {
                _ = try await queue.enqueue(NewJob(jobType: "WAKE_ME"))
            }
            #expect(heard == "WAKE_ME")
        }
    }

    @Test("a worker whose next poll is a minute away starts a new job at once", arguments: StoreKind.allCases)
    func workerWakes(kind: StoreKind) async throws {
        try await withStore(kind) { store, url in
            let started = AsyncStream<String>.makeStream()
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData) { context in
                started.continuation.yield(context.job.id)
                return nil
            }
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let worker = ContinuousWorker(
                runner: JobRunner(queue: queue, handlers: handlers, logger: quietLogger),
                options: ContinuousWorkerOptions(types: [.ingestData], pollInterval: .seconds(60)),
                logger: quietLogger
            )
            let group = ServiceGroup(services: [worker], logger: quietLogger)
            // Subscribed before the worker starts, so that this test hears when the LISTEN connection is up.
            let listening = try #require(store as? any JobNotifyingStore).readyJobs()
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // The worker's first claim finds nothing; its next poll is a minute away.
                if kind == .postgres {
                    var iterator = listening.makeAsyncIterator()
                    _ = await iterator.next()  // the store's LISTEN connection is up
                }
                try await Task.sleep(for: .milliseconds(200))
                let id: String
                if kind == .postgres, let url {
                    // From another store, as another process would: the wake-up can only come through NOTIFY.
                    id = try await withJobStore(try StoreSettings(url: url)) { other in
                        try await DatabaseQueue(store: other, logger: quietLogger).enqueue(NewJob(jobType: .ingestData))
                            .id
                    }
                } else {
                    id = try await queue.enqueue(NewJob(jobType: .ingestData)).id
                }
                let first = try await TestExpectation.value(within: .seconds(20)) {
                    for await value in started.stream { return value }
                    return nil
                }
                #expect(first == id, "the job did not start before the worker's next poll")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }
}
