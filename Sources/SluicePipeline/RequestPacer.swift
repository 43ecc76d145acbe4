import Synchronization

/// Spaces a project's embedding requests after the provider pushed back: each rate limit doubles the gap between
/// that project's requests (from 250 ms, at most 10 s), each success shrinks it by a fifth until it is gone.
/// Counted in this process.
public final class RequestPacer: Sendable {
    private struct State {
        var gap: [String: Duration] = [:]
        var last: [String: ContinuousClock.Instant] = [:]
    }
    private let state = Mutex(State())
    private static let first = Duration.milliseconds(250)
    private static let most = Duration.seconds(10)

    public init() {}

    /// The current gap between the project's requests.
    public func gap(for key: String) -> Duration {
        state.withLock { $0.gap[key] ?? .zero }
    }

    /// Waits until the project's next request may go.
    public func wait(for key: String) async throws {
        let delay = state.withLock { state -> Duration in
            guard let gap = state.gap[key], let last = state.last[key] else { return .zero }
            return max(.zero, last + gap - ContinuousClock.now)
        }
        if delay > .zero { try await Task.sleep(for: delay) }
        state.withLock { $0.last[key] = ContinuousClock.now }
    }

    public func rateLimited(_ key: String) {
        state.withLock { state in
            let gap = state.gap[key].map { $0 * 2 } ?? Self.first
            state.gap[key] = min(gap, Self.most)
        }
    }

    public func succeeded(_ key: String) {
        state.withLock { state in
            guard let gap = state.gap[key] else { return }
            let smaller = gap * 4 / 5
            state.gap[key] = smaller < .milliseconds(20) ? nil : smaller
        }
    }
}
