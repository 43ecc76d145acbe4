import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import UnixSignals

/// The job handlers this build runs: INGEST_DATA (processAndStore) and VECTORIZE (embeddings, one job per project
/// at a time), with their settings from the environment.
enum BuiltInHandlers {
    static func registry(store: any PipelineStore, environment: [String: String]) throws -> JobHandlerRegistry {
        func positive(_ name: String) throws -> Int? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Int(text), value > 0 else {
                throw QueueError.invalidConfiguration("\(name) must be a positive whole number, not '\(text)'")
            }
            return value
        }
        var ingestion = IngestionOptions()
        if let value = try positive("SLUICE_INGEST_BATCH_SIZE") { ingestion.batchSize = value }
        if let value = try positive("SLUICE_MAX_RECORD_TEXT_BYTES") { ingestion.maxTextBytes = value }
        var vectorization = VectorizationOptions()
        if let value = try positive("SLUICE_VECTORIZE_RECORDS_PER_JOB") { vectorization.recordsPerJob = value }
        if let value = try positive("SLUICE_EMBED_BATCH_SIZE") { vectorization.batchSize = value }
        var registry = JobHandlerRegistry()
        registry.register(.ingestData, IngestionHandler(store: store, options: ingestion))
        registry.register(
            .vectorize,
            serializeBy: "projectId",
            VectorizationHandler(store: store, provider: try embedder(environment), options: vectorization)
        )
        return registry
    }

    /// The embedding provider `EMBEDDING_*` names (the offline local embedder by default).
    static func embedder(_ environment: [String: String]) throws -> any EmbeddingProvider {
        do {
            return try EmbeddingSettings(environment: environment).makeProvider()
        } catch let error as EmbeddingError {
            throw QueueError.invalidConfiguration(error.message)
        }
    }

}

/// Worker flags shared by `serve` and `work`.
struct WorkerFlags: ParsableArguments {
    @Option(help: "Job types to run, comma-separated (default: INGEST_DATA,VECTORIZE).")
    var types: String?

    @Option(help: "Jobs run at once by this process (env SLUICE_WORKER_CONCURRENCY; default 4).")
    var concurrency: Int?

    func apply(to options: inout ContinuousWorkerOptions) throws {
        if let concurrency {
            guard concurrency > 0 else { throw ValidationError("--concurrency must be at least 1") }
            options.concurrency = concurrency
        }
        if let types {
            let parsed = types.split(separator: ",").map { JobType(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
            guard !parsed.isEmpty else { throw ValidationError("--types needs at least one job type") }
            for type in parsed { try type.validate() }
            options.types = parsed
        } else {
            options.types = PipelineJobs.types
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Sluice server: HTTP API, continuous workers, rescuer and scheduler.",
        discussion: """
            Environment: APP_ENV (development|production), PORT, CRON_SECRET, SLUICE_ADMIN_EMAIL and \
            SLUICE_ADMIN_PASSWORD (first admin), SLUICE_SESSION_HOURS, SLUICE_BCRYPT_COST, \
            SLUICE_WORKER_BUDGET_SECONDS, SLUICE_WORKER_CONCURRENCY, SLUICE_SHUTDOWN_GRACE_SECONDS, \
            SLUICE_SCHEDULE_INGESTION, SLUICE_SCHEDULE_VECTORIZATION, SLUICE_SCHEDULE_CLEANUP, SLUICE_RETENTION_DAYS.
            """
    )

    @OptionGroup var settings: QueueSettings
    @OptionGroup var workerFlags: WorkerFlags

    @Option(help: "Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (env PORT; default 3000).")
    var port: Int?

    @Flag(name: .customLong("no-workers"), help: "Run no continuous workers here (separate worker processes).")
    var noWorkers = false

    @Flag(name: .customLong("no-scheduler"), help: "Leave the worker schedule to an external cron.")
    var noScheduler = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = try ServerConfiguration(environment: environment)
        if let host { configuration.host = host }
        if let port {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
            configuration.port = port
        }
        configuration.runWorkers = !noWorkers
        configuration.runScheduler = !noScheduler
        try workerFlags.apply(to: &configuration.workers)
        let accountOptions = try AccountSettings.options(environment)
        let serverConfiguration = configuration

        try await settings.withStores { stores, queueOptions, logger in
            let registry = try BuiltInHandlers.registry(store: stores.pipeline, environment: environment)
            let embedder = try BuiltInHandlers.embedder(environment)
            if let warning = try? EmbeddingSettings(environment: environment).warning { logger.warning("\(warning)") }
            try await stores.pipeline.prepareVectorIndex(dimensions: embedder.dimensions)
            let app = SluiceApp(
                configuration: serverConfiguration,
                queueStore: stores.queue,
                accountStore: stores.accounts,
                pipelineStore: stores.pipeline,
                queueOptions: queueOptions,
                accountOptions: accountOptions,
                handlers: registry,
                embedder: embedder,
                logger: logger
            )
            app.metrics.bootstrapSwiftMetrics()
            switch try await app.accounts.bootstrapAdmin(
                email: environment["SLUICE_ADMIN_EMAIL"],
                password: environment["SLUICE_ADMIN_PASSWORD"]
            )
            {
            case .usersExist: break
            case .created(let email):
                printError("created admin \(email) (password from SLUICE_ADMIN_PASSWORD)")
            case .generated(let email, let password):
                // On a terminal it is shown once; a service's standard error is kept in its log, so there it goes
                // to a file only its owner can read.
                if Terminal.isInteractive(STDERR_FILENO) {
                    printError(
                        "created admin \(email) with password \(password)\n"
                            + "This is shown once: sign in and keep it safe, or create your own admin with "
                            + "`sluice users create` and delete this one."
                    )
                } else {
                    let file = try Terminal.writePrivateFile(named: "sluice-admin-password.txt", password + "\n")
                    printError(
                        "created admin \(email); its generated password is in \(file) (readable by you only): "
                            + "sign in, then delete the file"
                    )
                }
            }
            if serverConfiguration.cronSecret == nil {
                if serverConfiguration.environment == .production {
                    logger.error("CRON_SECRET is not set: the worker endpoints answer 500 until it is")
                } else {
                    logger.warning("CRON_SECRET is not set: the worker endpoints are open (development)")
                }
            }
            let summary =
                "on \(stores.queue.location) (\(serverConfiguration.environment.rawValue); "
                + "workers \(serverConfiguration.runWorkers ? "on" : "off"), "
                + "scheduler \(serverConfiguration.runScheduler ? "on" : "off"))"
            try await app.run { address in printError("sluice serving \(address) \(summary)") }
        }
    }
}

struct Work: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run continuous workers and the rescuer without the HTTP server (a separate worker tier)."
    )

    @OptionGroup var settings: QueueSettings
    @OptionGroup var workerFlags: WorkerFlags

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var options = try ServerConfiguration(environment: environment).workers
        try workerFlags.apply(to: &options)
        let workerOptions = options
        try await settings.withStores { stores, queueOptions, baseLogger in
            let queue = DatabaseQueue(store: stores.queue, options: queueOptions, logger: baseLogger)
            let registry = try BuiltInHandlers.registry(store: stores.pipeline, environment: environment)
            var logger = Logger(label: "sluice.work")
            logger.logLevel = try settings.makeLogger(environment).logLevel
            let runner = JobRunner(queue: queue, handlers: registry, logger: logger)
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [
                        ContinuousWorker(runner: runner, options: workerOptions, logger: logger),
                        Rescuer(queue: queue, logger: logger),
                    ],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            printError(
                "sluice working on \(queue.store.location): \(workerOptions.types.map(\.rawValue).joined(separator: ",")) "
                    + "× \(workerOptions.concurrency)"
            )
            try await group.run()
        }
    }
}

/// Account settings from the environment.
enum AccountSettings {
    static func options(_ environment: [String: String]) throws -> AccountOptions {
        var options = AccountOptions()
        if let text = environment["SLUICE_SESSION_HOURS"], !text.isEmpty {
            guard let hours = Int(text), hours > 0 else {
                throw QueueError.invalidConfiguration("SLUICE_SESSION_HOURS must be a positive number, not '\(text)'")
            }
            options.sessionLifetime = .seconds(hours * 3600)
        }
        if let text = environment["SLUICE_BCRYPT_COST"], !text.isEmpty {
            guard let cost = UInt8(text), (4...31).contains(cost) else {
                throw QueueError.invalidConfiguration("SLUICE_BCRYPT_COST must be from 4 to 31, not '\(text)'")
            }
            options.passwordHasher = PasswordHasher(cost: cost)
        }
        return options
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the people who can sign in.",
        subcommands: [Create.self, List.self, SetRole.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user; the password is read from standard input (one line; not echoed at a terminal)."
        )

        @OptionGroup var settings: QueueSettings
        @Option(help: "Email address to sign in with.") var email: String
        @Option(help: "admin, manager or viewer.") var role: Role

        func run() async throws {
            guard let password = Terminal.readSecret(prompt: "Password for \(email): "), !password.isEmpty else {
                throw ValidationError(
                    "no password on standard input (pipe it in: echo \"$PASSWORD\" | sluice users create …)"
                )
            }
            let options = try AccountSettings.options(ProcessInfo.processInfo.environment)
            let (email, role) = (self.email, self.role)
            let user = try await settings.withStores { stores, _, _ in
                try await Accounts(store: stores.accounts, options: options).createUser(
                    email: email,
                    password: password,
                    role: role
                )
            }
            print("created \(user.email) (\(user.role.rawValue))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var settings: QueueSettings

        func run() async throws {
            let users = try await settings.withStores { stores, _, _ in try await stores.accounts.users() }
            let rows = users.map { [$0.email, $0.role.rawValue, $0.createdAt.formatted(.iso8601)] }
            print(Table.render([["EMAIL", "ROLE", "CREATED"]] + rows))
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role", abstract: "Change a user's role.")
        @OptionGroup var settings: QueueSettings
        @Option(help: "The user's email.") var email: String
        @Option(help: "admin, manager or viewer.") var role: Role

        func run() async throws {
            let (email, role) = (try Accounts.normalizedEmail(self.email), self.role)
            guard
                try await settings.withStores({ stores, _, _ in
                    try await stores.accounts.setRole(email: email, role: role)
                })
            else {
                throw AccountError.userNotFound(email)
            }
            print("\(email) is now \(role.rawValue)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user and sign them out everywhere.")
        @OptionGroup var settings: QueueSettings
        @Option(help: "The user's email.") var email: String

        func run() async throws {
            let email = try Accounts.normalizedEmail(self.email)
            guard try await settings.withStores({ stores, _, _ in try await stores.accounts.deleteUser(email: email) })
            else {
                throw AccountError.userNotFound(email)
            }
            print("deleted \(email)")
        }
    }
}

extension Role: ExpressibleByArgument {
    /// `admin`, `manager` or `viewer`, in any case.
    public init?(argument: String) {
        self.init(parsing: argument)
    }

    public static var allValueStrings: [String] { allCases.map { $0.rawValue.lowercased() } }
}
