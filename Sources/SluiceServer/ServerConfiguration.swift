import Foundation
import NIOCore
import SluiceCore
import SluicePipeline
import SluiceWorkers

/// `APP_ENV`: production requires `CRON_SECRET` and marks the session cookie Secure.
public enum AppEnvironment: String, Sendable, Hashable, CaseIterable {
    case development
    case production
}

/// Settings of the HTTP server and the work it runs beside the routes. Every default is the documented one.
public struct ServerConfiguration: Sendable {
    /// Address to listen on. Default `127.0.0.1` (`--host`).
    public var host: String
    /// Port. Default 3000 (`--port`, `PORT`).
    public var port: Int
    /// Default development (`APP_ENV`).
    public var environment: AppEnvironment
    /// The bearer secret of the worker endpoints (`CRON_SECRET`); required in production.
    public var cronSecret: String?
    /// The origin browsers reach this server at, such as `https://sluice.example.com` behind a TLS proxy
    /// (`SLUICE_PUBLIC_URL`). When set, a browser's POST must come from exactly this origin and address this host;
    /// when not, from the host it addressed, over `https` in production and `http` in development. Default none.
    public var publicURL: String?
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (`SLUICE_TRUSTED_PROXIES`, comma-separated
    /// IP addresses): a request from one of them is counted, for sign-in throttling, as coming from the last
    /// address in that header that is not itself a trusted proxy. From any other peer the header is ignored, so
    /// it cannot be forged. Default none.
    public var trustedProxies: Set<String> = []
    /// Largest JSON request body accepted (uploads have their own limit, `maxIngestBytes`). Default 1 MiB
    /// (`SLUICE_MAX_BODY_BYTES`).
    public var maxBodyBytes: Int
    /// A connection idle this long (between requests, or before it finished sending a request's headers) is
    /// closed. Default 60 s (`SLUICE_IDLE_TIMEOUT_SECONDS`).
    public var idleTimeout: Duration
    /// Time budget of one worker-endpoint or scheduled invocation. Default 60 s (`SLUICE_WORKER_BUDGET_SECONDS`).
    public var workerBudget: Duration
    /// Run continuous workers in this process. Default true (`--no-workers`).
    public var runWorkers: Bool
    /// Continuous workers' types, concurrency, poll interval and shutdown grace period.
    public var workers: ContinuousWorkerOptions
    /// Run the built-in scheduler. Default true (`--no-scheduler`).
    public var runScheduler: Bool
    /// Ingestion worker schedule. Default every 60 s (`SLUICE_SCHEDULE_INGESTION`).
    public var ingestionSchedule: Schedule
    /// Vectorization worker schedule. Default every 60 s (`SLUICE_SCHEDULE_VECTORIZATION`).
    public var vectorizationSchedule: Schedule
    /// Cleanup schedule. Default daily at 02:00 UTC (`SLUICE_SCHEDULE_CLEANUP`).
    public var cleanupSchedule: Schedule
    /// How often the reconciler queues VECTORIZE for projects whose records were left without a job. Default every
    /// 300 s (`SLUICE_SCHEDULE_RECONCILE`).
    public var reconcileSchedule: Schedule
    /// Finished jobs older than this many days are deleted by cleanup. Default 7 (`SLUICE_RETENTION_DAYS`).
    public var retentionDays: Int
    /// How often the rescuer looks for jobs whose worker was lost. Default 30 s.
    public var rescueInterval: Duration
    /// Failed sign-ins allowed per (address, account) pair before further attempts are delayed (four times as many
    /// per account, from any address). Default 5.
    public var loginFailuresBeforeDelay: Int
    /// Largest upload `POST /api/projects/{id}/ingest` accepts. Default 64 MiB (`SLUICE_MAX_INGEST_BYTES`).
    public var maxIngestBytes: Int
    /// Searches one user or API token may make per minute (each embeds its query with the provider); past it the
    /// answer is 429 with `Retry-After`. Default 120 (`SLUICE_SEARCHES_PER_MINUTE`).
    public var searchesPerMinute: Int
    /// Uploads read at once; another is answered 503 with `Retry-After` before its body is read, so that memory
    /// stays bounded (an upload takes about three times its size while it is read). Default 2
    /// (`SLUICE_MAX_CONCURRENT_UPLOADS`).
    public var maxConcurrentUploads: Int
    /// Records per INGEST_DATA job: larger uploads are split so that no job outlives a worker's time budget.
    /// Default 2,000 (`SLUICE_INGEST_JOB_RECORDS`).
    public var ingestPartSize: Int
    /// Most jobs one bulk retry or cancel from the queue monitor changes. Default 1,000
    /// (`SLUICE_BULK_ACTION_LIMIT`).
    public var bulkActionLimit: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 3000,
        environment: AppEnvironment = .development,
        cronSecret: String? = nil,
        maxBodyBytes: Int = 1 << 20,
        idleTimeout: Duration = .seconds(60),
        workerBudget: Duration = .seconds(60),
        runWorkers: Bool = true,
        workers: ContinuousWorkerOptions = ContinuousWorkerOptions(types: PipelineJobs.types),
        runScheduler: Bool = true,
        ingestionSchedule: Schedule = .every(seconds: 60),
        vectorizationSchedule: Schedule = .every(seconds: 60),
        cleanupSchedule: Schedule = .dailyAt(hour: 2, minute: 0),
        reconcileSchedule: Schedule = .every(seconds: 300),
        retentionDays: Int = 7,
        rescueInterval: Duration = .seconds(30),
        loginFailuresBeforeDelay: Int = 5,
        maxIngestBytes: Int = 64 << 20,
        maxConcurrentUploads: Int = 2,
        searchesPerMinute: Int = 120,
        ingestPartSize: Int = 2_000,
        bulkActionLimit: Int = 1_000
    ) {
        self.host = host
        self.port = port
        self.environment = environment
        self.cronSecret = cronSecret.flatMap { $0.isEmpty ? nil : $0 }
        self.maxBodyBytes = max(1, maxBodyBytes)
        self.idleTimeout = idleTimeout
        self.workerBudget = workerBudget
        self.runWorkers = runWorkers
        self.workers = workers
        self.runScheduler = runScheduler
        self.ingestionSchedule = ingestionSchedule
        self.vectorizationSchedule = vectorizationSchedule
        self.cleanupSchedule = cleanupSchedule
        self.reconcileSchedule = reconcileSchedule
        self.retentionDays = retentionDays
        self.rescueInterval = rescueInterval
        self.loginFailuresBeforeDelay = loginFailuresBeforeDelay
        self.maxIngestBytes = maxIngestBytes
        self.maxConcurrentUploads = max(1, maxConcurrentUploads)
        self.searchesPerMinute = max(1, searchesPerMinute)
        self.ingestPartSize = max(1, ingestPartSize)
        self.bulkActionLimit = max(1, bulkActionLimit)
    }
}

extension ServerConfiguration {
    /// Reads the server's environment variables over the defaults: `APP_ENV`, `PORT`, `CRON_SECRET`,
    /// `SLUICE_WORKER_BUDGET_SECONDS`, `SLUICE_WORKER_CONCURRENCY`, `SLUICE_SHUTDOWN_GRACE_SECONDS`,
    /// `SLUICE_SCHEDULE_INGESTION`, `SLUICE_SCHEDULE_VECTORIZATION`, `SLUICE_SCHEDULE_CLEANUP`,
    /// `SLUICE_SCHEDULE_RECONCILE` and
    /// `SLUICE_RETENTION_DAYS`, `SLUICE_MAX_INGEST_BYTES`, `SLUICE_MAX_BODY_BYTES`, `SLUICE_IDLE_TIMEOUT_SECONDS`,
    /// `SLUICE_PUBLIC_URL`, `SLUICE_TRUSTED_PROXIES`, `SLUICE_MAX_CONCURRENT_UPLOADS`, `SLUICE_SEARCHES_PER_MINUTE`,
    /// `SLUICE_INGEST_JOB_RECORDS` and
    /// `SLUICE_BULK_ACTION_LIMIT`. A malformed value is an
    /// error naming the variable, never silently ignored.
    public init(environment: [String: String]) throws {
        self.init()
        func value(_ name: String) -> String? {
            environment[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        }
        func positive(_ name: String) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), number > 0 else {
                throw QueueError.invalidConfiguration("\(name) must be a positive whole number, not '\(text)'")
            }
            return number
        }
        if let text = value("APP_ENV") {
            guard let parsed = AppEnvironment(rawValue: text.lowercased()) else {
                throw QueueError.invalidConfiguration("APP_ENV must be development or production, not '\(text)'")
            }
            self.environment = parsed
        }
        if let port = try positive("PORT") {
            guard port <= 65_535 else { throw QueueError.invalidConfiguration("PORT must be at most 65535") }
            self.port = port
        }
        cronSecret = value("CRON_SECRET")
        if let seconds = try positive("SLUICE_WORKER_BUDGET_SECONDS") { workerBudget = .seconds(seconds) }
        if let count = try positive("SLUICE_WORKER_CONCURRENCY") { workers.concurrency = count }
        if let seconds = try positive("SLUICE_SHUTDOWN_GRACE_SECONDS") {
            workers.shutdownGracePeriod = .seconds(seconds)
        }
        if let days = try positive("SLUICE_RETENTION_DAYS") { retentionDays = days }
        if let bytes = try positive("SLUICE_MAX_INGEST_BYTES") { maxIngestBytes = bytes }
        if let bytes = try positive("SLUICE_MAX_BODY_BYTES") { maxBodyBytes = bytes }
        if let count = try positive("SLUICE_MAX_CONCURRENT_UPLOADS") { maxConcurrentUploads = count }
        if let count = try positive("SLUICE_SEARCHES_PER_MINUTE") { searchesPerMinute = count }
        if let text = value("SLUICE_TRUSTED_PROXIES") {
            let addresses = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard addresses.allSatisfy({ IPAddressText.isAddress($0) }) else {
                throw QueueError.invalidConfiguration(
                    "SLUICE_TRUSTED_PROXIES must be IP addresses separated by commas, not '\(text)'"
                )
            }
            trustedProxies = Set(addresses.map(IPAddressText.normalized))
        }
        if let seconds = try positive("SLUICE_IDLE_TIMEOUT_SECONDS") { idleTimeout = .seconds(seconds) }
        if let text = value("SLUICE_PUBLIC_URL") {
            let origin = text.hasSuffix("/") ? String(text.dropLast()) : text
            guard let url = URL(string: origin), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false, url.path.isEmpty, url.query == nil, url.user == nil
            else {
                throw QueueError.invalidConfiguration(
                    "SLUICE_PUBLIC_URL must be an origin such as https://sluice.example.com, not '\(text)'"
                )
            }
            publicURL = origin
        }
        if let count = try positive("SLUICE_INGEST_JOB_RECORDS") { ingestPartSize = count }
        if let count = try positive("SLUICE_BULK_ACTION_LIMIT") { bulkActionLimit = count }
        func schedule(_ name: String) throws -> Schedule? {
            guard let text = value(name) else { return nil }
            do {
                return try Schedule(parsing: text)
            } catch let error as QueueError {
                throw QueueError.invalidConfiguration("\(name): \(error.message)")
            }
        }
        if let parsed = try schedule("SLUICE_SCHEDULE_INGESTION") { ingestionSchedule = parsed }
        if let parsed = try schedule("SLUICE_SCHEDULE_VECTORIZATION") { vectorizationSchedule = parsed }
        if let parsed = try schedule("SLUICE_SCHEDULE_CLEANUP") { cleanupSchedule = parsed }
        if let parsed = try schedule("SLUICE_SCHEDULE_RECONCILE") { reconcileSchedule = parsed }
    }
}

/// IP addresses as text, as peers and `X-Forwarded-For` give them (parsed by NIO's `SocketAddress`).
enum IPAddressText {
    static func isAddress(_ text: String) -> Bool {
        (try? SocketAddress(ipAddress: text, port: 0)) != nil
    }

    /// One spelling per address (IPv6 lower-cased and compressed), so that lookups compare like with like.
    static func normalized(_ text: String) -> String {
        (try? SocketAddress(ipAddress: text, port: 0))?.ipAddress ?? text
    }
}
