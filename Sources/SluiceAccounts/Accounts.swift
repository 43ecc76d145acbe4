import Foundation
import SluiceCore
import Synchronization

/// Settings of ``Accounts``.
public struct AccountOptions: Sendable {
    /// How long a sign-in lasts. Default 7 days (`SLUICE_SESSION_HOURS`).
    public var sessionLifetime: Duration
    /// Password hashing. Default bcrypt cost 12 (`SLUICE_BCRYPT_COST`).
    public var passwordHasher: PasswordHasher

    public init(sessionLifetime: Duration = .seconds(7 * 86_400), passwordHasher: PasswordHasher = PasswordHasher()) {
        self.sessionLifetime = sessionLifetime
        self.passwordHasher = passwordHasher
    }
}

/// Users, passwords and sessions: the rules on top of an ``AccountStore``.
public struct Accounts: Sendable {
    public let store: any AccountStore
    public let options: AccountOptions
    private let clock: any WallClock
    /// A hash to verify against when the email is unknown, so that a wrong email costs as long as a wrong
    /// password and the answer's timing does not tell which accounts exist.
    private let decoyHash = DecoyHash()

    public init(
        store: any AccountStore,
        options: AccountOptions = AccountOptions(),
        clock: any WallClock = SystemWallClock()
    ) {
        self.store = store
        self.options = options
        self.clock = clock
    }

    /// Lower-cases and trims an email; throws ``AccountError/Code/invalidEmail`` unless it looks like one.
    public static func normalizedEmail(_ email: String) throws -> String {
        let text = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), text.utf8.count <= 254, !text.contains(where: \.isWhitespace),
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw AccountError(code: .invalidEmail, message: "'\(email)' is not an email address")
        }
        return text
    }

    @discardableResult
    public func createUser(email: String, password: String, role: Role) async throws -> User {
        let email = try Self.normalizedEmail(email)
        try PasswordHasher.validate(password)
        let user = User(
            id: UUID().uuidString.lowercased(),
            email: email,
            role: role,
            passwordHash: try await options.passwordHasher.hash(password),
            createdAt: clock.now()
        )
        try await store.createUser(user)
        return user
    }

    /// A new session for the user with this email and password, or nil when either is wrong (the same nil for
    /// both, after the same amount of work). An empty password, or one with a NUL character (which bcrypt would
    /// cut short), never signs in.
    public func signIn(email: String, password: String) async throws -> (token: String, session: Session, user: User)? {
        let email = (try? Self.normalizedEmail(email)) ?? ""
        let user = email.isEmpty ? nil : try await store.user(email: email)
        guard let user else {
            _ = try await options.passwordHasher.verify(password, hash: try await decoy())
            return nil
        }
        let acceptable = !password.isEmpty && !password.unicodeScalars.contains("\u{0}")
        guard try await options.passwordHasher.verify(password, hash: user.passwordHash), acceptable else {
            return nil
        }
        let token = SecretToken.generate()
        let now = clock.now()
        let session = Session(
            tokenHash: SecretToken.digest(token),
            userID: user.id,
            createdAt: now,
            expiresAt: now + options.sessionLifetime.timeInterval
        )
        try await store.createSession(session)
        return (token, session, user)
    }

    /// The user a session token belongs to, or nil when it is unknown or expired.
    public func user(forToken token: String) async throws -> (Session, User)? {
        guard !token.isEmpty, token.count <= 128 else { return nil }
        return try await store.session(tokenHash: SecretToken.digest(token), now: clock.now())
    }

    public func signOut(token: String) async throws {
        try await store.deleteSession(tokenHash: SecretToken.digest(token))
    }

    // MARK: API tokens

    /// Makes an API token named `name` with `role`, valid for `lifetime` (nil: until revoked). Returns the token,
    /// to be shown once (only its SHA-256 is stored), and its record.
    public func createToken(name: String, role: Role, lifetime: Duration?) async throws -> (
        token: String, record: APIToken
    ) {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(name.count),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw AccountError(
                code: .invalidName,
                message: "a token's name must be 1 to 100 characters, without control characters"
            )
        }
        let now = clock.now()
        let record = APIToken(
            id: UUID().uuidString.lowercased(),
            name: name,
            role: role,
            createdAt: now,
            expiresAt: lifetime.map { now + $0.timeInterval },
            lastUsedAt: nil
        )
        let token = APIToken.prefix + SecretToken.generate()
        try await store.createAPIToken(record, tokenHash: SecretToken.digest(token))
        return (token, record)
    }

    /// The token a request presented, or nil when it is unknown, revoked or expired. The lookup is by SHA-256
    /// digest (an index lookup on a value the caller cannot steer), so no comparison leaks the stored token.
    public func apiToken(_ token: String) async throws -> APIToken? {
        guard token.hasPrefix(APIToken.prefix), token.utf8.count <= 128 else { return nil }
        let now = clock.now()
        guard let record = try await store.apiToken(tokenHash: SecretToken.digest(token), now: now) else { return nil }
        if record.lastUsedAt.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            try await store.touchAPIToken(id: record.id, at: now)
        }
        return record
    }

    public func apiTokens() async throws -> [APIToken] {
        try await store.apiTokens()
    }

    /// Revokes the token with this id or name; false when there is none. The next request with it is refused.
    public func revokeToken(_ idOrName: String) async throws -> Bool {
        try await store.deleteAPIToken(idOrName: idOrName)
    }

    /// What ``bootstrapAdmin(email:password:)`` did.
    public enum Bootstrap: Sendable, Hashable {
        /// Users exist already; nothing was done.
        case usersExist
        /// An admin was created with the given password.
        case created(email: String)
        /// An admin was created with a generated password, to be shown once.
        case generated(email: String, password: String)
    }

    /// On a database without users, creates an admin: from `email` and `password` when given, otherwise
    /// `admin@sluice.local` (or `email`) with a generated password.
    public func bootstrapAdmin(email: String?, password: String?) async throws -> Bootstrap {
        guard try await store.userCount() == 0 else { return .usersExist }
        let email = email.flatMap { $0.isEmpty ? nil : $0 } ?? "admin@sluice.local"
        if let password, !password.isEmpty {
            let user = try await createUser(email: email, password: password, role: .admin)
            return .created(email: user.email)
        }
        let generated = String(SecretToken.generate().prefix(20))
        let user = try await createUser(email: email, password: generated, role: .admin)
        return .generated(email: user.email, password: generated)
    }

    /// Makes the hash that unknown emails are checked against, so that the first of them costs no more than any
    /// other sign-in. Call it before serving; otherwise the first unknown email makes it.
    public func prepare() async throws {
        _ = try await decoy()
    }

    private func decoy() async throws -> String {
        if let hash = decoyHash.value.withLock({ $0 }) { return hash }
        let hash = try await options.passwordHasher.hash(SecretToken.generate())
        decoyHash.value.withLock { $0 = hash }
        return hash
    }
}

/// Shared between copies of ``Accounts``, computed on first use.
private final class DecoyHash: Sendable {
    let value = Mutex<String?>(nil)
}
