import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres
import SluiceSQLite
import SluiceStores
import Synchronization
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
                + "where the user may create databases")
    }

    /// Creates an empty database and returns its URL; `dropPostgres` removes it.
    static func createPostgres() async throws -> (url: String, name: String) {
        try await PostgresDatabases.create(on: try postgresAdminURL(), prefix: "sluice_test", logger: logger)
    }

    static func dropPostgres(_ name: String) async {
        guard let admin = try? postgresAdminURL() else { return }
        try? await PostgresDatabases.drop(name, on: admin, logger: logger)
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
    _ kind: StoreKind, _ body: @Sendable (any JobStore, String?) async throws -> T
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
        return try await withJobStore(try StoreSettings(url: url)) { store in
            _ = try await store.migrate()
            return try await body(store, url)
        }
    case .postgres:
        let (url, name) = try await TestDatabases.createPostgres()
        do {
            let result = try await withJobStore(try StoreSettings(url: url)) { store in
                _ = try await store.migrate()
                return try await body(store, url)
            }
            await TestDatabases.dropPostgres(name)
            return result
        } catch {
            await TestDatabases.dropPostgres(name)
            throw error
        }
    }
}

/// Runs `body` with a migrated, empty SQL store (jobs, accounts and schedules) of `kind`.
func withServerStore<T: Sendable>(
    _ kind: StoreKind, _ body: @Sendable (any SluiceStore) async throws -> T
) async throws -> T {
    try await withStore(kind) { store, _ in
        guard let store = store as? any SluiceStore else { throw TestSetupError("\(kind) is not a server store") }
        return try await body(store)
    }
}

/// A queue on a store of `kind` with a manual clock.
func withQueue<T: Sendable>(
    _ kind: StoreKind, options: QueueOptions = QueueOptions(),
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
    _ name: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
    input: String? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    var env = ProcessInfo.processInfo.environment
    env["DATABASE_URL"] = nil
    env["SLUICE_AUTO_MIGRATE"] = nil
    env["SLUICE_LOG_LEVEL"] = nil
    for (key, value) in environment { env[key] = value }
    return try await runExecutable(
        productsDirectory().appendingPathComponent(name), arguments, environment: env, directory: directory,
        input: input)
}

/// Runs a program to its end without blocking a thread of Swift's cooperative pool (which has one thread per
/// core: a blocking wait there would stall every other test meanwhile). Output is collected as it arrives, so a
/// large output cannot fill a pipe and stall the program.
func runExecutable(
    _ executable: URL, _ arguments: [String], environment: [String: String], directory: String? = nil,
    input: String? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    let stdout = OutputCollector()
    let stderr = OutputCollector()
    process.standardOutput = out
    process.standardError = err
    out.fileHandleForReading.readabilityHandler = { stdout.append($0.availableData) }
    err.fileHandleForReading.readabilityHandler = { stderr.append($0.availableData) }
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    let exited = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    var iterator = exited.stream.makeAsyncIterator()
    let status = await iterator.next() ?? -1
    for (pipe, collector) in [(out, stdout), (err, stderr)] {
        pipe.fileHandleForReading.readabilityHandler = nil
        collector.append(pipe.fileHandleForReading.readDataToEndOfFile())  // the rest; the writer has exited
    }
    return (status, stdout.text, stderr.text)
}

/// Bytes a pipe delivered, gathered from Foundation's reading thread.
final class OutputCollector: Sendable {
    private let data = Mutex(Data())

    func append(_ chunk: Data) {
        data.withLock { $0.append(chunk) }
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

/// A logger for tests that only shows errors.
let quietLogger: Logger = {
    var logger = Logger(label: "sluice.tests")
    logger.logLevel = .error
    return logger
}()
