import Foundation
import SluiceCore
import Synchronization

/// Slows down password guessing: after `freeFailures` failed sign-ins for one account or from one address within
/// 15 minutes, each further attempt must wait 1 s, 2 s, 4 s … (at most 15 minutes) after the last failure.
/// Kept in this process's memory: each server counts its own.
final class LoginThrottle: Sendable {
    private struct Entry {
        var failures: Int
        var last: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let freeFailures: Int
    private let clock: any WallClock
    private static let window: TimeInterval = 15 * 60

    init(freeFailures: Int, clock: any WallClock) {
        self.freeFailures = max(1, freeFailures)
        self.clock = clock
    }

    /// Seconds to wait before `keys` may try again, or nil when they may try now.
    func retryAfter(_ keys: [String]) -> Int? {
        let now = clock.now()
        return entries.withLock { entries in
            let waits = keys.compactMap { key -> TimeInterval? in
                guard let entry = entries[key], entry.failures >= freeFailures else { return nil }
                let delay = min(pow(2, Double(entry.failures - freeFailures)), Self.window)
                let until = entry.last + delay
                return until > now ? until.timeIntervalSince(now) : nil
            }
            return waits.max().map { Int($0.rounded(.up)) }
        }
    }

    func recordFailure(_ keys: [String]) {
        let now = clock.now()
        entries.withLock { entries in
            if entries.count > 10_000 {
                entries = entries.filter { now.timeIntervalSince($0.value.last) < Self.window }
            }
            for key in keys {
                var entry = entries[key] ?? Entry(failures: 0, last: now)
                if now.timeIntervalSince(entry.last) >= Self.window { entry.failures = 0 }
                entry.failures += 1
                entry.last = now
                entries[key] = entry
            }
        }
    }

    func recordSuccess(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
