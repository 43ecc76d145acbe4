import Foundation

/// A job as the store holds it: the row of `job_queue`.
public struct Job: Sendable, Hashable, Codable {
    public var id: String
    public var jobType: JobType
    public var status: JobStatus
    /// Higher runs first.
    public var priority: Int
    /// How many times the job has been claimed (reset to 0 by `retryJob`).
    public var attempts: Int
    public var maxAttempts: Int
    /// The job's input; SQL NULL once the job completed.
    public var payload: JSONValue?
    /// What the handler returned, or `{"error": …}` for a failed job.
    public var result: JSONValue?
    public var progress: JobProgress?
    /// The error of every failed attempt, oldest first. Kept across retries.
    public var errors: [AttemptError]
    /// When set, no other unfinished job of the same type may have this key.
    public var uniqueKey: String?
    /// Who holds the lease while the job is PROCESSING.
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    /// Never claimed before this time.
    public var scheduledFor: Date
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?

    public init(
        id: String,
        jobType: JobType,
        status: JobStatus,
        priority: Int,
        attempts: Int,
        maxAttempts: Int,
        payload: JSONValue?,
        result: JSONValue?,
        progress: JobProgress?,
        errors: [AttemptError],
        uniqueKey: String?,
        leaseOwner: String?,
        leaseExpiresAt: Date?,
        scheduledFor: Date,
        createdAt: Date,
        startedAt: Date?,
        completedAt: Date?
    ) {
        self.id = id
        self.jobType = jobType
        self.status = status
        self.priority = priority
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.payload = payload
        self.result = result
        self.progress = progress
        self.errors = errors
        self.uniqueKey = uniqueKey
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.scheduledFor = scheduledFor
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
    }
}

/// Progress a handler reports for the monitor: `current` of `total`, with a message.
public struct JobProgress: Sendable, Hashable, Codable {
    public var current: Int
    public var total: Int
    public var message: String

    public init(current: Int, total: Int, message: String = "") {
        self.current = current
        self.total = total
        self.message = message
    }
}

/// The error one attempt ended with.
public struct AttemptError: Sendable, Hashable, Codable {
    /// The attempt number (1 for the first claim).
    public var attempt: Int
    public var at: Date
    public var message: String

    public init(attempt: Int, at: Date, message: String) {
        self.attempt = attempt
        self.at = at
        self.message = message
    }
}

/// A job to add to the queue.
public struct NewJob: Sendable, Hashable {
    public var jobType: JobType
    /// The job's input. A job made from JSON text (``init(jobType:payloadText:priority:maxAttempts:)``) keeps the
    /// text and parses it only when this is read.
    public var payload: JSONValue {
        get {
            switch storedPayload {
            case .value(let value): value
            case .text(let text): (try? JSONValue(parsing: text)) ?? .null
            }
        }
        set { storedPayload = .value(newValue) }
    }
    /// The payload as stores write it: compact JSON text.
    public var payloadText: String {
        switch storedPayload {
        case .value(let value): value.jsonText
        case .text(let text): text
        }
    }
    private var storedPayload: StoredPayload

    private enum StoredPayload: Sendable, Hashable {
        case value(JSONValue)
        /// JSON text that was checked when it was made: well-formed, without NUL characters.
        case text(String)
    }
    /// Higher is claimed first. Default 0.
    public var priority: Int
    /// Claims before the job fails for good. Default 3.
    public var maxAttempts: Int
    /// Not claimed before this time. Default: now.
    public var scheduledFor: Date?
    /// When set, enqueueing a second unfinished job of the same type with this key returns the first one.
    public var uniqueKey: String?

    public init(
        jobType: JobType,
        payload: JSONValue = .object([:]),
        priority: Int = 0,
        maxAttempts: Int = 3,
        scheduledFor: Date? = nil,
        uniqueKey: String? = nil
    ) {
        self.jobType = jobType
        self.storedPayload = .value(payload)
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.scheduledFor = scheduledFor
        self.uniqueKey = uniqueKey
    }

    /// A job whose payload is already JSON text, for producers that build large payloads as text so that they are
    /// never held as values (an upload's parts). The text must be well-formed JSON without NUL characters: the
    /// package's own producers check every value they write into it.
    package init(jobType: JobType, payloadText: String, priority: Int = 0, maxAttempts: Int = 3) {
        self.jobType = jobType
        self.storedPayload = .text(payloadText)
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.scheduledFor = nil
        self.uniqueKey = nil
    }

    /// Rejects what no store should hold, with a message that says which field is wrong.
    public func validate() throws {
        try jobType.validate()
        guard (1...1000).contains(maxAttempts) else {
            throw QueueError.invalidJob("maxAttempts must be between 1 and 1000, not \(maxAttempts)")
        }
        guard (Int(Int32.min)...Int(Int32.max)).contains(priority) else {
            throw QueueError.invalidJob("priority must fit in 32 bits, not \(priority)")
        }
        if let uniqueKey, uniqueKey.isEmpty || uniqueKey.utf8.count > 255 {
            throw QueueError.invalidJob("uniqueKey must be 1 to 255 bytes")
        }
        // Refused on every store alike, because PostgreSQL's jsonb cannot hold it. (Text payloads were checked
        // when they were made.)
        if case .value(let payload) = storedPayload, payload.containsNUL {
            throw QueueError.invalidJob("payload contains a NUL character (\\u0000), which cannot be stored")
        }
    }
}

/// What `enqueue` did: the job's id, and whether it was inserted or an unfinished job with the same unique key
/// already stood in the queue.
public struct EnqueueResult: Sendable, Hashable {
    public var id: String
    public var inserted: Bool

    public init(id: String, inserted: Bool) {
        self.id = id
        self.inserted = inserted
    }
}

/// Proof that a worker holds a job: every call a worker makes about its job carries it.
///
/// `owner` is unique per claim, so a worker whose job was cancelled, rescued or retried meanwhile can no longer
/// change it.
public struct JobLease: Sendable, Hashable {
    public var jobID: String
    public var owner: String
    /// The attempt this claim started (1 for the first).
    public var attempt: Int
    public var maxAttempts: Int

    public init(jobID: String, owner: String, attempt: Int, maxAttempts: Int) {
        self.jobID = jobID
        self.owner = owner
        self.attempt = attempt
        self.maxAttempts = maxAttempts
    }
}

/// A job a worker has claimed, with the lease it must present to complete, fail or report progress.
public struct ClaimedJob: Sendable, Hashable {
    public var job: Job
    public var lease: JobLease

    public init(job: Job) {
        self.job = job
        self.lease = JobLease(
            jobID: job.id,
            owner: job.leaseOwner ?? "",
            attempt: job.attempts,
            maxAttempts: job.maxAttempts
        )
    }
}
