import Foundation
import PostgresNIO
import SluiceAccounts
import SluiceCore
import SluicePostgres

extension PostgresAccountStore {
    private static let tokenColumns = "id, name, role, created_at, expires_at, last_used_at"

    public func createAPIToken(_ token: APIToken, tokenHash: String) async throws {
        do {
            _ = try await changesRow(
                """
                INSERT INTO sluice_api_tokens (id, name, role, token_hash, created_at, expires_at)
                VALUES (\(token.id), \(token.name), \(token.role.rawValue), \(tokenHash), \(token.createdAt),
                        \(token.expiresAt))
                RETURNING id
                """
            )
        } catch let error as QueueError where error.constraint == "sluice_api_tokens_name_key" {
            throw AccountError(code: .nameTaken, message: "an API token named \(token.name) already exists")
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await fetchTokens("SELECT \(unescaped: Self.tokenColumns) FROM sluice_api_tokens ORDER BY name")
    }

    public func apiToken(tokenHash: String, now: Date) async throws -> APIToken? {
        try await fetchTokens(
            """
            SELECT \(unescaped: Self.tokenColumns) FROM sluice_api_tokens
            WHERE token_hash = \(tokenHash) AND (expires_at IS NULL OR expires_at > \(now))
            """
        ).first
    }

    public func touchAPIToken(id: String, at time: Date) async throws {
        _ = try await changesRow("UPDATE sluice_api_tokens SET last_used_at = \(time) WHERE id = \(id) RETURNING id")
    }

    public func deleteAPIToken(idOrName: String) async throws -> Bool {
        try await changesRow(
            """
            DELETE FROM sluice_api_tokens
            WHERE id = COALESCE((SELECT id FROM sluice_api_tokens WHERE id = \(idOrName)),
                                (SELECT id FROM sluice_api_tokens WHERE name = \(idOrName)))
            RETURNING id
            """
        )
    }

    private func fetchTokens(_ query: PostgresQuery) async throws -> [APIToken] {
        try await mapErrors {
            try await client.query(query, logger: logger).collect().map { row in
                let (id, name, roleText, created, expires, used) = try row.decode(
                    (String, String, String, Date, Date?, Date?).self
                )
                guard let role = Role(rawValue: roleText) else {
                    throw QueueError.schemaOutOfDate("unknown role '\(roleText)' in sluice_api_tokens")
                }
                return APIToken(
                    id: id,
                    name: name,
                    role: role,
                    createdAt: created,
                    expiresAt: expires,
                    lastUsedAt: used
                )
            }
        }
    }
}
