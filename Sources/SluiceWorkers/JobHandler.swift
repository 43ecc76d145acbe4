import Logging
import SluiceCore
import Synchronization

/// What a handler gets besides the job: the queue (to enqueue follow-up jobs) and progress reporting.
public struct JobContext: Sendable {
    public let claimed: ClaimedJob
    public let queue: DatabaseQueue
    /// Carries the job's id, type and attempt as metadata.
    public let logger: Logger

    public var job: Job { claimed.job }
    public var payload: JSONValue { claimed.job.payload ?? .null }

    /// Jobs registered with ``enqueueOnCompletion(_:)``.
    let followUps = FollowUps()

    public init(claimed: ClaimedJob, queue: DatabaseQueue, logger: Logger) {
        self.claimed = claimed
        self.queue = queue
        self.logger = logger
    }

    /// Queues `job` in the same transaction that records this job COMPLETED, so that neither can happen without the
    /// other (nothing is queued when the job fails or is handed back). The place for a follow-up that shares the
    /// job's unique key, which the job holds until it completes.
    public func enqueueOnCompletion(_ job: NewJob) {
        followUps.jobs.withLock { $0.append(job) }
    }

    /// Shows progress in the monitor and renews the job's lease, so long jobs should report at least once per
    /// lease period (5 minutes by default).
    public func reportProgress(current: Int, total: Int, message: String = "") async throws {
        try await queue.updateProgress(claimed.lease, current: current, total: total, message: message)
    }
}

/// Runs jobs of one type. Return the job's result (kept on the job, shown in the monitor); throw to fail the
/// attempt (retried with backoff while attempts remain). Handlers should stop when their task is cancelled: the
/// job is then handed back to the queue unfinished.
public protocol JobHandler: Sendable {
    func run(_ context: JobContext) async throws -> JSONValue?
}

/// A handler made of a closure.
public struct ClosureJobHandler: JobHandler {
    private let body: @Sendable (JobContext) async throws -> JSONValue?

    public init(_ body: @escaping @Sendable (JobContext) async throws -> JSONValue?) {
        self.body = body
    }

    public func run(_ context: JobContext) async throws -> JSONValue? {
        try await body(context)
    }
}

/// The handlers a process can run, by job type. The pipeline registers INGEST_DATA and VECTORIZE; applications
/// add their own types.
public struct JobHandlerRegistry: Sendable {
    private var handlers: [JobType: any JobHandler] = [:]
    private var serialKeys: [JobType: String] = [:]

    public init() {}

    /// Registers `handler` for `type`. With `serializeBy`, jobs of this type whose payloads have the same value
    /// at that key run one at a time across every worker sharing the database (VECTORIZE: one job per project at a
    /// time): in order within a process, and through a lock in the database between processes.
    public mutating func register(_ type: JobType, serializeBy key: String? = nil, _ handler: any JobHandler) {
        handlers[type] = handler
        serialKeys[type] = key
    }

    public mutating func register(
        _ type: JobType,
        serializeBy key: String? = nil,
        _ body: @escaping @Sendable (JobContext) async throws -> JSONValue?
    ) {
        register(type, serializeBy: key, ClosureJobHandler(body))
    }

    public func handler(for type: JobType) -> (any JobHandler)? { handlers[type] }

    /// The registered types, sorted by name.
    public var types: [JobType] { handlers.keys.sorted { $0.rawValue < $1.rawValue } }

    /// The serialisation key of a job, when its type has one and its payload carries it.
    public func serialKey(for job: Job) -> String? {
        guard let key = serialKeys[job.jobType], let value = job.payload?[key] else { return nil }
        switch value {
        case .string(let text): return "\(job.jobType.rawValue)/\(text)"
        case .int(let number): return "\(job.jobType.rawValue)/\(number)"
        default: return nil
        }
    }
}

/// Where job outcomes are counted (Prometheus in the server). Called once per finished attempt.
public protocol JobMetrics: Sendable {
    func attemptFinished(type: JobType, outcome: JobRunner.Outcome, duration: Duration)
}

/// Counts nothing.
public struct NoJobMetrics: JobMetrics {
    public init() {}
    public func attemptFinished(type: JobType, outcome: JobRunner.Outcome, duration: Duration) {}
}

/// Thrown by a handler that cannot make progress yet for a reason that is not the job's fault (a provider's rate
/// limit, a busy resource): the job goes back to PENDING for `delay` and the attempt is not counted.
public struct RetryLater: Error, Sendable, Hashable, CustomStringConvertible {
    public var delay: Duration
    public var reason: String

    public init(after delay: Duration, reason: String) {
        self.delay = delay
        self.reason = reason
    }

    public var description: String { "retry after \(delay): \(reason)" }
}

/// Jobs a handler asked to queue with its completion.
final class FollowUps: Sendable {
    let jobs = Mutex<[NewJob]>([])
}
