import Foundation
import PostgresNIO
import SluiceAccounts
import SluiceCore
import SluicePostgres

/// Users and sessions (and API tokens, `PostgresTokenStore.swift`) in the `sluice_*` tables, on the queue store's pool.
public final class PostgresAccountStore: AccountStore, PostgresTableStore {
    let database: PostgresPool

    public init(database: PostgresPool) { self.database = database }

    private static let userColumns = "id, email, role, password_hash, created_at"

    public func createUser(_ user: User) async throws {
        do {
            _ = try await changesRow(
                """
                INSERT INTO sluice_users (id, email, role, password_hash, created_at)
                VALUES (\(user.id), \(user.email), \(user.role.rawValue), \(user.passwordHash), \(user.createdAt))
                RETURNING id
                """
            )
        } catch let error as QueueError where error.constraint == "sluice_users_email_key" {
            throw AccountError.emailTaken(user.email)
        }
    }

    public func user(email: String) async throws -> User? {
        try await fetchUsers("SELECT \(unescaped: Self.userColumns) FROM sluice_users WHERE email = \(email)").first
    }

    public func users() async throws -> [User] {
        try await fetchUsers("SELECT \(unescaped: Self.userColumns) FROM sluice_users ORDER BY email")
    }

    public func userCount() async throws -> Int {
        try await mapErrors {
            for try await count in try await client.query("SELECT count(*) FROM sluice_users", logger: logger)
                .decode(Int.self)
            {
                return count
            }
            return 0
        }
    }

    public func setRole(email: String, role: Role) async throws -> Bool {
        try await changesRow(
            "UPDATE sluice_users SET role = \(role.rawValue) WHERE email = \(email) RETURNING id"
        )
    }

    public func deleteUser(email: String) async throws -> Bool {
        try await changesRow("DELETE FROM sluice_users WHERE email = \(email) RETURNING id")
    }

    public func createSession(_ session: Session) async throws {
        _ = try await changesRow(
            """
            INSERT INTO sluice_sessions (token_hash, user_id, created_at, expires_at)
            VALUES (\(session.tokenHash), \(session.userID), \(session.createdAt), \(session.expiresAt))
            RETURNING token_hash
            """
        )
    }

    public func session(tokenHash: String, now: Date) async throws -> (Session, User)? {
        try await mapErrors {
            let rows = try await client.query(
                """
                SELECT s.token_hash, s.user_id, s.created_at, s.expires_at,
                       u.id, u.email, u.role, u.password_hash, u.created_at
                FROM sluice_sessions s JOIN sluice_users u ON u.id = s.user_id
                WHERE s.token_hash = \(tokenHash) AND s.expires_at > \(now)
                """,
                logger: logger
            ).collect()
            guard let row = rows.first else { return nil }
            let cells = row.makeRandomAccess()
            let session = Session(
                tokenHash: try cells[0].decode(String.self),
                userID: try cells[1].decode(String.self),
                createdAt: try cells[2].decode(Date.self),
                expiresAt: try cells[3].decode(Date.self)
            )
            return (session, try Self.decodeUser(cells, from: 4))
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        _ = try await changesRow("DELETE FROM sluice_sessions WHERE token_hash = \(tokenHash) RETURNING token_hash")
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try await mapErrors {
            try await client.query(
                "DELETE FROM sluice_sessions WHERE expires_at <= \(now) RETURNING token_hash",
                logger: logger
            ).collect().count
        }
    }

    private func fetchUsers(_ query: PostgresQuery) async throws -> [User] {
        try await mapErrors {
            try await client.query(query, logger: logger).collect().map {
                try Self.decodeUser($0.makeRandomAccess(), from: 0)
            }
        }
    }

    private static func decodeUser(_ cells: PostgresRandomAccessRow, from start: Int) throws -> User {
        let roleText = try cells[start + 2].decode(String.self)
        guard let role = Role(rawValue: roleText) else {
            throw QueueError.schemaOutOfDate("unknown role '\(roleText)' in sluice_users")
        }
        return User(
            id: try cells[start].decode(String.self),
            email: try cells[start + 1].decode(String.self),
            role: role,
            passwordHash: try cells[start + 3].decode(String.self),
            createdAt: try cells[start + 4].decode(Date.self)
        )
    }
}
