import Foundation
import GRDB
import SluiceAccounts
import SluiceCore
import SluiceSQLite

/// Users and sessions (and API tokens, `SQLiteTokenStore.swift`) in the `sluice_*` tables of the queue's file.
public final class SQLiteAccountStore: AccountStore, SQLiteTableStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) { self.database = database }

    private static let userColumns = "id, email, role, password_hash, created_at"

    public func createUser(_ user: User) async throws {
        let arguments: StatementArguments = [
            user.id, user.email, user.role.rawValue, user.passwordHash, Self.micros(user.createdAt),
        ]
        do {
            try await write { db in
                try db.execute(
                    sql: "INSERT INTO sluice_users (id, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: arguments
                )
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw AccountError.emailTaken(user.email)
        }
    }

    public func user(email: String) async throws -> User? {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT \(Self.userColumns) FROM sluice_users WHERE email = ?",
                arguments: [email]
            ).map { try Self.decodeUser($0, from: 0) }
        }
    }

    public func users() async throws -> [User] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.userColumns) FROM sluice_users ORDER BY email")
                .map { try Self.decodeUser($0, from: 0) }
        }
    }

    public func userCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sluice_users") ?? 0 }
    }

    public func setRole(email: String, role: Role) async throws -> Bool {
        try await changesRow("UPDATE sluice_users SET role = ? WHERE email = ?", [role.rawValue, email])
    }

    public func deleteUser(email: String) async throws -> Bool {
        try await changesRow("DELETE FROM sluice_users WHERE email = ?", [email])
    }

    public func createSession(_ session: Session) async throws {
        _ = try await changesRow(
            "INSERT INTO sluice_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [session.tokenHash, session.userID, Self.micros(session.createdAt), Self.micros(session.expiresAt)]
        )
    }

    public func session(tokenHash: String, now: Date) async throws -> (Session, User)? {
        let nowMicros = Self.micros(now)
        return try await read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT s.token_hash, s.user_id, s.created_at, s.expires_at,
                               u.id, u.email, u.role, u.password_hash, u.created_at
                        FROM sluice_sessions s JOIN sluice_users u ON u.id = s.user_id
                        WHERE s.token_hash = ? AND s.expires_at > ?
                        """,
                    arguments: [tokenHash, nowMicros]
                )
            else { return nil }
            let session = Session(
                tokenHash: row[0],
                userID: row[1],
                createdAt: Self.date(row[2]),
                expiresAt: Self.date(row[3])
            )
            return (session, try Self.decodeUser(row, from: 4))
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        _ = try await changesRow("DELETE FROM sluice_sessions WHERE token_hash = ?", [tokenHash])
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM sluice_sessions WHERE expires_at <= ?", arguments: [Self.micros(now)])
            return db.changesCount
        }
    }

    private static func decodeUser(_ row: Row, from start: Int) throws -> User {
        let roleText: String = row[start + 2]
        guard let role = Role(rawValue: roleText) else {
            throw QueueError.schemaOutOfDate("unknown role '\(roleText)' in sluice_users")
        }
        return User(
            id: row[start],
            email: row[start + 1],
            role: role,
            passwordHash: row[start + 3],
            createdAt: date(row[start + 4])
        )
    }
}
