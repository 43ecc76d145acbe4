import Foundation
import Logging
import SluiceCore
import Synchronization

/// Runs claimed jobs through their handlers and records the outcome on the queue: completed with the handler's
/// result, failed (and retried with backoff) when it throws or runs past its time limit, handed back unfinished
/// when its task is cancelled.
public struct JobRunner: Sendable {
    public let queue: DatabaseQueue
    public let handlers: JobHandlerRegistry
    private let metrics: any JobMetrics
    private let logger: Logger
    private let serializer = KeyedSerializer()

    /// How long a job whose concurrency key is busy elsewhere waits before it can be claimed again. Default 5 s.
    public var busyKeyDelay: Duration

    public init(
        queue: DatabaseQueue,
        handlers: JobHandlerRegistry,
        metrics: any JobMetrics = NoJobMetrics(),
        busyKeyDelay: Duration = .seconds(5),
        logger: Logger = Logger(label: "sluice.worker")
    ) {
        self.queue = queue
        self.handlers = handlers
        self.metrics = metrics
        self.busyKeyDelay = busyKeyDelay
        self.logger = logger
    }

    /// What happened to one claimed job.
    public enum Outcome: Sendable, Hashable {
        case completed
        /// The attempt failed; the job is PENDING again (retry scheduled) or FAILED.
        case failed(DatabaseQueue.FailOutcome)
        /// Stopped unfinished (shutdown) and handed back to PENDING.
        case released
        /// Handed back to PENDING for later, the attempt not counted: another worker runs a job with the same
        /// concurrency key, or the handler threw ``RetryLater``.
        case deferred
        /// The job was cancelled, rescued or finished elsewhere while it ran; nothing was recorded.
        case leaseLost
        /// The outcome could not be recorded (database unreachable); the rescuer will requeue the job when its
        /// lease expires.
        case unrecorded
    }

    /// Runs one job. `timeLimit` bounds the handler: past it the handler is cancelled and the attempt fails.
    public func run(_ claimed: ClaimedJob, timeLimit: Duration? = nil) async -> Outcome {
        var logger = self.logger
        logger[metadataKey: LogKey.jobID] = "\(claimed.job.id)"
        logger[metadataKey: LogKey.jobType] = "\(claimed.job.jobType)"
        logger[metadataKey: LogKey.attempt] = "\(claimed.lease.attempt)"
        let context = JobContext(claimed: claimed, queue: queue, logger: logger)
        let started = ContinuousClock.now

        let outcome: Outcome
        if let key = handlers.serialKey(for: claimed.job) {
            // One at a time per key: in this process first (in arrival order), then across the cluster.
            outcome = await serializer.withKey(key) { await attemptHoldingLock(key, context, timeLimit: timeLimit) }
        } else {
            outcome = await attempt(context, timeLimit: timeLimit)
        }
        metrics.attemptFinished(type: claimed.job.jobType, outcome: outcome, duration: ContinuousClock.now - started)
        return outcome
    }

    private enum HandlerResult: Sendable {
        case finished(JSONValue?)
        case threw(String)
        case later(RetryLater)
        case timedOut(Duration)
        case cancelled
    }

    /// Runs the job while holding the cluster-wide lock on `key`, renewed every third of a lease; when another
    /// worker holds the lock, hands the job back for later instead.
    private func attemptHoldingLock(_ key: String, _ context: JobContext, timeLimit: Duration?) async -> Outcome {
        let lease = context.claimed.lease
        let queue = self.queue
        do {
            guard try await queue.lockKey(key, for: lease) else {
                try await queue.releaseJob(lease, delay: busyKeyDelay)
                context.logger.debug("concurrency key busy elsewhere; job deferred", metadata: [LogKey.key: "\(key)"])
                return .deferred
            }
        } catch {
            context.logger.error("could not take the concurrency key", metadata: [LogKey.error: "\(error)"])
            return .unrecorded
        }
        let renewEvery = queue.options.leaseDuration / 3
        let outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: renewEvery)
                    if !Task.isCancelled { _ = try? await queue.renewKey(key, for: lease) }
                }
                return nil
            }
            let outcome = await attempt(context, timeLimit: timeLimit)
            group.cancelAll()
            return outcome
        }
        // In a task of its own, so that a cancelled worker still lets go of the key.
        await Task { try? await queue.unlockKey(key, for: lease) }.value
        return outcome
    }

    private func attempt(_ context: JobContext, timeLimit: Duration?) async -> Outcome {
        let lease = context.claimed.lease
        guard !Task.isCancelled else { return await record(.cancelled, lease, context) }
        guard let handler = handlers.handler(for: context.job.jobType) else {
            return await record(
                .threw("no handler is registered for job type \(context.job.jobType) in this process"),
                lease,
                context
            )
        }
        @Sendable func runHandler() async -> HandlerResult {
            do {
                return .finished(try await handler.run(context))
            } catch is CancellationError {
                return .cancelled
            } catch let later as RetryLater {
                return .later(later)
            } catch {
                return Task.isCancelled ? .cancelled : .threw(String(describing: error))
            }
        }
        // Without a time limit the handler runs in this task: no child task to create per job.
        guard let timeLimit else { return await record(await runHandler(), lease, context) }
        let result = await withTaskGroup(of: HandlerResult?.self) { group in
            group.addTask { await runHandler() }
            group.addTask {
                do {
                    try await Task.sleep(for: timeLimit)
                    return .timedOut(timeLimit)
                } catch {
                    return nil  // the handler finished first
                }
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .cancelled
        }
        return await record(result, lease, context)
    }

    /// Writes the outcome in a task of its own, so that a cancelled worker (shutdown) can still hand its job back.
    private func record(_ result: HandlerResult, _ lease: JobLease, _ context: JobContext) async -> Outcome {
        let queue = self.queue
        let logger = context.logger
        let task = Task<Outcome, Never> {
            do {
                switch result {
                case .finished(let value):
                    try await queue.completeJob(
                        lease,
                        result: value,
                        followUps: context.followUps.jobs.withLock { $0 }
                    )
                    return .completed
                case .threw(let message):
                    return .failed(try await queue.failJob(lease, error: message))
                case .timedOut(let limit):
                    let seconds = String(format: "%g", (limit.timeInterval * 1000).rounded() / 1000)
                    return .failed(try await queue.failJob(lease, error: "time limit of \(seconds) s exceeded"))
                case .cancelled:
                    try await queue.releaseJob(lease)
                    return .released
                case .later(let later):
                    try await queue.releaseJob(lease, delay: later.delay)
                    logger.notice("job deferred", metadata: [LogKey.reason: "\(later.reason)"])
                    return .deferred
                }
            } catch let error as QueueError where error.code == .leaseLost {
                return .leaseLost
            } catch {
                logger.error("could not record the job's outcome", metadata: [LogKey.error: "\(error)"])
                return .unrecorded
            }
        }
        return await task.value
    }
}

/// Runs work one at a time per key, in arrival order, within this process.
final class KeyedSerializer: Sendable {
    private struct State {
        var busy: Set<String> = []
        var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = Mutex(State())

    func withKey<T: Sendable>(_ key: String, _ body: () async -> T) async -> T {
        await acquire(key)
        defer { release(key) }
        return await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runNow = state.withLock { state in
                if state.busy.insert(key).inserted { return true }
                state.waiting[key, default: []].append(continuation)
                return false
            }
            if runNow { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if var queue = state.waiting[key], !queue.isEmpty {
                let next = queue.removeFirst()
                state.waiting[key] = queue.isEmpty ? nil : queue
                return next  // the key stays busy, handed to the next waiter
            }
            state.busy.remove(key)
            return nil
        }
        next?.resume()
    }
}
