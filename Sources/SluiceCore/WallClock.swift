import Foundation
import Synchronization

/// The source of wall-clock time for the queue: the system clock in production, a manual one in tests.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system's wall clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that moves only when told to, for tests of backoff, scheduling and lease expiry.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Date>

    /// Starts at `start`, by default a whole second so that every store keeps it exactly.
    public init(start: Date = Date(timeIntervalSince1970: Double(Int(Date().timeIntervalSince1970)))) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 += duration.timeInterval }
    }
}

extension Duration {
    /// The duration in seconds, as `Date` arithmetic wants it.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
