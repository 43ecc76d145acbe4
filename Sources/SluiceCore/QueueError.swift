/// An error from the queue, with a code a program can switch on and a message a person can act on.
///
/// Messages never contain passwords or bound values beyond the job id and state they are about.
public struct QueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a closed set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case jobNotFound, invalidTransition, leaseLost, invalidJob, invalidJSON
            case storeUnavailable, schemaOutOfDate, invalidConfiguration, databaseError
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No job has that id.
        public static let jobNotFound = Code(.jobNotFound)
        /// The job is in a state the operation does not apply to (`retryJob` on a pending job, …).
        public static let invalidTransition = Code(.invalidTransition)
        /// The caller no longer holds the job's lease: it was cancelled, rescued or finished meanwhile.
        public static let leaseLost = Code(.leaseLost)
        /// A job to enqueue is malformed.
        public static let invalidJob = Code(.invalidJob)
        /// Text that should be JSON is not.
        public static let invalidJSON = Code(.invalidJSON)
        /// The database cannot be reached or refused the connection.
        public static let storeUnavailable = Code(.storeUnavailable)
        /// The database schema is older or newer than this build of Sluice.
        public static let schemaOutOfDate = Code(.schemaOutOfDate)
        /// A setting (URL, option) is malformed.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The database refused a statement for a reason not covered above.
        public static let databaseError = Code(.databaseError)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// The job the error is about, when there is one.
    public let jobID: String?
    /// The state the job was in, for ``Code/invalidTransition`` and ``Code/leaseLost``.
    public let status: JobStatus?
    /// The constraint a ``Code/databaseError`` violated (`projects_name_key`), for stores that turn a violation
    /// into a domain error by its name rather than by the words of a message.
    public let constraint: String?

    public init(
        code: Code,
        message: String,
        jobID: String? = nil,
        status: JobStatus? = nil,
        constraint: String? = nil
    ) {
        self.code = code
        self.message = message
        self.jobID = jobID
        self.status = status
        self.constraint = constraint
    }

    public var description: String { message }

    public static func jobNotFound(_ id: String) -> QueueError {
        QueueError(code: .jobNotFound, message: "job \(id) not found", jobID: id)
    }

    /// The job `id`, in `status`, cannot make the transition asked for; `reason` says why in words.
    public static func invalidTransition(_ id: String, from status: JobStatus, reason: String) -> QueueError {
        QueueError(code: .invalidTransition, message: "job \(id) \(reason)", jobID: id, status: status)
    }

    /// The lease on `id` is gone; `status` is what the job is now, when it still exists.
    public static func leaseLost(_ id: String, status: JobStatus?) -> QueueError {
        let now = status.map { "it is \($0.rawValue) now" } ?? "it no longer exists"
        return QueueError(
            code: .leaseLost,
            message: "job \(id) is no longer held by this worker (\(now)); stop working on it",
            jobID: id,
            status: status
        )
    }

    public static func invalidJob(_ reason: String) -> QueueError {
        QueueError(code: .invalidJob, message: "invalid job: \(reason)")
    }

    public static func invalidJSON(_ reason: String) -> QueueError {
        QueueError(code: .invalidJSON, message: "invalid JSON: \(reason)")
    }

    /// `location` must already have any password removed.
    public static func storeUnavailable(_ location: String, reason: String) -> QueueError {
        QueueError(code: .storeUnavailable, message: "cannot reach the database at \(location): \(reason)")
    }

    public static func schemaOutOfDate(_ reason: String) -> QueueError {
        QueueError(code: .schemaOutOfDate, message: "database schema out of date: \(reason)")
    }

    public static func databaseError(_ reason: String, constraint: String? = nil) -> QueueError {
        QueueError(code: .databaseError, message: "database error: \(reason)", constraint: constraint)
    }

    public static func invalidConfiguration(_ reason: String) -> QueueError {
        QueueError(code: .invalidConfiguration, message: reason)
    }
}
