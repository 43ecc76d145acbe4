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
/// at a time), with their settings.
enum BuiltInHandlers {
    static func registry(store: any PipelineStore, settings: SettingsReader) throws -> JobHandlerRegistry {
        var registry = JobHandlerRegistry()
        registry.register(.ingestData, IngestionHandler(store: store, options: try settings.ingestionOptions()))
        registry.register(
            .vectorize,
            serializeBy: "projectId",
            VectorizationHandler(
                store: store,
                provider: try embedder(settings),
                options: try settings.vectorizationOptions()
            )
        )
        return registry
    }

    /// The embedding provider `EMBEDDING_*` names (the offline local embedder by default).
    static func embedder(_ settings: SettingsReader) throws -> any EmbeddingProvider {
        try settings.embeddingSettings().makeProvider()
    }
}

/// Worker flags shared by `serve` and `work`.
struct WorkerFlags: ParsableArguments {
    @Option(help: "Job types to run, comma-separated (default: INGEST_DATA,VECTORIZE).")
    var types: String?

    @Option(help: "Jobs run at once by this process (\(Settings.workerConcurrency.envAndDefault)).")
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
            Environment (besides the flags' variables; `sluice settings` lists them all):
            """ + Settings.help(Settings.server + Settings.workers)
    )

    @OptionGroup var settings: QueueSettings
    @OptionGroup var workerFlags: WorkerFlags

    @Option(help: "Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (\(Settings.port.envAndDefault)).")
    var port: Int?

    @Flag(name: .customLong("no-workers"), help: "Run no continuous workers here (separate worker processes).")
    var noWorkers = false

    @Flag(name: .customLong("no-scheduler"), help: "Leave the worker schedule to an external cron.")
    var noScheduler = false

    func run() async throws {
        let reader = SettingsReader()
        var configuration = try reader.serverConfiguration()
        if let host { configuration.host = host }
        if let port {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
            configuration.port = port
        }
        configuration.runWorkers = !noWorkers
        configuration.runScheduler = !noScheduler
        try workerFlags.apply(to: &configuration.workers)
        let accountOptions = try reader.accountOptions()
        let serverConfiguration = configuration

        try await settings.withStores { stores, queueOptions, logger in
            let registry = try BuiltInHandlers.registry(store: stores.pipeline, settings: reader)
            let embedder = try BuiltInHandlers.embedder(reader)
            if let warning = try reader.embeddingSettings().warning { logger.warning("\(warning)") }
            _ = try await stores.pipeline.prepareVectorIndex(
                dimensions: embedder.dimensions,
                threshold: serverConfiguration.vectorIndexBacklog
            )
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
                email: reader.text(Settings.adminEmail),
                password: reader.text(Settings.adminPassword)
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
        abstract: "Run continuous workers and the rescuer without the HTTP server (a separate worker tier).",
        discussion: "Environment (besides the flags' variables; `sluice settings` lists them all):\n"
            + Settings.help(Settings.workers)
    )

    @OptionGroup var settings: QueueSettings
    @OptionGroup var workerFlags: WorkerFlags

    func run() async throws {
        let reader = SettingsReader()
        var options = try reader.workerOptions()
        try workerFlags.apply(to: &options)
        let workerOptions = options
        try await settings.withStores { stores, queueOptions, baseLogger in
            let queue = DatabaseQueue(store: stores.queue, options: queueOptions, logger: baseLogger)
            let registry = try BuiltInHandlers.registry(store: stores.pipeline, settings: reader)
            var logger = Logger(label: "sluice.work")
            logger.logLevel = baseLogger.logLevel
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
            let options = try SettingsReader().accountOptions()
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
