import Foundation
import Logging
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluicePostgres
import SluiceSQLite

/// Which database Sluice uses, from `DATABASE_URL`: `postgres://…` (or `postgresql://…`) for PostgreSQL,
/// `sqlite:PATH` for an SQLite file. Default `sqlite:./data/sluice.sqlite`.
public enum StoreSettings: Sendable {
    // `indirect`: Swift 6.3.1 miscompiles copies of this two-payload enum when the payload is stored inline
    // (a crash in "outlined init with copy of PostgresStoreConfiguration").
    indirect case postgres(PostgresStoreConfiguration)
    case sqlite(path: String)

    public static let defaultURL = "sqlite:./data/sluice.sqlite"

    public init(url: String) throws {
        let text = url.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(try PostgresStoreConfiguration(url: text))
        } else if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }  // sqlite://relative or sqlite:///absolute
            guard !path.isEmpty, path != ":memory:" else {
                throw QueueError.invalidConfiguration(
                    "DATABASE_URL 'sqlite:' needs a file path, for example sqlite:./data/sluice.sqlite"
                )
            }
            self = .sqlite(path: path)
        } else {
            throw QueueError.invalidConfiguration(
                "DATABASE_URL must start with postgres:// or sqlite:, not '\(PostgresStoreConfiguration.redact(text))'"
            )
        }
    }

    /// The URL without its password.
    public var redactedURL: String {
        switch self {
        case .postgres(let configuration): configuration.redactedURL
        case .sqlite(let path): "sqlite:\(path)"
        }
    }
}

/// Everything a Sluice server keeps in its database, one store per library: the queue (jobs, scheduled runs, key
/// locks), accounts, and the pipeline's projects and records. On PostgreSQL they share one connection pool, on
/// SQLite one file; `queue.migrate()` brings every library's tables up to date.
public struct Stores: Sendable {
    public let queue: any QueueStore
    public let accounts: any AccountStore
    public let pipeline: any PipelineStore

    public init(queue: any QueueStore, accounts: any AccountStore, pipeline: any PipelineStore) {
        self.queue = queue
        self.accounts = accounts
        self.pipeline = pipeline
    }

    /// Every store in memory (``MemoryJobStore``, ``MemoryAccountStore``, ``MemoryPipelineStore``): for tests and
    /// for trying the server where the database is not the point. Nothing survives the process.
    public static func memory() -> Stores {
        Stores(queue: MemoryJobStore(), accounts: MemoryAccountStore(), pipeline: MemoryPipelineStore())
    }
}

/// Opens the stores `settings` name, runs `body` with them, and closes them afterwards.
///
/// A PostgreSQL store's connection pool runs in a child task for as long as `body` does.
public func withStores<Result: Sendable>(
    _ settings: StoreSettings,
    logger: Logger = Logger(label: "sluice.store"),
    _ body: @Sendable (Stores) async throws -> Result
) async throws -> Result {
    switch settings {
    case .sqlite(let path):
        let queue = try SQLiteJobStore(path: path, migrations: SQLiteSchema.migrations)
        return try await body(
            Stores(
                queue: queue,
                accounts: SQLiteAccountStore(database: queue.database),
                pipeline: SQLitePipelineStore(database: queue.database)
            )
        )
    case .postgres(let configuration):
        let queue = PostgresJobStore(
            configuration: configuration,
            migrations: PostgresSchema.migrations,
            logger: logger
        )
        try await queue.checkReachable()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await queue.run() }
            defer { group.cancelAll() }
            return try await body(
                Stores(
                    queue: queue,
                    accounts: PostgresAccountStore(database: queue.database),
                    pipeline: PostgresPipelineStore(database: queue.database)
                )
            )
        }
    }
}
