import Foundation
import SluiceCore

/// When a scheduled task runs: every fixed interval (aligned to the Unix epoch, so every server agrees on the
/// slots), or daily at a UTC time.
public enum Schedule: Sendable, Hashable, CustomStringConvertible {
    case every(seconds: Int)
    case dailyAt(hour: Int, minute: Int)

    /// Reads `60s`, `5m`, `1h` or `daily@02:00` (UTC).
    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("daily@") {
            let parts = text.dropFirst("daily@".count).split(separator: ":")
            if parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour),
                (0..<60).contains(minute)
            {
                self = .dailyAt(hour: hour, minute: minute)
                return
            }
        } else if let unit = text.last, let count = Int(text.dropLast()), count > 0 {
            let seconds: Int? =
                switch unit {
                case "s": count
                case "m": count * 60
                case "h": count * 3600
                default: nil
                }
            if let seconds {
                self = .every(seconds: seconds)
                return
            }
        }
        throw QueueError.invalidConfiguration(
            "schedule '\(text)' is not one of 30s, 5m, 1h or daily@HH:MM (UTC)"
        )
    }

    /// The start of the slot `date` falls in.
    public func slot(containing date: Date) -> Date {
        let t = date.timeIntervalSince1970
        switch self {
        case .every(let seconds):
            return Date(timeIntervalSince1970: (t / Double(seconds)).rounded(.down) * Double(seconds))
        case .dailyAt(let hour, let minute):
            let offset = Double(hour * 3600 + minute * 60)
            let day = ((t - offset) / 86_400).rounded(.down)
            return Date(timeIntervalSince1970: day * 86_400 + offset)
        }
    }

    /// The start of the slot after the one `date` falls in.
    public func nextSlot(after date: Date) -> Date {
        switch self {
        case .every(let seconds): slot(containing: date) + Double(seconds)
        case .dailyAt: slot(containing: date) + 86_400
        }
    }

    public var description: String {
        switch self {
        case .every(let seconds): "every \(seconds) s"
        case .dailyAt(let hour, let minute): "daily at \(String(format: "%02d:%02d", hour, minute)) UTC"
        }
    }
}
