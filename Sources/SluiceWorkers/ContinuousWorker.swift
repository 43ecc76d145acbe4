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

    public init(
        types: [JobType], concurrency: Int = 4, pollInterval: Duration = .seconds(1),
        shutdownGracePeriod: Duration = .seconds(30)
    ) {
        self.types = types
        self.concurrency = max(1, concurrency)
        self.pollInterval = pollInterval
        self.shutdownGracePeriod = shutdownGracePeriod
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
        case jobFinished
        case tick
        case graceOver
    }

    public func run() async throws {
        logger.info(
            "continuous worker started",
            metadata: [
                "sluice.types": "\(options.types.map(\.rawValue).joined(separator: ","))",
                "sluice.concurrency": "\(options.concurrency)",
            ])
        await withTaskGroup(of: Event.self) { group in
            var running = 0
            var ticking = false
            var failures = 0
            // Claim while there is room; otherwise wait for a job to finish or the poll interval to pass.
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var claimedNone = true
                if running < options.concurrency {
                    do {
                        let jobs = try await runner.queue.claimJobs(options.types, limit: options.concurrency - running)
                        failures = 0
                        claimedNone = jobs.isEmpty
                        for job in jobs {
                            running += 1
                            group.addTask {
                                _ = await runner.run(job)
                                return .jobFinished
                            }
                        }
                    } catch {
                        failures += 1
                        logger.error("claim failed; retrying", metadata: ["sluice.error": "\(error)"])
                    }
                }
                if !claimedNone && running < options.concurrency { continue }
                if !ticking {
                    ticking = true
                    // Back off up to 30 s while the database keeps failing.
                    let wait =
                        failures == 0
                        ? options.pollInterval : min(.seconds(30), options.pollInterval * (1 << min(failures, 5)))
                    group.addTask {
                        try? await Task.sleep(for: wait)
                        return .tick
                    }
                }
                switch await group.next() {
                case .jobFinished?: running -= 1
                case .tick?: ticking = false
                case .graceOver?, nil: break
                }
            }
            // Shutting down: no more claims. Let running jobs finish within the grace period.
            guard running > 0 else {
                group.cancelAll()
                return
            }
            logger.info("waiting for running jobs", metadata: ["sluice.running": "\(running)"])
            let grace = options.shutdownGracePeriod
            group.addTask {
                try? await Task.sleep(for: grace)
                return .graceOver
            }
            while running > 0, let event = await group.next() {
                switch event {
                case .jobFinished: running -= 1
                case .tick: break
                case .graceOver:
                    logger.warning(
                        "grace period over; handing running jobs back to the queue",
                        metadata: ["sluice.running": "\(running)"])
                    group.cancelAll()
                }
            }
            group.cancelAll()
        }
        logger.info("continuous worker stopped")
    }
}
