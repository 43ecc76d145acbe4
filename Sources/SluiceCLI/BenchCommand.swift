import ArgumentParser
import Foundation
import Logging
import SluiceBenchmarks
import SluiceCore
import SluiceStores
import Synchronization

/// `sluice bench`: measures the queue on a fresh database and prints a table (or JSON).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the queue on a fresh database and print the figures.",
        discussion: """
            Creates an empty SQLite file (--store sqlite) or an empty database on the PostgreSQL server that \
            --database-url, TEST_DATABASE_URL or DATABASE_URL names (--store postgres), measures enqueue rates, \
            no-op jobs worked per second, pickup latency, claim latency on a small and a large table, the stats \
            endpoint, and ingestion and vectorization records/s with the memory of a `sluice serve` child process, \
            and removes the database. On PostgreSQL it also measures the same job lifecycle in plain SQL, \
            so that each figure reads as a ratio of what the database allows. --stats-sweep measures only the stats \
            endpoint as the table grows (and bcrypt's cost). Build with -c release for real numbers.
            """
    )

    enum Store: String, ExpressibleByArgument, CaseIterable {
        case sqlite, postgres
    }

    @Option(help: "sqlite or postgres.")
    var store: Store = .sqlite

    @Option(name: .customLong("database-url"), help: "The PostgreSQL server to create the database on.")
    var databaseURL: String?

    @Option(help: "Jobs per throughput measurement.")
    var jobs = 10_000

    @Option(help: "PENDING jobs in the large table of the claim and stats measurements.")
    var pending = 1_000_000

    @Option(help: "Latency samples per measurement.")
    var samples = 100

    @Option(help: "Records uploaded for the ingestion, vectorization and memory measurements (0 skips them).")
    var records = 100_000

    @Option(
        name: .customLong("stats-sweep"),
        help: "Instead of the full run: the stats endpoint at each of these table sizes (1000,100000,1000000)."
    )
    var statsSweep: String?

    @Flag(
        name: .customLong("pipeline-only"),
        help: "Only the pipeline: ingestion, the vectorization backfill and its curve, the index, memory."
    )
    var pipelineOnly = false

    @Option(
        name: .customLong("server-wrapper"),
        help: "Run the measured `sluice serve` under this command, a profiler: \"heaptrack\", \"perf record -g\"."
    )
    var serverWrapper: String?

    @Flag(name: .customLong("keep-database"), help: "Leave the benchmark's database behind and print where it is.")
    var keepDatabase = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard jobs > 0, pending >= 1_000, samples >= 2, records >= 0 else {
            throw ValidationError(
                "--jobs must be at least 1, --pending at least 1000, --samples at least 2, --records 0 or more"
            )
        }
        _ = try sweepSizes()
        if pipelineOnly && records == 0 { throw ValidationError("--pipeline-only needs --records above 0") }
    }

    /// The sizes of `--stats-sweep`, increasing; nil without it.
    private func sweepSizes() throws -> [Int]? {
        guard let statsSweep else { return nil }
        let sizes = statsSweep.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--stats-sweep takes positive job counts separated by commas: 1000,100000,1000000")
        }
        return sizes.compactMap { $0 }.sorted()
    }

    func run() async throws {
        let reader = SettingsReader()
        let server =
            store == .postgres
            ? databaseURL ?? reader.text(Settings.testDatabaseURL) ?? reader.text(Settings.databaseURL) : nil
        if store == .postgres, server?.hasPrefix("postgres") != true {
            throw ValidationError("--store postgres needs --database-url postgres://… (or TEST_DATABASE_URL)")
        }
        let logger: Logger = {
            var logger = Logger(label: "sluice.bench")
            logger.logLevel = .error
            return logger
        }()
        let options = BenchmarkOptions(jobs: jobs, pending: pending, samples: samples)
        let results = Mutex<[BenchmarkResult]>([])
        let json = json
        let storeName = store.rawValue
        let report: @Sendable (BenchmarkResult) -> Void = { result in
            results.withLock { $0.append(result) }
            if !json { print(Self.line(storeName, result)) }
        }
        if !json {
            print("sluice bench: \(storeName), \(jobs.formatted()) jobs per run, \(pending.formatted()) pending")
            print(Self.header)
        }
        let records = records
        let serverWrapper = serverWrapper
        let sweep = try sweepSizes()
        try await FreshDatabase.with(postgresServer: server, keep: keepDatabase, logger: logger) { url in
            if let sweep {
                try await withStores(try StoreSettings(url: url), logger: logger) { stores in
                    _ = try await stores.queue.migrate()
                    try await QueueBenchmark(stores: stores, options: options, logger: logger, report: report)
                        .statsSweep(sizes: sweep)
                }
                return
            }
            if records > 0 {
                // A `sluice serve` child of this very executable, so that its memory is measured alone.
                let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                try await PipelineBenchmark(
                    executable: executable,
                    serverWrapper: serverWrapper?.split(separator: " ").map(String.init) ?? [],
                    databaseURL: url,
                    records: records,
                    logger: logger,
                    report: report
                ).run()
            }
            if pipelineOnly { return }
            try await withStores(try StoreSettings(url: url), logger: logger) { stores in
                _ = try await stores.queue.migrate()
                let benchmark = QueueBenchmark(stores: stores, options: options, logger: logger, report: report)
                if server != nil {
                    try await PostgresCeiling.with(url: url, logger: logger) { try await benchmark.run(ceiling: $0) }
                } else {
                    try await benchmark.run()
                }
            }
        }
        if json {
            let document = JSONValue.array(
                results.withLock { $0 }.map { result in
                    [
                        "store": .string(storeName), "name": .string(result.name), "value": .double(result.value),
                        "unit": .string(result.unit),
                    ]
                }
            )
            print(document.jsonText)
        }
    }

    static let header = "store     measurement                                                    value  unit"

    static func line(_ store: String, _ result: BenchmarkResult) -> String {
        let value = result.value >= 100 ? String(format: "%.0f", result.value) : String(format: "%.2f", result.value)
        return store.padding(toLength: 10, withPad: " ", startingAt: 0)
            + result.name.padding(toLength: 56, withPad: " ", startingAt: 0)
            + String(repeating: " ", count: max(1, 13 - value.count)) + value + "  " + result.unit
    }
}
