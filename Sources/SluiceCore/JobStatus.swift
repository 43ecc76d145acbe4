/// Where a job is in its life. The raw values are what the `status` column stores.
///
/// ```
/// PENDING --claim--> PROCESSING --complete--> COMPLETED
///    ^                   |
///    +--fail (retries)---+--fail (none left) / cancel--> FAILED --retry--> PENDING
/// ```
public enum JobStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending = "PENDING"
    case processing = "PROCESSING"
    case completed = "COMPLETED"
    case failed = "FAILED"

    /// Parses a status case-insensitively (`pending`, `PENDING`), as the CLI and HTTP filters accept it.
    public init?(parsing text: String) {
        self.init(rawValue: text.uppercased())
    }

    /// Reads the `status` column; a value no build of Sluice writes means the schema is not what this build expects.
    public init(stored text: String) throws {
        guard let status = JobStatus(rawValue: text) else {
            throw QueueError.schemaOutOfDate("unknown job status '\(text)' in job_queue")
        }
        self = status
    }

    /// True for COMPLETED and FAILED: the states that only `retryJob` or `cleanup` leave.
    public var isFinished: Bool { self == .completed || self == .failed }
}

/// The kind of work a job asks for; workers claim jobs by type.
public struct JobType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Checks the shape every store accepts: 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `_`, `-`, `.`.
    public func validate() throws {
        let allowed = rawValue.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
                || "_-.".unicodeScalars.contains($0)
        }
        guard !rawValue.isEmpty, rawValue.count <= 64, allowed else {
            throw QueueError.invalidJob("job type '\(rawValue)' must be 1 to 64 letters, digits, '_', '-' or '.'")
        }
    }
}

/// The rules for operator transitions, shared by the stores so that every store refuses with the same words.
public enum QueueTransitions {
    /// Only FAILED jobs can be retried.
    public static func checkRetry(id: String, status: JobStatus) throws {
        switch status {
        case .failed: return
        case .pending:
            throw QueueError.invalidTransition(id, from: .pending, reason: "is pending, not failed: it will run anyway")
        case .processing:
            throw QueueError.invalidTransition(id, from: .processing, reason: "is processing, not failed")
        case .completed:
            throw QueueError.invalidTransition(id, from: .completed, reason: "is already completed")
        }
    }

    /// Only PENDING and PROCESSING jobs can be cancelled.
    public static func checkCancel(id: String, status: JobStatus) throws {
        switch status {
        case .pending, .processing: return
        case .completed:
            throw QueueError.invalidTransition(id, from: .completed, reason: "is already completed")
        case .failed:
            throw QueueError.invalidTransition(id, from: .failed, reason: "is already failed")
        }
    }
}
