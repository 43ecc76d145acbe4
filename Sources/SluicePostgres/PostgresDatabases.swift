import Foundation
import Logging
import PostgresNIO
import SluiceCore

/// Creates and drops whole databases on a server, for tests and benchmarks that each want an empty one.
public enum PostgresDatabases {
    /// Creates an empty database with a random name on the server `serverURL` names (its user must be allowed to
    /// create databases); returns the new database's URL and name.
    public static func create(on serverURL: String, prefix: String, logger: Logger) async throws -> (
        url: String, name: String
    ) {
        // A database name is an identifier and cannot be bound; this one is `prefix` and our own hex digits.
        let name = "\(prefix)_\(String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16))"
        try await withConnection(serverURL, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        guard var components = URLComponents(string: serverURL) else {
            throw QueueError.invalidConfiguration("the PostgreSQL URL cannot be parsed")
        }
        components.path = "/\(name)"
        return (components.string ?? serverURL, name)
    }

    /// Drops database `name` (made by ``create(on:prefix:logger:)``), closing its connections.
    public static func drop(_ name: String, on serverURL: String, logger: Logger) async throws {
        try await withConnection(serverURL, logger: logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"),
                logger: logger
            )
        }
    }

    private static func withConnection(
        _ url: String,
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try PostgresStoreConfiguration(url: url).connectionConfiguration(),
            id: 1,
            logger: logger
        )
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
