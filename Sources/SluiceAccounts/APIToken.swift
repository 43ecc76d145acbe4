import Foundation

/// A bearer token a program signs in with (`Authorization: Bearer sluice_…`) instead of a cookie: it acts with its
/// own role. The token itself is shown once, when it is made; the database keeps only its SHA-256.
public struct APIToken: Sendable, Hashable {
    public var id: String
    /// Unique; what `sluice tokens revoke` and the list show.
    public var name: String
    public var role: Role
    public var createdAt: Date
    /// Refused from this time on; nil for a token that does not expire.
    public var expiresAt: Date?
    /// When a request last used it (written at most once a minute).
    public var lastUsedAt: Date?

    public init(id: String, name: String, role: Role, createdAt: Date, expiresAt: Date?, lastUsedAt: Date?) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.lastUsedAt = lastUsedAt
    }

    /// What every token starts with, so that a leaked one is recognisable (secret scanners, logs).
    public static let prefix = "sluice_"

    /// The identity a request signed with this token acts as: its role, and a name for logs and for who cancelled
    /// a job (`token etl`). It has no password and cannot sign in.
    public var actor: User {
        User(id: "token:\(id)", email: "token \(name)", role: role, passwordHash: "", createdAt: createdAt)
    }
}

/// Where API tokens are kept: implemented by the PostgreSQL and SQLite stores, beside users and sessions.
public protocol APITokenStore: Sendable {
    /// Adds a token; throws ``AccountError/Code/nameTaken`` when the name is in use.
    func createAPIToken(_ token: APIToken, tokenHash: String) async throws
    /// Every token, by name.
    func apiTokens() async throws -> [APIToken]
    /// The token with that hash, unless it expired before `now`.
    func apiToken(tokenHash: String, now: Date) async throws -> APIToken?
    /// Records a use.
    func touchAPIToken(id: String, at time: Date) async throws
    /// Deletes the token with this id, or else this name; false when there is none.
    func deleteAPIToken(idOrName: String) async throws -> Bool
}
