import Foundation
import Synchronization

/// A store that can tell waiting workers that jobs may have become ready, so that they need not wait for their
/// next poll: PostgreSQL through LISTEN/NOTIFY from every process sharing the database, SQLite and memory within
/// the process that enqueued. Workers still poll as a fallback (a missed notification costs one poll interval).
public protocol JobNotifyingStore: Sendable {
    /// Types of jobs enqueued since the caller subscribed (a type may repeat; nil means "any type", sent after a
    /// lost connection). The stream ends when the subscriber stops iterating.
    func readyJobs() -> AsyncStream<JobType?>
}

/// Fans "jobs of this type may be ready" out to every subscriber in the process. Each subscriber buffers at
/// most a few signals: a worker that is busy sees one wake-up, not one per job enqueued meanwhile.
public final class JobSignal: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<JobType?>.Continuation] = [:]
        var nextID = 0
        /// Callers of ``waitForSubscriber()`` waiting for the first subscriber.
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// A new subscription; ends when its iterator is dropped.
    public func subscribe() -> AsyncStream<JobType?> {
        let (stream, continuation) = AsyncStream<JobType?>.makeStream(bufferingPolicy: .bufferingNewest(8))
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
            }
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for waiter in waiting { waiter.resume() }
        return stream
    }

    /// Tells every subscriber that jobs of `type` (nil: of any type) may be ready.
    public func send(_ type: JobType?) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(type) }
    }

    /// Whether anybody listens: a store need not send anything otherwise.
    public var hasSubscribers: Bool { state.withLock { !$0.subscribers.isEmpty } }

    /// Sends the type of every job just inserted that is due at `now`, once per type.
    public func announce(_ jobs: [NewJob], _ results: [EnqueueResult], now: Date) {
        guard hasSubscribers else { return }
        let due = Set(zip(jobs, results).filter { $1.inserted && ($0.scheduledFor ?? now) <= now }.map(\.0.jobType))
        for type in due { send(type) }
    }

    /// Returns once somebody subscribed (at once if somebody has): a store starts listening to its database only
    /// when a worker in its process wants to hear.
    public func waitForSubscriber() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if !state.subscribers.isEmpty || Task.isCancelled { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }
}
