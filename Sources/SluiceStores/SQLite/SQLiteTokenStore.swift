import Foundation
import GRDB
import SluiceAccounts
import SluiceCore
import SluiceSQLite

extension SQLiteAccountStore {
    private static let tokenColumns = "id, name, role, created_at, expires_at, last_used_at"

    public func createAPIToken(_ token: APIToken, tokenHash: String) async throws {
        let arguments: StatementArguments = [
            token.id, token.name, token.role.rawValue, tokenHash, Self.micros(token.createdAt),
            token.expiresAt.map(Self.micros),
        ]
        do {
            _ = try await changesRow(
                """
                INSERT INTO sluice_api_tokens (id, name, role, token_hash, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                arguments
            )
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw AccountError(code: .nameTaken, message: "an API token named \(token.name) already exists")
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.tokenColumns) FROM sluice_api_tokens ORDER BY name")
                .map(Self.decodeToken)
        }
    }

    public func apiToken(tokenHash: String, now: Date) async throws -> APIToken? {
        let nowMicros = Self.micros(now)
        return try await read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT \(Self.tokenColumns) FROM sluice_api_tokens
                    WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)
                    """,
                arguments: [tokenHash, nowMicros]
            ).map(Self.decodeToken)
        }
    }

    public func touchAPIToken(id: String, at time: Date) async throws {
        _ = try await changesRow("UPDATE sluice_api_tokens SET last_used_at = ? WHERE id = ?", [Self.micros(time), id])
    }

    public func deleteAPIToken(idOrName: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM sluice_api_tokens WHERE id = ?", arguments: [idOrName])
            if db.changesCount > 0 { return true }
            try db.execute(sql: "DELETE FROM sluice_api_tokens WHERE name = ?", arguments: [idOrName])
            return db.changesCount > 0
        }
    }

    private static func decodeToken(_ row: Row) throws -> APIToken {
        let roleText: String = row[2]
        guard let role = Role(rawValue: roleText) else {
            throw QueueError.schemaOutOfDate("unknown role '\(roleText)' in sluice_api_tokens")
        }
        let expires: Int64? = row[4]
        let used: Int64? = row[5]
        return APIToken(
            id: row[0],
            name: row[1],
            role: role,
            createdAt: date(row[3]),
            expiresAt: expires.map(date),
            lastUsedAt: used.map(date)
        )
    }
}
