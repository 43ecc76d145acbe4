import Foundation

/// When a failed attempt runs again: `baseDelay` after the first failure, doubling after each further one, never
/// more than `maxDelay`. With the defaults: 10 s, 20 s, 40 s, … up to 1 hour.
public struct RetryPolicy: Sendable, Hashable {
    /// Delay after the first failed attempt. Default 10 s (`SLUICE_RETRY_BASE_SECONDS`).
    public var baseDelay: Duration
    /// Upper bound for any one delay. Default 1 hour.
    public var maxDelay: Duration

    public init(baseDelay: Duration = .seconds(10), maxDelay: Duration = .seconds(3600)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay after attempt number `attempt` (1-based) failed.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let doublings = max(0, min(attempt - 1, 62))
        let seconds = baseDelay.timeInterval * pow(2, Double(doublings))
        return min(.seconds(seconds), maxDelay)
    }
}
