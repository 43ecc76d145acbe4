import Foundation
import SluiceCore
import Synchronization

/// At most `limit` holders at once; the next is refused at once rather than queued.
final class ConcurrencyLimit: Sendable {
    private let count = Mutex(0)
    let limit: Int

    /// Places taken now.
    var held: Int { count.withLock { $0 } }

    init(_ limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a place; false when all are taken.
    func enter() -> Bool {
        count.withLock { held in
            guard held < limit else { return false }
            held += 1
            return true
        }
    }

    func leave() {
        count.withLock { $0 -= 1 }
    }
}

/// At most `limit` requests per identity in each minute (a fixed window), for work that costs real money or CPU
/// per request: a search embeds its query with the provider. The table forgets identities idle for a minute.
final class PerMinuteLimit: Sendable {
    private struct Window {
        var start: Date
        var count: Int
    }

    private let windows = Mutex<[String: Window]>([:])
    let limit: Int
    private let clock: any WallClock

    init(limit: Int, clock: any WallClock) {
        self.limit = max(1, limit)
        self.clock = clock
    }

    /// Counts a request of `identity`: nil when it may go ahead, else the seconds until it may.
    func admit(_ identity: String) -> Int? {
        let now = clock.now()
        return windows.withLock { windows in
            if windows.count > 10_000 { windows = windows.filter { now.timeIntervalSince($0.value.start) < 60 } }
            var window = windows[identity] ?? Window(start: now, count: 0)
            if now.timeIntervalSince(window.start) >= 60 { window = Window(start: now, count: 0) }
            guard window.count < limit else {
                return max(1, Int((60 - now.timeIntervalSince(window.start)).rounded(.up)))
            }
            window.count += 1
            windows[identity] = window
            return nil
        }
    }
}
