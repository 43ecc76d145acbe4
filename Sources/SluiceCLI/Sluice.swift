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
            Users.self, Tokens.self, Projects.self, Ingest.self, Records.self, Search.self, Bench.self,
            SettingsCommand.self,
        ]
    )
}

/// Settings every command that opens the queue shares. Each flag falls back to its environment variable, then to
/// the documented default.
struct QueueSettings: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "postgres://… or sqlite:PATH (\(Settings.databaseURL.envAndDefault))."
    )
    var databaseURL: String?

    @Flag(
        name: .customLong("no-migrate"),
        help: "Fail on an out-of-date schema instead of migrating it (env \(Settings.autoMigrate.name)=false)."
    )
    var noMigrate = false

    @Option(
        name: .customLong("lease-seconds"),
        help: "How long a claimed job is held without progress (\(Settings.leaseSeconds.envAndDefault))."
    )
    var leaseSeconds: Int?

    @Option(
        name: .customLong("retry-base-seconds"),
        help:
            "Delay after a first failed attempt, doubling after each further one (\(Settings.retryBaseSeconds.envAndDefault))."
    )
    var retryBaseSeconds: Int?

    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical (\(Settings.logLevel.envAndDefault))."
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
        let reader = SettingsReader()
        let logger = try makeLogger(reader)
        let settings = try StoreSettings(
            url: databaseURL ?? reader.text(Settings.databaseURL) ?? StoreSettings.defaultURL
        )
        let queueOptions = try reader.queueOptions(leaseSeconds: leaseSeconds, retryBaseSeconds: retryBaseSeconds)
        let autoMigrate = try !noMigrate && reader.flag(Settings.autoMigrate) ?? true
        return try await SluiceStores.withStores(settings, logger: logger) { stores in
            if checkSchema && autoMigrate {
                _ = try await stores.queue.migrate()
            } else if checkSchema {
                try await stores.queue.schemaStatus().requireCurrent()
            }
            return try await body(stores, queueOptions, logger)
        }
    }

    func makeLogger(_ reader: SettingsReader) throws -> Logger {
        let level = try reader.logLevel(flag: logLevel)
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "sluice")
        logger.logLevel = level
        return logger
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
