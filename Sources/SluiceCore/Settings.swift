import Foundation

/// One environment variable: its name, the flag that overrides it (if any), its default as documented, and what
/// it does. The `sluice` command keeps every one it reads in one table, from which its help, `sluice settings` and
/// the README's configuration table come.
public struct Setting: Sendable, Hashable {
    public let name: String
    /// The command-line flag that wins over the variable, such as `--port`.
    public let flag: String?
    /// The default, as a person would write it (`3000`, `unset`, `daily@02:00`).
    public let defaultValue: String
    public let summary: String

    public init(_ name: String, flag: String? = nil, default defaultValue: String, _ summary: String) {
        self.name = name
        self.flag = flag
        self.defaultValue = defaultValue
        self.summary = summary
    }
}

/// Reads settings from an environment: a value is trimmed and an empty one counts as unset; a malformed one is
/// refused with ``QueueError/Code/invalidConfiguration`` naming the variable and the value, never clamped or
/// ignored.
public struct SettingsReader: Sendable {
    public let environment: [String: String]

    public init(_ environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The value as given (trimmed), or nil when unset or empty.
    public func text(_ setting: Setting) -> String? {
        guard let raw = environment[setting.name] else { return nil }
        let value = raw.trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }

    /// A whole number in `range` (default: positive).
    public func integer(_ setting: Setting, in range: ClosedRange<Int> = 1...Int.max) throws -> Int? {
        guard let text = text(setting) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            let expected =
                range.upperBound == Int.max
                ? (range.lowerBound == 1 ? "a positive whole number" : "a whole number of at least \(range.lowerBound)")
                : "a whole number from \(range.lowerBound) to \(range.upperBound)"
            throw Self.refusal(setting, expected, text)
        }
        return value
    }

    /// A positive whole number of seconds.
    public func seconds(_ setting: Setting) throws -> Duration? {
        try integer(setting).map { .seconds($0) }
    }

    /// `true`, `false`, `1`, `0`, `yes` or `no`, in any case.
    public func flag(_ setting: Setting) throws -> Bool? {
        guard let text = text(setting) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw Self.refusal(setting, "true or false", text)
        }
    }

    /// The value read by `parse`, which answers nil (or throws) for text it does not accept: `expected` says what
    /// it accepts.
    public func value<T>(_ setting: Setting, expected: String, _ parse: (String) throws -> T?) throws -> T? {
        guard let text = text(setting) else { return nil }
        do {
            if let value = try parse(text) { return value }
        } catch let error as QueueError {
            throw QueueError.invalidConfiguration("\(setting.name): \(error.message)")
        } catch {
            throw QueueError.invalidConfiguration("\(setting.name): \(error)")
        }
        throw Self.refusal(setting, expected, text)
    }

    static func refusal(_ setting: Setting, _ expected: String, _ text: String) -> QueueError {
        QueueError.invalidConfiguration("\(setting.name) must be \(expected), not '\(text)'")
    }
}
