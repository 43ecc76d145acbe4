import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluicePostgres
import SluiceSQLite
import SluiceStores
import Subprocess
import Synchronization
import SystemPackage
import Testing

/// The stores every conformance test runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqlite, postgres

    var testDescription: String { rawValue }

    static let sql: [StoreKind] = [.sqlite, .postgres]
}

/// Finds test databases from the environment, and gives each test a database of its own.
enum TestDatabases {
    /// The PostgreSQL server tests use: `TEST_DATABASE_URL`, else a `postgres://` `DATABASE_URL`. `scripts/test`
    /// starts one and sets `TEST_DATABASE_URL`.
    static func postgresAdminURL() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["TEST_DATABASE_URL"], !url.isEmpty { return url }
        if let url = environment["DATABASE_URL"], url.hasPrefix("postgres") { return url }
        throw TestSetupError(
            "no PostgreSQL for the tests: run scripts/test, or set TEST_DATABASE_URL=postgres://… to a server "
                + "where the user may create databases"
        )
    }

    /// Runs `body` with the URL and name of a new, empty database, and drops the database when `body` returns or
    /// throws (awaited, so that no test run leaves databases behind on the server).
    static func withEmptyPostgres<T>(_ body: (_ url: String, _ name: String) async throws -> T) async throws -> T {
        let admin = try postgresAdminURL()
        let (url, name) = try await PostgresDatabases.create(on: admin, prefix: "sluice_test", logger: logger)
        do {
            let result = try await body(url, name)
            try await PostgresDatabases.drop(name, on: admin, logger: logger)
            return result
        } catch {
            try? await PostgresDatabases.drop(name, on: admin, logger: logger)
            throw error
        }
    }

    /// A new SQLite file path in a fresh temporary folder.
    static func sqlitePath() -> String {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-tests-\(UUID().uuidString)", isDirectory: true)
        return folder.appendingPathComponent("queue.sqlite").path
    }

    static let logger = Logger(label: "sluice.tests")
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` with a migrated, empty store of `kind` and its URL (nil for memory), then removes the database.
func withStore<T: Sendable>(
    _ kind: StoreKind,
    _ body: @Sendable (any QueueStore, String?) async throws -> T
) async throws -> T {
    switch kind {
    case .memory:
        return try await body(MemoryJobStore(), nil)
    case .sqlite:
        let path = TestDatabases.sqlitePath()
        defer {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        let url = "sqlite:\(path)"
        return try await withStores(try StoreSettings(url: url)) { stores in
            _ = try await stores.queue.migrate()
            return try await body(stores.queue, url)
        }
    case .postgres:
        return try await TestDatabases.withEmptyPostgres { url, _ in
            try await withStores(try StoreSettings(url: url)) { stores in
                _ = try await stores.queue.migrate()
                return try await body(stores.queue, url)
            }
        }
    }
}

/// Runs `body` with migrated, empty stores (queue, accounts, pipeline) of `kind`.
func withServerStore<T: Sendable>(
    _ kind: StoreKind,
    _ body: @Sendable (Stores) async throws -> T
) async throws -> T {
    try await withServerStore(kind) { stores, _ in try await body(stores) }
}

/// The same, with the database's URL.
func withServerStore<T: Sendable>(
    _ kind: StoreKind,
    _ body: @Sendable (Stores, String) async throws -> T
) async throws -> T {
    switch kind {
    case .memory:
        return try await body(.memory(), "memory")
    case .sqlite:
        let path = TestDatabases.sqlitePath()
        defer {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        return try await withStores(try StoreSettings(url: "sqlite:\(path)")) { stores in
            _ = try await stores.queue.migrate()
            return try await body(stores, "sqlite:\(path)")
        }
    case .postgres:
        return try await TestDatabases.withEmptyPostgres { url, _ in
            try await withStores(try StoreSettings(url: url)) { stores in
                _ = try await stores.queue.migrate()
                return try await body(stores, url)
            }
        }
    }
}

/// A queue on a store of `kind` with a manual clock.
func withQueue<T: Sendable>(
    _ kind: StoreKind,
    options: QueueOptions = QueueOptions(),
    _ body: @Sendable (DatabaseQueue, ManualWallClock) async throws -> T
) async throws -> T {
    try await withStore(kind) { store, _ in
        let clock = ManualWallClock()
        return try await body(DatabaseQueue(store: store, options: options, clock: clock, logger: quietLogger), clock)
    }
}

/// The directory holding the built products (`sluice`, `SluiceTestWorker`), next to the test bundle.
func productsDirectory() -> URL {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.pathComponents.count > 1 {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("sluice").path) { return url }
    }
    return URL(fileURLWithPath: ".build/debug")
}

/// Runs a built product and returns its exit status, standard output and standard error.
func runProduct(
    _ name: String,
    _ arguments: [String],
    environment: [String: String] = [:],
    directory: String? = nil,
    input: String? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    var env = ProcessInfo.processInfo.environment
    env["DATABASE_URL"] = nil
    env["SLUICE_AUTO_MIGRATE"] = nil
    env["SLUICE_LOG_LEVEL"] = nil
    for (key, value) in environment { env[key] = value }
    return try await runExecutable(
        productsDirectory().appendingPathComponent(name),
        arguments,
        environment: env,
        directory: directory,
        input: input
    )
}

/// Runs a program to its end and collects its output, with swift-subprocess: no thread of Swift's cooperative pool
/// blocks meanwhile, and output is read as it arrives, so a large output cannot fill a pipe and stall the program.
func runExecutable(
    _ executable: URL,
    _ arguments: [String],
    environment: [String: String],
    directory: String? = nil,
    input: String? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    var variables: [Environment.Key: String] = [:]
    for (key, value) in environment { variables[Environment.Key(stringLiteral: key)] = value }
    // Standard input comes from a file: Subprocess's string input traps when the program exits without reading it.
    let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-input-\(UUID().uuidString)")
    try Data((input ?? "").utf8).write(to: inputFile)
    defer { try? FileManager.default.removeItem(at: inputFile) }
    let stdin = try FileDescriptor.open(FilePath(inputFile.path), .readOnly)
    let result = try await Subprocess.run(
        .path(FilePath(executable.path)),
        arguments: Arguments(arguments),
        environment: .custom(variables),
        workingDirectory: directory.map { FilePath($0) },
        input: .fileDescriptor(stdin, closeAfterSpawningProcess: true),
        output: .string(limit: 64 << 20),
        error: .string(limit: 64 << 20)
    )
    let status: Int32 =
        switch result.terminationStatus {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    return (status, result.standardOutput ?? "", result.standardError ?? "")
}

/// A logger for tests that only shows errors.
let quietLogger: Logger = {
    var logger = Logger(label: "sluice.tests")
    logger.logLevel = .error
    return logger
}()

/// Projects with stored records, made straight through the pipeline store.
enum TestProjects {
    /// A new project holding `count` records (`text` gives each one's text), stored by one ingest job: left open,
    /// or `finished`; with `generateEmbeddings`, the project is one whose records are embedded.
    static func make(
        _ store: any PipelineStore,
        records count: Int,
        text: (Int) -> String = { "record \($0)" },
        generateEmbeddings: Bool = false,
        finished: Bool = false
    ) async throws -> String {
        let id = UUID().uuidString.lowercased()
        try await store.createProject(Project(id: id, name: "p-\(id.prefix(8))", createdAt: Date()))
        let ingest = UUID().uuidString.lowercased()
        try await store.createIngestJob(
            IngestJob(id: ingest, projectID: id, total: count, createdAt: Date()),
            chunks: 1,
            generateEmbeddings: generateEmbeddings
        )
        let reader = RecordReader(maxTextBytes: 1 << 20)
        let records = try (0..<count).map { try reader.read(["text": .string(text($0))]).get() }
        _ = try await store.storeBatch(
            records,
            invalid: 0,
            handled: count,
            ingestJobID: ingest,
            projectID: id,
            chunk: 0,
            processedAfter: count,
            now: Date()
        )
        if finished { _ = try await store.finishIngestChunk(ingestJobID: ingest, chunk: 0, now: Date()) }
        return id
    }

    /// A new project holding these records (each with its fields; `id` is its external id), every chunk embedded
    /// by `embedder`.
    static func embedded(
        _ store: any PipelineStore,
        objects: [JSONValue],
        embedder: some EmbeddingProvider
    ) async throws -> String {
        let id = UUID().uuidString.lowercased()
        try await store.createProject(Project(id: id, name: "p-\(id.prefix(8))", createdAt: Date()))
        let ingest = UUID().uuidString.lowercased()
        try await store.createIngestJob(
            IngestJob(id: ingest, projectID: id, total: objects.count, createdAt: Date()),
            chunks: 1,
            generateEmbeddings: false
        )
        let reader = RecordReader(maxTextBytes: 1 << 20)
        let records = try objects.map { try reader.read($0).get() }
        _ = try await store.storeBatch(
            records,
            invalid: 0,
            handled: records.count,
            ingestJobID: ingest,
            projectID: id,
            chunk: 0,
            processedAfter: records.count,
            now: Date()
        )
        _ = try await store.finishIngestChunk(ingestJobID: ingest, chunk: 0, now: Date())
        while true {
            let waiting = try await store.unembeddedChunks(projectID: id, limit: 500)
            if waiting.isEmpty { break }
            let vectors = try await embedder.embed(waiting.map(\.text))
            try await store.saveEmbeddings(
                zip(waiting, vectors).map { (id: $0.id, vector: $1) },
                projectID: id,
                model: embedder.model,
                dimensions: embedder.dimensions,
                now: Date()
            )
        }
        return id
    }
}

/// The queue store of the stores `settings` name (with every library's migrations, as `sluice` opens it).
func withJobStore<T: Sendable>(
    _ settings: StoreSettings,
    logger: Logger = quietLogger,
    _ body: @Sendable (any QueueStore) async throws -> T
) async throws -> T {
    try await withStores(settings, logger: logger) { try await body($0.queue) }
}

/// Waiting for something that should happen soon, without sleeping a fixed time.
enum TestExpectation {
    /// What `body` returns, or nil when it has not returned within `timeout` (then it is cancelled).
    static func value<T: Sendable>(
        within timeout: Duration,
        _ body: @escaping @Sendable () async throws -> T?
    ) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
