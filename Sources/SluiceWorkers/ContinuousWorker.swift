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
        types: [JobType],
        concurrency: Int = 4,
        pollInterval: Duration = .seconds(1),
        shutdownGracePeriod: Duration = .seconds(30),
        batchClaims: Bool = true
    ) {
        precondition(concurrency > 0, "ContinuousWorkerOptions: concurrency must be at least 1")
        self.types = types
        self.concurrency = concurrency
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

    /// An event of ``ClaimPolicy``, with the jobs a claim brought.
    private enum Event: Sendable {
        case policy(ClaimPolicy.Event)
        case claimed(requested: Int, jobs: [ClaimedJob])
        case claimFailed(requested: Int, error: String)
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
            ]
        )
        let (events, sink) = AsyncStream<Event>.makeStream()
        let types = Set(options.types)
        // Discarding: a task group keeps every finished child until it is awaited, and this one runs a child per
        // claim and per job for as long as the worker lives (measured: 100 MiB more after a million chunks).
        await withDiscardingTaskGroup { group in
            group.addTask { [pollInterval = options.pollInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    sink.yield(.policy(.tick))
                }
            }
            // Optional, and harmless without: a store that cannot announce jobs leaves the workers to the poll above.
            if let notifying = runner.queue.store as? any JobNotifyingStore {
                let wakeups = notifying.readyJobs()
                group.addTask {
                    for await type in wakeups where type.map(types.contains) ?? true { sink.yield(.policy(.wake)) }
                }
            }
            await withGracefulShutdownHandler {
                await work(events: events, sink: sink, group: &group)
            } onGracefulShutdown: {
                sink.yield(.policy(.shutdown))
            }
            sink.finish()
            group.cancelAll()
        }
        logger.info("continuous worker stopped")
    }

    /// Feeds every event to the worker's ``ClaimPolicy`` and performs what it decides.
    private func work(
        events: AsyncStream<Event>,
        sink: AsyncStream<Event>.Continuation,
        group: inout DiscardingTaskGroup
    ) async {
        var policy = ClaimPolicy(
            concurrency: options.concurrency,
            batchClaims: options.batchClaims,
            pollInterval: options.pollInterval
        )
        let started = ContinuousClock.now
        let queue = runner.queue
        let types = options.types
        var iterator = events.makeAsyncIterator()

        func perform(
            _ actions: [ClaimPolicy.Action],
            jobs: [ClaimedJob],
            _ group: inout DiscardingTaskGroup
        ) async {
            for action in actions {
                switch action {
                case .claim(let limit):
                    group.addTask {
                        do {
                            sink.yield(.claimed(requested: limit, jobs: try await queue.claimJobs(types, limit: limit)))
                        } catch {
                            sink.yield(.claimFailed(requested: limit, error: "\(error)"))
                        }
                    }
                case .run:
                    for job in jobs {
                        group.addTask {
                            _ = await runner.run(job)
                            sink.yield(.policy(.jobFinished))
                        }
                    }
                case .release:
                    // In a task of its own, so that the release is written even if the worker is cancelled meanwhile.
                    await Task { for job in jobs { try? await queue.releaseJob(job.lease) } }.value
                case .startGracePeriod:
                    logger.info("waiting for running jobs", metadata: [LogKey.running: "\(policy.running)"])
                    group.addTask { [grace = options.shutdownGracePeriod] in
                        try? await Task.sleep(for: grace)
                        sink.yield(.policy(.graceOver))
                    }
                case .stop:
                    if policy.running > 0 {
                        logger.warning(
                            "grace period over; handing running jobs back to the queue",
                            metadata: [LogKey.running: "\(policy.running)"]
                        )
                    }
                }
            }
        }

        // Shutdown may have begun before this worker listened for it: the policy hears of it before anything else.
        if Task.isShuttingDownGracefully {
            await perform(policy.handle(.shutdown, now: .zero), jobs: [], &group)
        } else {
            await perform(policy.start(now: .zero), jobs: [], &group)
        }
        while policy.phase != .stopped, !Task.isCancelled, let event = await iterator.next() {
            if Task.isShuttingDownGracefully, policy.phase == .working {
                await perform(policy.handle(.shutdown, now: .now - started), jobs: [], &group)
                if policy.phase == .stopped { break }
            }
            switch event {
            case .policy(let event):
                await perform(policy.handle(event, now: .now - started), jobs: [], &group)
            case .claimed(let requested, let jobs):
                let actions = policy.handle(.claimed(requested: requested, received: jobs.count), now: .now - started)
                await perform(actions, jobs: jobs, &group)
            case .claimFailed(let requested, let error):
                logger.error("claim failed; retrying", metadata: [LogKey.error: "\(error)"])
                await perform(policy.handle(.claimFailed(requested: requested), now: .now - started), jobs: [], &group)
            }
        }
        // The caller cancels the group: each job still running is released to PENDING.
    }
}
