import Foundation

/// What a signed-in user may do. Each role can do everything the roles below it can.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Signs in, sees their own account, and searches projects.
    case viewer = "VIEWER"
    /// Also watches the queue (stats, recent jobs, job details, the monitor page) and runs the pipeline: creates
    /// projects, uploads records and re-embeds them (which spends the embedding provider's quota).
    case manager = "MANAGER"
    /// Also retries and cancels jobs.
    case admin = "ADMIN"

    /// Reads `admin`, `ADMIN`, `Manager`…; nil for anything else.
    public init?(parsing text: String) {
        self.init(rawValue: text.trimmingCharacters(in: .whitespaces).uppercased())
    }

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .manager: 1
        case .admin: 2
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}

/// A person who can sign in.
public struct User: Sendable, Hashable {
    public var id: String
    /// Lower-cased and trimmed; unique.
    public var email: String
    public var role: Role
    /// bcrypt hash of the password; never shown.
    public var passwordHash: String
    public var createdAt: Date

    public init(id: String, email: String, role: Role, passwordHash: String, createdAt: Date) {
        self.id = id
        self.email = email
        self.role = role
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A signed-in browser. The cookie carries a random token; the database keeps only its SHA-256, so a copy of the
/// database does not let anyone sign in.
public struct Session: Sendable, Hashable {
    public var tokenHash: String
    public var userID: String
    public var createdAt: Date
    public var expiresAt: Date

    public init(tokenHash: String, userID: String, createdAt: Date, expiresAt: Date) {
        self.tokenHash = tokenHash
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// Where users, sessions and API tokens are kept: implemented by the PostgreSQL and SQLite stores, beside the job
/// queue.
public protocol AccountStore: APITokenStore {
    /// Adds a user; throws ``AccountError/Code/emailTaken`` when the email is in use.
    func createUser(_ user: User) async throws
    func user(email: String) async throws -> User?
    /// Every user, by email.
    func users() async throws -> [User]
    func userCount() async throws -> Int
    /// Changes a user's role; false when no user has that email.
    func setRole(email: String, role: Role) async throws -> Bool
    /// Deletes a user and their sessions; false when no user has that email.
    func deleteUser(email: String) async throws -> Bool

    func createSession(_ session: Session) async throws
    /// The unexpired session with that token hash, and its user as they are now (so a role change or a deletion
    /// takes effect at the next request).
    func session(tokenHash: String, now: Date) async throws -> (Session, User)?
    func deleteSession(tokenHash: String) async throws
    /// Removes sessions that expired before `now`; returns how many.
    func deleteExpiredSessions(now: Date) async throws -> Int
}

/// An error about accounts, with a code a program can switch on and a message a person can act on. Messages never
/// contain passwords.
public struct AccountError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case emailTaken, invalidEmail, invalidPassword, userNotFound, nameTaken, invalidName
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Another user has that email.
        public static let emailTaken = Code(.emailTaken)
        /// Not an email address.
        public static let invalidEmail = Code(.invalidEmail)
        /// Too short or too long for bcrypt.
        public static let invalidPassword = Code(.invalidPassword)
        /// No user has that email.
        public static let userNotFound = Code(.userNotFound)
        /// Another API token has that name.
        public static let nameTaken = Code(.nameTaken)
        /// Not a usable name for an API token.
        public static let invalidName = Code(.invalidName)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func emailTaken(_ email: String) -> AccountError {
        AccountError(code: .emailTaken, message: "a user with email \(email) already exists")
    }

    public static func userNotFound(_ email: String) -> AccountError {
        AccountError(code: .userNotFound, message: "no user has email \(email)")
    }
}
