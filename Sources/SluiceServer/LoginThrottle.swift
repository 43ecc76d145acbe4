import Foundation
import SluiceAccounts
import SluiceCore
import Synchronization

/// Slows down password guessing without letting one client lock everyone out.
///
/// - An attempt is counted as a failure when it starts, under the lock, before bcrypt runs, and the count is taken
///   back when it succeeds: concurrent guesses cannot all pass the check.
/// - Failures are counted per (address, account) pair and per account, never per address alone, so that behind a
///   reverse proxy (every user one address) one client's failures never refuse another user's correct password.
///   After `freeFailures` failures of a pair (`4 × freeFailures` of an account, from any address) within 15
///   minutes, each further attempt must wait 1 s, 2 s, 4 s … (at most 15 minutes) after the last failure.
/// - The CPU one address can spend is bounded by concurrency instead: at most `attemptsInFlightPerAddress`
///   verifications at once, and `attemptsInFlight` across all addresses; past either the answer is 429 at once.
/// - Keys are SHA-256 digests (64 characters whatever was sent), and the table holds at most `capacity` of them,
///   dropping the oldest when full.
///
/// Kept in this process's memory: each server counts its own.
final class LoginThrottle: Sendable {
    /// Settings; the defaults are the server's.
    struct Options: Sendable {
        /// Failures of one (address, account) pair before attempts are delayed. Default 5.
        var freeFailures = 5
        /// Verifications one address may have running at once. Default 2.
        var attemptsInFlightPerAddress = 2
        /// Verifications running at once across every address. Default 8.
        var attemptsInFlight = 8
        /// Keys kept at most. Default 10,000.
        var capacity = 10_000
    }

    /// A started attempt, to be finished with ``finish(_:succeeded:)``.
    struct Attempt: Sendable {
        fileprivate let pair: String
        fileprivate let account: String
        fileprivate let address: String
    }

    enum Decision: Sendable {
        case proceed(Attempt)
        /// Refused: try again after this many seconds.
        case wait(seconds: Int)
    }

    private struct Entry {
        var failures: Int
        var last: Date
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var inFlight: [String: Int] = [:]
        var totalInFlight = 0
    }

    private let state = Mutex(State())
    private let options: Options
    private let clock: any WallClock
    private static let window: TimeInterval = 15 * 60

    init(options: Options = Options(), clock: any WallClock) {
        var options = options
        options.freeFailures = max(1, options.freeFailures)
        options.attemptsInFlightPerAddress = max(1, options.attemptsInFlightPerAddress)
        options.attemptsInFlight = max(1, options.attemptsInFlight)
        options.capacity = max(16, options.capacity)
        self.options = options
        self.clock = clock
    }

    /// Starts a sign-in attempt for `account` (the normalised email, exactly as sign-in looks it up) from
    /// `address`, counting it as a failure until it is finished as a success.
    func begin(account: String, address: String) -> Decision {
        let now = clock.now()
        let accountKey = Self.digest("account", account)
        let pairKey = Self.digest("pair", address + "\u{0}" + account)
        let addressKey = Self.digest("address", address)
        let limits = [(pairKey, options.freeFailures), (accountKey, options.freeFailures * 4)]
        return state.withLock { state in
            let waits = limits.compactMap { key, free -> TimeInterval? in
                guard var entry = state.entries[key] else { return nil }
                if now.timeIntervalSince(entry.last) >= Self.window { entry.failures = 0 }
                guard entry.failures >= free else { return nil }
                let until = entry.last + min(pow(2, Double(entry.failures - free)), Self.window)
                return until > now ? until.timeIntervalSince(now) : nil
            }
            if let wait = waits.max() { return .wait(seconds: Int(wait.rounded(.up))) }
            guard state.inFlight[addressKey, default: 0] < options.attemptsInFlightPerAddress,
                state.totalInFlight < options.attemptsInFlight
            else { return .wait(seconds: 1) }
            state.inFlight[addressKey, default: 0] += 1
            state.totalInFlight += 1
            if state.entries.count + limits.count > options.capacity { Self.evict(&state.entries, now: now) }
            for (key, _) in limits {
                var entry = state.entries[key] ?? Entry(failures: 0, last: now)
                if now.timeIntervalSince(entry.last) >= Self.window { entry.failures = 0 }
                entry.failures += 1
                entry.last = now
                state.entries[key] = entry
            }
            return .proceed(Attempt(pair: pairKey, account: accountKey, address: addressKey))
        }
    }

    /// Ends an attempt: a success takes back the failure it was counted as and clears the pair's count.
    func finish(_ attempt: Attempt, succeeded: Bool) {
        state.withLock { state in
            state.totalInFlight -= 1
            let left = state.inFlight[attempt.address, default: 1] - 1
            state.inFlight[attempt.address] = left > 0 ? left : nil
            guard succeeded else { return }
            // The pair that signed in starts afresh; the account keeps the failures it had before this attempt.
            state.entries[attempt.pair] = nil
            if var entry = state.entries[attempt.account] {
                entry.failures -= 1
                state.entries[attempt.account] = entry.failures > 0 ? entry : nil
            }
        }
    }

    /// How many keys the table holds (for tests).
    var keyCount: Int { state.withLock { $0.entries.count } }

    /// Drops expired entries, then, if that freed too little, the oldest quarter.
    private static func evict(_ entries: inout [String: Entry], now: Date) {
        let before = entries.count
        entries = entries.filter { now.timeIntervalSince($0.value.last) < window }
        guard entries.count > before * 3 / 4 else { return }
        let oldest = entries.sorted { $0.value.last < $1.value.last }.prefix(entries.count / 4).map(\.key)
        for key in oldest { entries[key] = nil }
    }

    private static func digest(_ kind: String, _ text: String) -> String {
        SecretToken.digest("\(kind):\(text)")
    }
}
