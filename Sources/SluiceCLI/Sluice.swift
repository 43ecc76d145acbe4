import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluiceStores
import Synchronization

@main
struct Sluice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A database-backed job queue for ingestion and vectorization pipelines.",
        subcommands: [
            Serve.self, Work.self, Migrate.self, Enqueue.self, Stats.self, Jobs.self, Cleanup.self, Rescue.self,
            Users.self, Tokens.self, Projects.self, Ingest.self, Search.self, Bench.self,
        ]
    )
}

/// Settings every command that opens the queue shares. Each flag falls back to its environment variable, then to
/// the documented default.
struct QueueSettings: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "postgres://… or sqlite:PATH (env DATABASE_URL; default \(StoreSettings.defaultURL))."
    )
    var databaseURL: String?

    @Flag(
        name: .customLong("no-migrate"),
        help: "Fail on an out-of-date schema instead of migrating it (env SLUICE_AUTO_MIGRATE=false)."
    )
    var noMigrate = false

    @Option(
        name: .customLong("lease-seconds"),
        help: "How long a claimed job is held without progress (env SLUICE_LEASE_SECONDS; default 300)."
    )
    var leaseSeconds: Int?

    @Option(
        name: .customLong("retry-base-seconds"),
        help:
            "Delay after a first failed attempt, doubling after each further one (env SLUICE_RETRY_BASE_SECONDS; default 10)."
    )
    var retryBaseSeconds: Int?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical (env SLUICE_LOG_LEVEL; default warning)."
    )
    var logLevel: String?

    /// Opens the store, brings its schema up to date (or, with `--no-migrate`, checks it), and runs `body` with
    /// the queue. `checkSchema: false` leaves the schema to `body`.
    func withQueue<Result: Sendable>(
        checkSchema: Bool = true,
        _ body: @Sendable @escaping (DatabaseQueue) async throws -> Result
    ) async throws -> Result {
        try await withStores(checkSchema: checkSchema) { stores, options, logger in
            try await body(DatabaseQueue(store: stores.queue, options: options, logger: logger))
        }
    }

    /// The same as ``withQueue(checkSchema:_:)``, handing over the stores themselves (queue, accounts, pipeline),
    /// the queue options and the logger.
    func withStores<Result: Sendable>(
        checkSchema: Bool = true,
        _ body: @Sendable @escaping (Stores, QueueOptions, Logger) async throws -> Result
    ) async throws -> Result {
        let environment = ProcessInfo.processInfo.environment
        let logger = try makeLogger(environment)
        let url =
            databaseURL ?? environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? StoreSettings.defaultURL
        let settings = try StoreSettings(url: url)
        var options = QueueOptions()
        if let lease = try seconds(leaseSeconds, "SLUICE_LEASE_SECONDS", environment) {
            options.leaseDuration = .seconds(lease)
        }
        if let base = try seconds(retryBaseSeconds, "SLUICE_RETRY_BASE_SECONDS", environment) {
            options.retry.baseDelay = .seconds(base)
        }
        let autoMigrate =
            !noMigrate && !["false", "0", "no"].contains(environment["SLUICE_AUTO_MIGRATE"]?.lowercased() ?? "")
        let queueOptions = options
        return try await SluiceStores.withStores(settings, logger: logger) { stores in
            if checkSchema && autoMigrate {
                _ = try await stores.queue.migrate()
            } else if checkSchema {
                try await stores.queue.schemaStatus().requireCurrent()
            }
            return try await body(stores, queueOptions, logger)
        }
    }

    func makeLogger(_ environment: [String: String]) throws -> Logger {
        let text = logLevel ?? environment["SLUICE_LOG_LEVEL"] ?? "warning"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw QueueError.invalidConfiguration(
                "log level '\(text)' is not one of trace, debug, info, notice, warning, error, critical"
            )
        }
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "sluice")
        logger.logLevel = level
        return logger
    }

    func seconds(_ flag: Int?, _ variable: String, _ environment: [String: String]) throws -> Int? {
        if let flag {
            guard flag > 0 else { throw QueueError.invalidConfiguration("\(variable) must be a positive number") }
            return flag
        }
        guard let text = environment[variable], !text.isEmpty else { return nil }
        guard let value = Int(text), value > 0 else {
            throw QueueError.invalidConfiguration("\(variable) must be a positive number of seconds, not '\(text)'")
        }
        return value
    }
}

/// Logs go to standard error, so that standard output carries only the command's answer.
enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(level: Logger.Level) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
