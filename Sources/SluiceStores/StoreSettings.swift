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

/// Everything a Sluice server keeps in its database: the job queue, scheduled-run claims, concurrency-key locks,
/// accounts, and the pipeline's projects and records. Both the
/// PostgreSQL and the SQLite store are one.
public typealias SluiceStore = AccountStore & JobStore & KeyLockStore & PipelineStore & ScheduleStore

/// Opens the store `settings` name, runs `body` with it, and closes it afterwards.
///
/// A PostgreSQL store's connection pool runs in a child task for as long as `body` does.
public func withJobStore<Result: Sendable>(
    _ settings: StoreSettings,
    logger: Logger = Logger(label: "sluice.store"),
    _ body: @Sendable (any SluiceStore) async throws -> Result
) async throws -> Result {
    switch settings {
    case .sqlite(let path):
        return try await body(try SQLiteJobStore(path: path))
    case .postgres(let configuration):
        let store = PostgresJobStore(configuration: configuration, logger: logger)
        try await store.checkReachable()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            return try await body(store)
        }
    }
}
