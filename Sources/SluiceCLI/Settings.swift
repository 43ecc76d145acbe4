import ArgumentParser
import Foundation
import Logging
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers

/// Every environment variable `sluice` reads: its flag, default and meaning. The help of `serve` and `work`,
/// `sluice settings` and the README's configuration table are made from it (a test compares them), and the readers
/// below are the only code that reads the environment.
enum Settings {
    // Every command that opens the database.
    static let databaseURL = Setting(
        "DATABASE_URL",
        flag: "--database-url",
        default: StoreSettings.defaultURL,
        "`postgres://user:pass@host:port/db` or `sqlite:PATH` (the folder is created)."
    )
    static let autoMigrate = Setting(
        "SLUICE_AUTO_MIGRATE",
        flag: "--no-migrate",
        default: "true",
        "Commands apply pending migrations before they start. With `false` / `--no-migrate` they refuse an "
            + "out-of-date schema instead, for deployments that migrate in a separate step (`sluice migrate`)."
    )
    static let leaseSeconds = Setting(
        "SLUICE_LEASE_SECONDS",
        flag: "--lease-seconds",
        default: "300",
        "How long a claimed job stays with its worker without a progress report before the rescuer may hand it "
            + "to another."
    )
    static let retryBaseSeconds = Setting(
        "SLUICE_RETRY_BASE_SECONDS",
        flag: "--retry-base-seconds",
        default: "10",
        "Delay after a first failed attempt; it doubles after each further one (10 s, 20 s, 40 s, …, at most 1 hour)."
    )
    static let logLevel = Setting(
        "SLUICE_LOG_LEVEL",
        flag: "--log-level",
        default: "warning",
        "`trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`."
    )

    // The server.
    static let appEnvironment = Setting(
        "APP_ENV",
        default: "development",
        "`production` requires `CRON_SECRET` and marks the session cookie Secure."
    )
    static let port = Setting(
        "PORT",
        flag: "--port",
        default: "3000",
        "Port of `serve` (`--host`, default `127.0.0.1`, sets the address; `--port 0` picks a free port)."
    )
    static let cronSecret = Setting(
        "CRON_SECRET",
        default: "unset",
        "Bearer secret of the worker endpoints: required in production, enforced in development when set."
    )
    static let adminEmail = Setting(
        "SLUICE_ADMIN_EMAIL",
        default: "admin@sluice.local",
        "The admin created on the first start with no users."
    )
    static let adminPassword = Setting(
        "SLUICE_ADMIN_PASSWORD",
        default: "generated",
        "That admin's password; without it one is generated and shown once."
    )
    static let sessionHours = Setting("SLUICE_SESSION_HOURS", default: "168", "How long a sign-in lasts.")
    static let bcryptCost = Setting("SLUICE_BCRYPT_COST", default: "12", "bcrypt cost for new passwords (4–31).")
    static let workerConcurrency = Setting(
        "SLUICE_WORKER_CONCURRENCY",
        flag: "--concurrency",
        default: "4",
        "Jobs a process runs at once (continuous workers)."
    )
    static let shutdownGraceSeconds = Setting(
        "SLUICE_SHUTDOWN_GRACE_SECONDS",
        default: "30",
        "On shutdown, how long running jobs may finish before they go back to PENDING."
    )
    static let workerBudgetSeconds = Setting(
        "SLUICE_WORKER_BUDGET_SECONDS",
        default: "60",
        "Time budget of one worker-endpoint call or scheduled run."
    )
    static let scheduleIngestion = Setting(
        "SLUICE_SCHEDULE_INGESTION",
        flag: "--no-scheduler",
        default: "60s",
        "How often the built-in scheduler runs the ingestion worker (`30s`, `5m`, `1h`)."
    )
    static let scheduleVectorization = Setting(
        "SLUICE_SCHEDULE_VECTORIZATION",
        flag: "--no-scheduler",
        default: "60s",
        "How often the built-in scheduler runs the vectorization worker."
    )
    static let scheduleCleanup = Setting(
        "SLUICE_SCHEDULE_CLEANUP",
        flag: "--no-scheduler",
        default: "daily@02:00",
        "When cleanup runs (UTC)."
    )
    static let scheduleReconcile = Setting(
        "SLUICE_SCHEDULE_RECONCILE",
        flag: "--no-scheduler",
        default: "300s",
        "How often the reconciler queues VECTORIZE for projects whose records were left without a job."
    )
    static let retentionDays = Setting(
        "SLUICE_RETENTION_DAYS",
        default: "7",
        "Finished jobs older than this many days are deleted by cleanup."
    )
    static let maxIngestBytes = Setting(
        "SLUICE_MAX_INGEST_BYTES",
        default: "67108864",
        "Largest upload the ingest endpoint accepts (64 MiB); larger gets 413."
    )
    static let maxBodyBytes = Setting(
        "SLUICE_MAX_BODY_BYTES",
        default: "1048576",
        "Largest JSON body of the other API routes (1 MiB); larger gets 413."
    )
    static let maxConcurrentUploads = Setting(
        "SLUICE_MAX_CONCURRENT_UPLOADS",
        default: "2",
        "Uploads read at once; the next gets 503 with `Retry-After` before its body is read."
    )
    static let searchesPerMinute = Setting(
        "SLUICE_SEARCHES_PER_MINUTE",
        default: "120",
        "Searches per user or API token per minute; past it, 429 with `Retry-After`."
    )
    static let idleTimeoutSeconds = Setting(
        "SLUICE_IDLE_TIMEOUT_SECONDS",
        default: "60",
        "A connection idle this long, or still sending its request's headers, is closed."
    )
    static let publicURL = Setting(
        "SLUICE_PUBLIC_URL",
        default: "unset",
        "The origin browsers use (`https://sluice.example.com` behind a TLS proxy): cookie POSTs must come from it "
            + "and address it."
    )
    static let trustedProxies = Setting(
        "SLUICE_TRUSTED_PROXIES",
        default: "unset",
        "Comma-separated proxy addresses whose `X-Forwarded-For` names the client, for sign-in throttling."
    )
    static let vectorIndexBacklog = Setting(
        "SLUICE_VECTOR_INDEX_BACKLOG",
        default: "10000",
        "The approximate vector index (PostgreSQL) is built once at least this many chunks have vectors and fewer than this many wait for one; search scans exactly until then."
    )
    static let bulkActionLimit = Setting(
        "SLUICE_BULK_ACTION_LIMIT",
        default: "1000",
        "Most jobs one bulk retry or cancel from the queue monitor changes."
    )

    // The pipeline.
    static let ingestJobRecords = Setting(
        "SLUICE_INGEST_JOB_RECORDS",
        default: "2000",
        "Records per INGEST_DATA job; larger uploads are split."
    )
    static let ingestBatchSize = Setting(
        "SLUICE_INGEST_BATCH_SIZE",
        default: "100",
        "Records stored per transaction by INGEST_DATA."
    )
    static let maxRecordTextBytes = Setting(
        "SLUICE_MAX_RECORD_TEXT_BYTES",
        default: "1048576",
        "Longest text a record may carry (1 MiB); longer records are skipped with the reason. Texts are split into chunks."
    )
    static let chunkSize = Setting(
        "SLUICE_CHUNK_SIZE",
        default: "2048",
        "Longest chunk of a record's text that is embedded, in characters (about 512 tokens)."
    )
    static let chunkOverlap = Setting(
        "SLUICE_CHUNK_OVERLAP",
        default: "204",
        "Characters two consecutive chunks of a record share (whole words or sentences; at most half a chunk)."
    )
    static let vectorizeRecordsPerJob = Setting(
        "SLUICE_VECTORIZE_RECORDS_PER_JOB",
        default: "250",
        "Records one VECTORIZE job embeds before its continuation takes over."
    )
    static let embedBatchSize = Setting("SLUICE_EMBED_BATCH_SIZE", default: "25", "Texts per provider request.")
    static let embedConcurrency = Setting(
        "SLUICE_EMBED_CONCURRENCY",
        default: "4",
        "Provider requests one VECTORIZE job has in flight at once (a remote provider's latency does not serialise a project)."
    )
    static let embeddingProvider = Setting(
        "EMBEDDING_PROVIDER",
        default: "local",
        "`local` (offline) or `openai` (any OpenAI-compatible `/embeddings` endpoint)."
    )
    static let embeddingBaseURL = Setting(
        "EMBEDDING_BASE_URL",
        default: "https://api.openai.com/v1",
        "Where `/embeddings` is."
    )
    static let embeddingAPIKey = Setting(
        "EMBEDDING_API_KEY",
        default: "unset",
        "Sent as `Authorization: Bearer …`; optional for local servers. Never logged."
    )
    static let embeddingModel = Setting(
        "EMBEDDING_MODEL",
        default: "text-embedding-3-small (sluice-local-hash-v1 locally)",
        "The model, recorded with every vector."
    )
    static let embeddingDimensions = Setting(
        "EMBEDDING_DIMENSIONS",
        default: "1536",
        "The length every vector must have."
    )
    static let embeddingSendDimensions = Setting(
        "EMBEDDING_SEND_DIMENSIONS",
        default: "false",
        "Send `dimensions` in requests (OpenAI's text-embedding-3 models can shorten vectors; other servers may "
            + "refuse the field)."
    )
    static let embeddingTimeoutSeconds = Setting(
        "EMBEDDING_TIMEOUT_SECONDS",
        default: "30",
        "One request's time limit."
    )

    // Tests and benchmarks.
    static let testDatabaseURL = Setting(
        "TEST_DATABASE_URL",
        flag: "--database-url",
        default: "set by scripts/test",
        "The PostgreSQL server the tests and `sluice bench --store postgres` create their databases on (the user "
            + "must be allowed to create databases)."
    )

    /// Read by every command that opens the database.
    static let common = [databaseURL, autoMigrate, leaseSeconds, retryBaseSeconds, logLevel]
    /// Read by `serve` only.
    static let server = [
        appEnvironment, port, cronSecret, adminEmail, adminPassword, sessionHours, bcryptCost, workerBudgetSeconds,
        scheduleIngestion, scheduleVectorization, scheduleCleanup, scheduleReconcile, retentionDays, maxIngestBytes,
        maxBodyBytes, maxConcurrentUploads, searchesPerMinute, idleTimeoutSeconds, publicURL, trustedProxies,
        bulkActionLimit, vectorIndexBacklog,
    ]
    /// Read by `serve` and `work` (the workers and the job handlers); the embedding ones by `search` too.
    static let workers = [
        workerConcurrency, shutdownGraceSeconds, ingestJobRecords, ingestBatchSize, maxRecordTextBytes, chunkSize,
        chunkOverlap,
        vectorizeRecordsPerJob, embedBatchSize, embedConcurrency, embeddingProvider, embeddingBaseURL, embeddingAPIKey,
        embeddingModel,
        embeddingDimensions, embeddingSendDimensions, embeddingTimeoutSeconds,
    ]
    static let all = common + server + workers + [testDatabaseURL]

    /// The settings as the README's table: variable, flag, default, meaning.
    static func markdownTable() -> String {
        var lines = ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
        for setting in all {
            lines.append(
                "| `\(setting.name)` | \(setting.flag.map { "`\($0)`" } ?? "—") | `\(setting.defaultValue)` | "
                    + "\(setting.summary) |"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// Variables for a command's help: name, default and meaning, one per line.
    static func help(_ settings: [Setting]) -> String {
        settings.map {
            "\($0.name) (default \($0.defaultValue)): \($0.summary.replacingOccurrences(of: "`", with: ""))"
        }
        .joined(separator: "\n")
    }
}

extension Setting {
    /// "env NAME; default VALUE", for a flag's help.
    var envAndDefault: String { "env \(name); default \(defaultValue)" }
}

/// `sluice settings`: prints the table of environment variables.
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List every environment variable Sluice reads, with its flag, default and meaning."
    )

    @Flag(help: "Print the README's Markdown table.") var markdown = false

    func run() {
        if markdown {
            print(Settings.markdownTable())
        } else {
            let rows = Settings.all.map { [$0.name, $0.flag ?? "", $0.defaultValue] }
            print(Table.render([["VARIABLE", "FLAG", "DEFAULT"]] + rows))
        }
    }
}

/// The options of each library, from the environment through one ``SettingsReader``.
extension SettingsReader {
    func serverConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        if let environment = try value(
            Settings.appEnvironment,
            expected: "development or production",
            {
                AppEnvironment(rawValue: $0.lowercased())
            }
        ) {
            configuration.environment = environment
        }
        if let port = try integer(Settings.port, in: 1...65_535) { configuration.port = port }
        configuration.cronSecret = text(Settings.cronSecret)
        if let budget = try seconds(Settings.workerBudgetSeconds) { configuration.workerBudget = budget }
        configuration.workers = try workerOptions()
        if let days = try integer(Settings.retentionDays) { configuration.retentionDays = days }
        if let bytes = try integer(Settings.maxIngestBytes) { configuration.maxIngestBytes = bytes }
        if let bytes = try integer(Settings.maxBodyBytes) { configuration.maxBodyBytes = bytes }
        if let count = try integer(Settings.maxConcurrentUploads) { configuration.maxConcurrentUploads = count }
        if let count = try integer(Settings.searchesPerMinute) { configuration.searchesPerMinute = count }
        if let timeout = try seconds(Settings.idleTimeoutSeconds) { configuration.idleTimeout = timeout }
        if let count = try integer(Settings.ingestJobRecords) { configuration.ingestPartSize = count }
        if let count = try integer(Settings.bulkActionLimit) { configuration.bulkActionLimit = count }
        configuration.ingestion = try ingestionOptions()
        if let count = try integer(Settings.vectorIndexBacklog) { configuration.vectorIndexBacklog = count }
        if let proxies = try value(
            Settings.trustedProxies,
            expected: "IP addresses separated by commas",
            {
                ServerConfiguration.trustedProxies(parsing: $0)
            }
        ) {
            configuration.trustedProxies = proxies
        }
        if let origin = try value(
            Settings.publicURL,
            expected: "an origin such as https://sluice.example.com",
            {
                ServerConfiguration.origin(parsing: $0)
            }
        ) {
            configuration.publicURL = origin
        }
        let schedules = [
            (Settings.scheduleIngestion, \ServerConfiguration.ingestionSchedule),
            (Settings.scheduleVectorization, \.vectorizationSchedule), (Settings.scheduleCleanup, \.cleanupSchedule),
            (Settings.scheduleReconcile, \.reconcileSchedule),
        ]
        for (setting, path) in schedules {
            if let schedule = try value(setting, expected: "a schedule", { try Schedule(parsing: $0) }) {
                configuration[keyPath: path] = schedule
            }
        }
        return configuration
    }

    func workerOptions() throws -> ContinuousWorkerOptions {
        var options = ContinuousWorkerOptions(types: PipelineJobs.types)
        if let count = try integer(Settings.workerConcurrency) { options.concurrency = count }
        if let grace = try seconds(Settings.shutdownGraceSeconds) { options.shutdownGracePeriod = grace }
        return options
    }

    func accountOptions() throws -> AccountOptions {
        var options = AccountOptions()
        if let hours = try integer(Settings.sessionHours) { options.sessionLifetime = .seconds(hours * 3600) }
        if let cost = try integer(Settings.bcryptCost, in: 4...31) {
            options.passwordHasher = PasswordHasher(cost: UInt8(cost))
        }
        return options
    }

    func ingestionOptions() throws -> IngestionOptions {
        var options = IngestionOptions()
        if let size = try integer(Settings.ingestBatchSize) { options.batchSize = size }
        if let bytes = try integer(Settings.maxRecordTextBytes) { options.maxTextBytes = bytes }
        let size = try integer(Settings.chunkSize) ?? options.chunker.size
        let overlap = try integer(Settings.chunkOverlap, in: 0...Int.max)
        if let overlap, overlap > size / 2 {
            throw QueueError.invalidConfiguration(
                "SLUICE_CHUNK_OVERLAP must be at most half of SLUICE_CHUNK_SIZE (\(size / 2)), not '\(overlap)'"
            )
        }
        options.chunker = Chunker(size: size, overlap: overlap)
        return options
    }

    func vectorizationOptions() throws -> VectorizationOptions {
        var options = VectorizationOptions()
        if let count = try integer(Settings.vectorizeRecordsPerJob) { options.recordsPerJob = count }
        if let size = try integer(Settings.embedBatchSize) { options.batchSize = size }
        if let count = try integer(Settings.embedConcurrency) { options.requestsInFlight = count }
        return options
    }

    func embeddingSettings() throws -> EmbeddingSettings {
        let provider =
            try value(Settings.embeddingProvider, expected: "local or openai") {
                EmbeddingSettings.Provider(rawValue: $0.lowercased())
            } ?? .local
        let baseURL =
            try value(Settings.embeddingBaseURL, expected: "an http(s) URL") { text -> String? in
                guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil
                else { return nil }
                return text
            } ?? "https://api.openai.com/v1"
        return EmbeddingSettings(
            provider: provider,
            baseURL: baseURL,
            apiKey: text(Settings.embeddingAPIKey),
            model: text(Settings.embeddingModel),
            dimensions: try integer(Settings.embeddingDimensions) ?? 1536,
            sendDimensions: try flag(Settings.embeddingSendDimensions) ?? false,
            timeout: try seconds(Settings.embeddingTimeoutSeconds) ?? .seconds(30)
        )
    }

    /// The queue's lease and retry delay: a flag wins over its variable.
    func queueOptions(leaseSeconds: Int?, retryBaseSeconds: Int?) throws -> QueueOptions {
        var options = QueueOptions()
        if let lease = try Self.flagOrSetting(leaseSeconds, Settings.leaseSeconds, self) {
            options.leaseDuration = .seconds(lease)
        }
        if let base = try Self.flagOrSetting(retryBaseSeconds, Settings.retryBaseSeconds, self) {
            options.retry.baseDelay = .seconds(base)
        }
        return options
    }

    func logLevel(flag: String?) throws -> Logger.Level {
        let text = flag ?? text(Settings.logLevel) ?? Settings.logLevel.defaultValue
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw QueueError.invalidConfiguration(
                "SLUICE_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical, not '\(text)'"
            )
        }
        return level
    }

    /// A positive flag value, else the variable's.
    private static func flagOrSetting(_ flag: Int?, _ setting: Setting, _ reader: SettingsReader) throws -> Int? {
        guard let flag else { return try reader.integer(setting) }
        guard flag > 0 else {
            throw QueueError.invalidConfiguration("\(setting.flag ?? setting.name) must be a positive number")
        }
        return flag
    }
}
