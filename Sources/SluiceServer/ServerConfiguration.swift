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

/// Settings of the HTTP server and the work it runs beside the routes. Every default is the documented one; the
/// environment variables named are read by the `sluice` command (its `Settings` table), not here.
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
    /// How uploads are read into records and chunks: the INGEST_DATA handler's options, which a dry run plans with.
    public var ingestion = IngestionOptions()
    /// The approximate vector index is built (at start, and by the reconciler) once at least this many chunks have
    /// vectors and fewer than this many wait for one; until then search scans exactly. Default 10,000
    /// (`SLUICE_VECTOR_INDEX_BACKLOG`).
    public var vectorIndexBacklog = 10_000

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
        precondition(
            [maxBodyBytes, maxIngestBytes, maxConcurrentUploads, searchesPerMinute, ingestPartSize, bulkActionLimit]
                .allSatisfy { $0 > 0 },
            "ServerConfiguration: sizes, limits and counts must be positive"
        )
        self.cronSecret = cronSecret.flatMap { $0.isEmpty ? nil : $0 }
        self.maxBodyBytes = maxBodyBytes
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
        self.maxConcurrentUploads = maxConcurrentUploads
        self.searchesPerMinute = searchesPerMinute
        self.ingestPartSize = ingestPartSize
        self.bulkActionLimit = bulkActionLimit
    }
}

extension ServerConfiguration {
    /// Comma-separated IP addresses as ``trustedProxies`` keeps them; nil when one is not an address.
    public static func trustedProxies(parsing text: String) -> Set<String>? {
        let addresses = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard addresses.allSatisfy({ IPAddressText.isAddress($0) }) else { return nil }
        return Set(addresses.map(IPAddressText.normalized))
    }

    /// An origin (`https://sluice.example.com`, a trailing slash allowed) as ``publicURL`` keeps it; nil for
    /// anything with a path, query or user, or another scheme than http(s).
    public static func origin(parsing text: String) -> String? {
        let origin = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let url = URL(string: origin), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
            url.host?.isEmpty == false, url.path.isEmpty, url.query == nil, url.user == nil
        else { return nil }
        return origin
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
