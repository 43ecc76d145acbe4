import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres

/// A new, empty database for one benchmark run, removed afterwards.
public enum FreshDatabase {
    /// Runs `body` with the URL of a new database: a SQLite file in a new temporary folder, or, when
    /// `postgresServer` is given, a database created on that PostgreSQL server (its user must be allowed to
    /// create databases).
    public static func with<T: Sendable>(
        postgresServer: String?, logger: Logger, _ body: (String) async throws -> T
    ) async throws -> T {
        guard let server = postgresServer else {
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("sluice-bench-\(UUID().uuidString)", isDirectory: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            return try await body("sqlite:\(folder.appendingPathComponent("bench.sqlite").path)")
        }
        // A database name is an identifier and cannot be bound; this one is made of our own hex digits only.
        let name = "sluice_bench_\(String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16))"
        try await withConnection(server, logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        guard var components = URLComponents(string: server) else {
            throw QueueError.invalidConfiguration("the PostgreSQL URL cannot be parsed")
        }
        components.path = "/\(name)"
        do {
            let result = try await body(components.string ?? server)
            try await drop(name, server: server, logger: logger)
            return result
        } catch {
            try? await drop(name, server: server, logger: logger)
            throw error
        }
    }

    private static func drop(_ name: String, server: String, logger: Logger) async throws {
        try await withConnection(server, logger: logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }

    private static func withConnection(
        _ url: String, logger: Logger, _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        let configuration = try PostgresStoreConfiguration(url: url).client
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host ?? "localhost", port: configuration.port ?? 5432,
                username: configuration.username, password: configuration.password,
                database: configuration.database, tls: .disable),
            id: 1, logger: logger)
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
