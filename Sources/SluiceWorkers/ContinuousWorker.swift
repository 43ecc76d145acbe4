import Logging
import ServiceLifecycle
import SluiceCore

/// Settings of a ``ContinuousWorker``.
public struct ContinuousWorkerOptions: Sendable {
    /// The job types to claim. Default: the built-in types and every registered one.
    public var types: [JobType]
    /// Most jobs running at once in this process. Default 4 (`--concurrency`).
    public var concurrency: Int
    /// How long to wait before looking again when nothing was ready. Default 1 s.
    public var pollInterval: Duration
    /// On shutdown, how long running jobs may take to finish before they are stopped and handed back to the
    /// queue. Default 30 s (`SLUICE_SHUTDOWN_GRACE_SECONDS`).
    public var shutdownGracePeriod: Duration
    /// Claim several jobs per statement: every free slot at once, and under load a quarter of the slots at a
    /// time. False claims one job per statement (for comparison). Default true.
    public var batchClaims: Bool

    public init(
        types: [JobType], concurrency: Int = 4, pollInterval: Duration = .seconds(1),
        shutdownGracePeriod: Duration = .seconds(30), batchClaims: Bool = true
    ) {
        self.types = types
        self.concurrency = max(1, concurrency)
        self.pollInterval = pollInterval
        self.shutdownGracePeriod = shutdownGracePeriod
        self.batchClaims = batchClaims
    }
}

/// Claims jobs as soon as they are due and runs up to `concurrency` of them at once, until graceful shutdown:
/// then it claims no more, lets running jobs finish within the grace period, and hands the rest back to PENDING.
public struct ContinuousWorker: Service {
    public let runner: JobRunner
    public let options: ContinuousWorkerOptions
    private let logger: Logger

    public init(runner: JobRunner, options: ContinuousWorkerOptions, logger: Logger = Logger(label: "sluice.worker")) {
        self.runner = runner
        self.options = options
        self.logger = logger
    }

    private enum Event: Sendable {
        /// A job this worker ran is done: a slot is free.
        case jobFinished
        /// A claim for `requested` slots came back with these jobs (fewer when fewer were ready).
        case claimed(requested: Int, jobs: [ClaimedJob])
        /// A claim for `requested` slots failed.
        case claimFailed(requested: Int, error: String)
        /// The poll interval passed.
        case tick
        /// The store says jobs of a type this worker runs may be ready.
        case wake
        /// Graceful shutdown began.
        case shutdown
        /// The shutdown grace period is over.
        case graceOver
    }

    /// Everything the worker reacts to arrives as one stream of events: finished jobs, claims coming back, poll
    /// ticks, wake-ups from the store (LISTEN/NOTIFY on PostgreSQL) and shutdown. After each it claims for its
    /// free slots without waiting for the answer (one statement for all of them, or one per slot with batching
    /// off), and claims again at once while claims come back full.
    public func run() async throws {
        logger.info(
            "continuous worker started",
            metadata: [
                LogKey.types: "\(options.types.map(\.rawValue).joined(separator: ","))",
                LogKey.concurrency: "\(options.concurrency)",
            ])
        let (events, sink) = AsyncStream<Event>.makeStream()
        let types = Set(options.types)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [pollInterval = options.pollInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    sink.yield(.tick)
                }
            }
            // Optional, and harmless without: a store that cannot announce jobs leaves the workers to the poll above.
            if let notifying = runner.queue.store as? any JobNotifyingStore {
                let wakeups = notifying.readyJobs()
                group.addTask {
                    for await type in wakeups where type.map(types.contains) ?? true { sink.yield(.wake) }
                }
            }
            await withGracefulShutdownHandler {
                await work(events: events, sink: sink, group: &group)
            } onGracefulShutdown: {
                sink.yield(.shutdown)
            }
            sink.finish()
            group.cancelAll()
        }
        logger.info("continuous worker stopped")
    }

    private func work(
        events: AsyncStream<Event>, sink: AsyncStream<Event>.Continuation, group: inout TaskGroup<Void>
    ) async {
        var running = 0  // jobs being run
        var claiming = 0  // slots asked for by claims still in flight
        var failures = 0
        var pausedUntil = ContinuousClock.now
        var iterator = events.makeAsyncIterator()
        let queue = runner.queue
        let types = options.types

        // Asks for every free slot (one claim, or one per slot with batching off); the answers arrive as events.
        func startClaims(_ group: inout TaskGroup<Void>) {
            guard ContinuousClock.now >= pausedUntil else { return }
            while options.concurrency - running - claiming > 0 {
                let limit = options.batchClaims ? options.concurrency - running - claiming : 1
                claiming += limit
                group.addTask {
                    do {
                        sink.yield(.claimed(requested: limit, jobs: try await queue.claimJobs(types, limit: limit)))
                    } catch {
                        sink.yield(.claimFailed(requested: limit, error: "\(error)"))
                    }
                }
            }
        }

        if !Task.isShuttingDownGracefully { startClaims(&group) }
        // Under load, a finished job waits for a quarter of the slots to be free, so that one claim fetches
        // several jobs instead of one claim per job.
        let claimBatch = options.batchClaims ? max(1, options.concurrency / 4) : 1
        while !Task.isShuttingDownGracefully, !Task.isCancelled, let event = await iterator.next() {
            switch event {
            case .jobFinished:
                running -= 1
                if running + claiming > 0, options.concurrency - running - claiming < claimBatch { continue }
            case .claimed(let requested, let jobs):
                claiming -= requested
                failures = 0
                for job in jobs {
                    running += 1
                    group.addTask {
                        _ = await runner.run(job)
                        sink.yield(.jobFinished)
                    }
                }
                if jobs.count < requested { continue }  // nothing more is ready: wait for a wake-up or a tick
            case .claimFailed(let requested, let error):
                claiming -= requested
                failures += 1
                pausedUntil = .now + min(.seconds(30), options.pollInterval * (1 << min(failures, 5)))
                logger.error("claim failed; retrying", metadata: [LogKey.error: "\(error)"])
                continue
            case .tick, .wake, .shutdown, .graceOver: break
            }
            if Task.isShuttingDownGracefully { break }
            startClaims(&group)
        }
        guard running + claiming > 0, !Task.isCancelled else { return }

        logger.info("waiting for running jobs", metadata: [LogKey.running: "\(running)"])
        group.addTask { [grace = options.shutdownGracePeriod] in
            try? await Task.sleep(for: grace)
            sink.yield(.graceOver)
        }
        var graceOver = false
        while running + claiming > 0, let event = await iterator.next() {
            switch event {
            case .jobFinished: running -= 1
            case .claimed(let requested, let jobs):
                // Claimed while shutting down: handed straight back, the attempt not counted (in a task of its own,
                // so that the release is written even if the worker is cancelled meanwhile).
                claiming -= requested
                await Task { for job in jobs { try? await queue.releaseJob(job.lease) } }.value
            case .claimFailed(let requested, _): claiming -= requested
            case .graceOver: graceOver = true
            case .tick, .wake, .shutdown: break
            }
            if graceOver, claiming == 0 {
                if running > 0 {
                    logger.warning(
                        "grace period over; handing running jobs back to the queue",
                        metadata: [LogKey.running: "\(running)"])
                }
                return  // the caller cancels the group: each running job is released to PENDING
            }
        }
    }
}
