import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceWorkers
import Synchronization

/// The Sluice server: routes, and the services that run beside them (continuous workers, rescuer, scheduler).
/// `sluice serve` and the tests build it the same way.
public struct SluiceApp: Sendable {
    public let configuration: ServerConfiguration
    public let queue: DatabaseQueue
    /// Projects, ingest jobs and records.
    public let pipeline: any PipelineStore
    public let accounts: Accounts
    public let runner: JobRunner
    public let metrics: ServerMetrics
    /// Embeds search queries; the same provider the VECTORIZE handler uses.
    public let embedder: any EmbeddingProvider
    let routine: WorkerRoutine
    let throttle: LoginThrottle
    let uploads: ConcurrencyLimit
    let searches: PerMinuteLimit
    /// Uploads being read now (for tests and the curious).
    public var uploadsInFlight: Int { uploads.held }
    let clock: any WallClock
    let logger: Logger

    public init(
        configuration: ServerConfiguration,
        queueStore: any QueueStore,
        accountStore: any AccountStore,
        pipelineStore: any PipelineStore,
        queueOptions: QueueOptions = QueueOptions(),
        accountOptions: AccountOptions = AccountOptions(),
        handlers: JobHandlerRegistry,
        metrics: ServerMetrics = ServerMetrics(),
        embedder: any EmbeddingProvider = LocalEmbedder(),
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "sluice.server")
    ) {
        self.embedder = embedder
        self.configuration = configuration
        self.pipeline = pipelineStore
        self.queue = DatabaseQueue(store: queueStore, options: queueOptions, clock: clock, logger: logger)
        self.accounts = Accounts(store: accountStore, options: accountOptions, clock: clock)
        self.runner = JobRunner(queue: queue, handlers: handlers, metrics: metrics, logger: logger)
        self.routine = WorkerRoutine(runner: runner, budget: configuration.workerBudget)
        self.metrics = metrics
        self.throttle = LoginThrottle(
            options: LoginThrottle.Options(freeFailures: configuration.loginFailuresBeforeDelay),
            clock: clock
        )
        self.uploads = ConcurrencyLimit(configuration.maxConcurrentUploads)
        self.searches = PerMinuteLimit(limit: configuration.searchesPerMinute, clock: clock)
        self.clock = clock
        self.logger = logger
    }

    /// The HTTP application with the services `configuration` asks for. `onListening` gets the address the
    /// server listens on once it does (the real port when `configuration.port` is 0).
    public func makeApplication(onListening: @escaping @Sendable (String) -> Void = { _ in })
        -> some ApplicationProtocol
    {
        let host = configuration.host
        let idle = TimeAmount.nanoseconds(Int64(configuration.idleTimeout.timeInterval * 1e9))
        var application = Application(
            router: makeRouter(),
            // Idle keep-alive connections, and connections that never finish sending their headers, are closed.
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: configuration.port),
                serverName: "sluice"
            ),
            services: services(),
            onServerRunning: { channel in
                onListening("http://\(host):\(channel.localAddress?.port ?? 0)")
            },
            logger: logger
        )
        // The hash unknown emails are checked against, made before the first sign-in rather than during it.
        application.beforeServerStarts { [accounts] in try await accounts.prepare() }
        return application
    }

    /// Runs the server and its services until SIGINT or SIGTERM, then shuts down gracefully: the server stops
    /// accepting requests and finishes the ones in flight, then the scheduler, rescuer and workers stop (running
    /// jobs get the grace period, then go back to PENDING).
    public func run(onListening: @escaping @Sendable (String) -> Void = { _ in }) async throws {
        try await makeApplication(onListening: onListening).runService()
    }

    public func makeRouter() -> Router<SluiceRequestContext> {
        let router = Router(context: SluiceRequestContext.self)
        let routes = RouteTableBox()
        // Outermost, so that it sees every answer as the client gets it: request count and duration by route
        // template, method and status (`sluice_http_requests_total`, `sluice_http_request_duration_seconds`).
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorMiddleware(routes: routes))
        router.add(
            middleware: SameOriginMiddleware(
                publicOrigin: configuration.publicURL,
                scheme: configuration.environment == .production ? "https" : "http"
            )
        )
        router.add(middleware: SessionMiddleware(accounts: accounts))
        router.add(middleware: BodyLimitMiddleware(limit: configuration.maxBodyBytes))
        addSystemRoutes(to: router)
        addAuthRoutes(to: router)
        addQueueRoutes(to: router)
        addWorkerRoutes(to: router)
        addProjectRoutes(to: router)
        addTokenRoutes(to: router)
        addMonitorRoutes(to: router)
        routes.set(RouteTable(router))
        return router
    }

    /// The routes this server answers (built from a router of its own).
    public var routeTable: RouteTable { RouteTable(makeRouter()) }

    /// Continuous workers, the rescuer and the scheduler, as `configuration` asks.
    public func services() -> [any Service] {
        var services: [any Service] = []
        if configuration.runWorkers {
            services.append(ContinuousWorker(runner: runner, options: configuration.workers, logger: logger))
        }
        services.append(Rescuer(queue: queue, interval: configuration.rescueInterval, logger: logger))
        if configuration.runScheduler {
            services.append(
                Scheduler(
                    tasks: scheduledTasks(),
                    store: queue.store,
                    clock: clock,
                    shutdownGracePeriod: configuration.workers.shutdownGracePeriod,
                    logger: logger
                )
            )
        }
        return services
    }

    /// The reference's cron table (ingestion and vectorization every minute, cleanup daily at 02:00 UTC), and the
    /// embeddings reconciler every five minutes.
    public func scheduledTasks() -> [ScheduledTask] {
        [
            ScheduledTask(name: "ingestion", schedule: configuration.ingestionSchedule) {
                _ = try await routine.run(PipelineJobs.ingestion)
            },
            ScheduledTask(name: "vectorization", schedule: configuration.vectorizationSchedule) {
                _ = try await routine.run(PipelineJobs.vectorization)
            },
            ScheduledTask(name: "cleanup", schedule: configuration.cleanupSchedule) {
                _ = try await cleanup()
            },
            ScheduledTask(name: "reconcile-embeddings", schedule: configuration.reconcileSchedule) {
                try await VectorizationReconciler(
                    store: pipeline,
                    queue: queue,
                    vectorDimensions: embedder.dimensions,
                    indexBacklog: configuration.vectorIndexBacklog,
                    logger: logger
                ).run()
            },
        ]
    }

    /// Deletes finished jobs past the retention period and expired sessions; returns the jobs deleted.
    func cleanup() async throws -> Int {
        let deleted = try await queue.cleanup(olderThanDays: configuration.retentionDays)
        _ = try await accounts.store.deleteExpiredSessions(now: clock.now())
        return deleted
    }

    // MARK: Health, metrics, description

    private func addSystemRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/health") { request, context -> Response in
            do {
                let schema = try await queue.store.schemaStatus()
                guard schema.isCurrent else {
                    return APIError(.serviceUnavailable, "database schema is not current; run `sluice migrate`")
                        .responseBody
                }
                return try HealthResponse().response(from: request, context: context)
            } catch {
                logger.error("health check failed", metadata: [LogKey.error: "\(error)"])
                return APIError(.serviceUnavailable, "database unreachable").responseBody
            }
        }
        router.get("/metrics") { _, _ -> Response in
            let text = try await metrics.exposition(queue: queue, now: clock.now())
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        router.get("/openapi.json") { _, _ -> Response in
            switch OpenAPIDocument.json {
            case .success(let text):
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: text))
                )
            case .failure(let error):
                logger.error("the OpenAPI document could not be read", metadata: [LogKey.error: "\(error)"])
                throw APIError(.internalServerError, "the OpenAPI document is missing from this installation")
            }
        }
    }
}

/// Every route a router answers, read from the router itself (`Router.routes`), so that no route can be registered
/// and left out of the 405 answers or of the check against the OpenAPI document.
public struct RouteTable: Sendable {
    /// Method and path template (`/api/admin/queue/jobs/{id}`) of every route, API and pages alike.
    public let routes: [(method: HTTPRequest.Method, path: String)]

    public init(_ router: Router<SluiceRequestContext>) {
        routes = router.routes.map { ($0.method, $0.path.description) }
    }

    /// The routes the OpenAPI document describes: everything but the queue monitor's HTML pages and static files.
    public var api: [(method: HTTPRequest.Method, path: String)] {
        routes.filter { !Self.isPage($0.path) }
    }

    private static func isPage(_ path: String) -> Bool {
        path == "/login" || path == "/logout" || path.hasPrefix("/admin/") || path.hasPrefix("/assets/")
    }

    /// The methods routed for a concrete path.
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        routes.filter { Self.matches($0.path, path) }.map(\.method)
    }

    /// The API route template a concrete path matches, if any.
    public func template(forPath path: String) -> String? {
        api.first { Self.matches($0.path, path) }?.path
    }

    /// `{name}` in a template matches one path segment.
    private static func matches(_ template: String, _ path: String) -> Bool {
        let pattern = template.split(separator: "/")
        let segments = path.split(separator: "/")
        return pattern.count == segments.count && zip(pattern, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }
}

/// Where the error middleware, added before the routes, finds the table once they are all registered.
final class RouteTableBox: Sendable {
    private let table = Mutex<RouteTable?>(nil)

    func set(_ value: RouteTable) { table.withLock { $0 = value } }

    var value: RouteTable? { table.withLock { $0 } }
}
