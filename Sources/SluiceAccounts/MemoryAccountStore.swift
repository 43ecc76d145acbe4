import Foundation
import Synchronization

/// Users, sessions and API tokens in memory, with the SQL stores' semantics (unique emails and token names,
/// sessions deleted with their user, expiry checked against the caller's `now`). For tests and for embedding the
/// server where the database is not the point; nothing survives the process.
public final class MemoryAccountStore: AccountStore {
    private struct State {
        var users: [String: User] = [:]
        var sessions: [String: Session] = [:]
        var tokens: [String: (token: APIToken, hash: String)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func createUser(_ user: User) async throws {
        try state.withLock { state in
            guard !state.users.values.contains(where: { $0.email == user.email }) else {
                throw AccountError.emailTaken(user.email)
            }
            state.users[user.id] = user
        }
    }

    public func user(email: String) async throws -> User? {
        state.withLock { $0.users.values.first { $0.email == email } }
    }

    public func users() async throws -> [User] {
        state.withLock { $0.users.values.sorted { $0.email < $1.email } }
    }

    public func userCount() async throws -> Int {
        state.withLock { $0.users.count }
    }

    public func setRole(email: String, role: Role) async throws -> Bool {
        state.withLock { state in
            guard let id = state.users.values.first(where: { $0.email == email })?.id else { return false }
            state.users[id]?.role = role
            return true
        }
    }

    public func deleteUser(email: String) async throws -> Bool {
        state.withLock { state in
            guard let id = state.users.values.first(where: { $0.email == email })?.id else { return false }
            state.users[id] = nil
            state.sessions = state.sessions.filter { $0.value.userID != id }
            return true
        }
    }

    public func createSession(_ session: Session) async throws {
        state.withLock { $0.sessions[session.tokenHash] = session }
    }

    public func session(tokenHash: String, now: Date) async throws -> (Session, User)? {
        state.withLock { state in
            guard let session = state.sessions[tokenHash], session.expiresAt > now,
                let user = state.users[session.userID]
            else { return nil }
            return (session, user)
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        state.withLock { $0.sessions[tokenHash] = nil }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        state.withLock { state in
            let before = state.sessions.count
            state.sessions = state.sessions.filter { $0.value.expiresAt > now }
            return before - state.sessions.count
        }
    }

    public func createAPIToken(_ token: APIToken, tokenHash: String) async throws {
        try state.withLock { state in
            guard !state.tokens.values.contains(where: { $0.token.name == token.name || $0.hash == tokenHash }) else {
                throw AccountError(code: .nameTaken, message: "an API token named \(token.name) already exists")
            }
            state.tokens[token.id] = (token, tokenHash)
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        state.withLock { $0.tokens.values.map(\.token).sorted { $0.name < $1.name } }
    }

    public func apiToken(tokenHash: String, now: Date) async throws -> APIToken? {
        state.withLock { state in
            state.tokens.values.first { $0.hash == tokenHash && ($0.token.expiresAt.map { $0 > now } ?? true) }?.token
        }
    }

    public func touchAPIToken(id: String, at time: Date) async throws {
        state.withLock { $0.tokens[id]?.token.lastUsedAt = time }
    }

    public func deleteAPIToken(idOrName: String) async throws -> Bool {
        state.withLock { state in
            if state.tokens.removeValue(forKey: idOrName) != nil { return true }
            guard let id = state.tokens.first(where: { $0.value.token.name == idOrName })?.key else { return false }
            state.tokens[id] = nil
            return true
        }
    }
}
