import Foundation
import Logging
import SluicePostgres

/// A new, empty database for one benchmark run, removed afterwards.
public enum FreshDatabase {
    /// Runs `body` with the URL of a new database: a SQLite file in a new temporary folder, or, when
    /// `postgresServer` is given, a database created on that PostgreSQL server (its user must be allowed to
    /// create databases). With `keep`, the database stays (for `EXPLAIN` and the like) and its URL is printed.
    public static func with<T: Sendable>(
        postgresServer: String?,
        keep: Bool = false,
        logger: Logger,
        _ body: (String) async throws -> T
    ) async throws -> T {
        guard let server = postgresServer else {
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("sluice-bench-\(UUID().uuidString)", isDirectory: true)
            let url = "sqlite:\(folder.appendingPathComponent("bench.sqlite").path)"
            defer {
                if keep {
                    print("kept the benchmark database: \(url)")
                } else {
                    try? FileManager.default.removeItem(at: folder)
                }
            }
            return try await body(url)
        }
        let (url, name) = try await PostgresDatabases.create(on: server, prefix: "sluice_bench", logger: logger)
        do {
            let result = try await body(url)
            if keep {
                print("kept the benchmark database: \(PostgresStoreConfiguration.redact(url))")
                return result
            }
            try await PostgresDatabases.drop(name, on: server, logger: logger)
            return result
        } catch {
            try? await PostgresDatabases.drop(name, on: server, logger: logger)
            throw error
        }
    }
}
