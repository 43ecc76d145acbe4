import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceAccounts
import SluiceCore
import SluiceServer
import SluiceStores
import SluiceWorkers
import Synchronization

/// Settings of one benchmark run. Defaults are the full run the README quotes; CI runs a short one.
public struct BenchmarkOptions: Sendable {
    /// Jobs per throughput measurement. Default 10,000.
    public var jobs: Int
    /// The large table of the claim and stats measurements: this many PENDING jobs. Default 1,000,000.
    public var pending: Int
    /// Latency samples per measurement. Default 100.
    public var samples: Int
    /// Concurrency levels of the no-op throughput measurement. Default 1, 8 and 32.
    public var concurrency: [Int]

    public init(jobs: Int = 10_000, pending: Int = 1_000_000, samples: Int = 100, concurrency: [Int] = [1, 8, 32]) {
        self.jobs = max(1, jobs)
        self.pending = max(1_000, pending)
        self.samples = max(2, samples)
        self.concurrency = concurrency.isEmpty ? [1] : concurrency
    }
}

/// One measured figure.
public struct BenchmarkResult: Sendable, Codable, Hashable {
    public var name: String
    public var value: Double
    public var unit: String

    public init(_ name: String, _ value: Double, _ unit: String) {
        self.name = name
        self.value = value
        self.unit = unit
    }
}

/// Measures the queue on one fresh, migrated store: enqueue, no-op jobs worked by continuous workers, pickup
/// latency, claim latency on a small and a large table, and the stats endpoint through a live server.
public struct QueueBenchmark: Sendable {
    let stores: Stores
    var store: any QueueStore { stores.queue }
    let options: BenchmarkOptions
    let logger: Logger
    let report: @Sendable (BenchmarkResult) -> Void

    public init(
        stores: Stores,
        options: BenchmarkOptions,
        logger: Logger,
        report: @escaping @Sendable (BenchmarkResult) -> Void
    ) {
        self.stores = stores
        self.options = options
        self.logger = logger
        self.report = report
    }

    private var queue: DatabaseQueue { DatabaseQueue(store: store, logger: logger) }

    /// Runs every measurement; with a `ceiling` (PostgreSQL), also the plain-SQL figures beside their Sluice
    /// counterparts.
    public func run(ceiling: PostgresCeiling? = nil) async throws {
        try await enqueueRates(ceiling: ceiling)
        for concurrency in options.concurrency {
            let compared = concurrency == options.concurrency.max() ? ceiling : nil
            try await noOpThroughput(concurrency: concurrency, ceiling: compared)
        }
        try await singleJobStatements(ceiling: ceiling)
        try await pickupLatency()
        try await claimLatency(pendingJobs: 1_000, label: "1,000 pending")
        try await fillFinished(options.pending)
        try await claimLatency(
            pendingJobs: options.pending,
            label: "\(options.pending.formatted()) pending, \(options.pending.formatted()) done"
        )
        try await statsLatency()
    }

    // MARK: Enqueue

    func enqueueRates(ceiling: PostgresCeiling?) async throws {
        let single = min(options.jobs, 2_000)
        let rounds = try await alternating(
            {
                let start = ContinuousClock.now
                for index in 0..<single {
                    _ = try await queue.enqueue(NewJob(jobType: "BENCH_ENQUEUE", payload: ["n": .int(Int64(index))]))
                }
                return Double(single) / (ContinuousClock.now - start).timeInterval
            },
            against: ceiling.map { ceiling in { try await ceiling.insertOneAtATime(single) } }
        )
        report(BenchmarkResult("enqueue, one at a time", rounds.sluice, "jobs/s"))
        if let raw = rounds.raw {
            report(BenchmarkResult("raw SQL: insert, one at a time", raw, "jobs/s"))
            report(BenchmarkResult("enqueue one at a time / raw SQL", 100 * rounds.sluice / raw, "%"))
        }
        let start = ContinuousClock.now
        try await insert(options.jobs, type: "BENCH_ENQUEUE")
        report(
            BenchmarkResult(
                "enqueue, 1,000 per call",
                Double(options.jobs) / (ContinuousClock.now - start).timeInterval,
                "jobs/s"
            )
        )
    }

    /// The medians of three rounds of `sluice` and of `raw`, run alternately so that both meet the same table
    /// and the same background load; only `sluice` without a `raw`.
    private func alternating(
        _ sluice: () async throws -> Double,
        against raw: (() async throws -> Double)?
    ) async throws -> (sluice: Double, raw: Double?) {
        guard let raw else { return (try await sluice(), nil) }
        var ours: [Double] = []
        var theirs: [Double] = []
        for _ in 0..<3 {
            ours.append(try await sluice())
            theirs.append(try await raw())
        }
        return (ours.sorted()[1], theirs.sorted()[1])
    }

    /// Bulk-inserts `count` PENDING jobs of `type`, 1,000 per call.
    func insert(_ count: Int, type: JobType) async throws {
        var done = 0
        while done < count {
            let batch = min(1_000, count - done)
            _ = try await queue.enqueue(
                contentsOf: (0..<batch).map { NewJob(jobType: type, payload: ["n": .int(Int64(done + $0))]) }
            )
            done += batch
        }
    }

    // MARK: Working

    /// Jobs whose handler does nothing, worked by one continuous worker of `concurrency` slots: claim and complete
    /// as fast as the queue allows. With a `ceiling`, in rounds alternating with plain SQL that claims up to
    /// `concurrency` jobs per statement and completes them in one, over two connections (a worker keeps a claim and
    /// a completion in flight at once).
    func noOpThroughput(concurrency: Int, ceiling: PostgresCeiling?) async throws {
        let rounds = try await alternating(
            { try await noOpRate(concurrency: concurrency, batching: true) },
            against: ceiling.map { ceiling in
                { try await ceiling.claimAndComplete(options.jobs, batch: concurrency, connections: 2) }
            }
        )
        report(BenchmarkResult("no-op jobs worked, concurrency \(concurrency)", rounds.sluice, "jobs/s"))
        if let raw = rounds.raw {
            report(BenchmarkResult("raw SQL: claim + complete, \(concurrency) per statement", raw, "jobs/s"))
            report(BenchmarkResult("concurrency \(concurrency) / raw SQL", 100 * rounds.sluice / raw, "%"))
        }
    }

    private func noOpRate(concurrency: Int, batching: Bool) async throws -> Double {
        let type = JobType(rawValue: "BENCH_NOOP_\(concurrency)_\(UUID().uuidString.prefix(8))")
        try await insert(options.jobs, type: type)
        let handled = Atomic<Int>(0)
        var handlers = JobHandlerRegistry()
        handlers.register(type) { _ in
            handled.add(1, ordering: .relaxed)
            return nil
        }
        let start = ContinuousClock.now
        try await withWorker(types: [type], concurrency: concurrency, batching: batching, handlers: handlers) {
            while handled.load(ordering: .relaxed) < options.jobs { try await Task.sleep(for: .milliseconds(2)) }
            while try await store.stats().byType[type]?.completed ?? 0 < options.jobs {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        return Double(options.jobs) / (ContinuousClock.now - start).timeInterval
    }

    /// No-op jobs at concurrency 8 with batching off, one job per claim and per completion statement; on
    /// PostgreSQL in rounds alternating with the same lifecycle in plain SQL over 8 connections.
    func singleJobStatements(ceiling: PostgresCeiling?) async throws {
        let rounds = try await alternating(
            { try await noOpRate(concurrency: 8, batching: false) },
            against: ceiling.map { ceiling in { try await ceiling.claimAndComplete(options.jobs, connections: 8) } }
        )
        report(BenchmarkResult("no-op jobs worked, concurrency 8, batching off", rounds.sluice, "jobs/s"))
        if let raw = rounds.raw {
            report(BenchmarkResult("raw SQL: claim + complete, 8 connections", raw, "jobs/s"))
            report(BenchmarkResult("batching off / raw SQL", 100 * rounds.sluice / raw, "%"))
        }
    }

    /// Time from enqueue to handler start with an idle continuous worker waiting (default options).
    func pickupLatency() async throws {
        let type: JobType = "BENCH_PICKUP"
        let latencies = Mutex<[Double]>([])
        var handlers = JobHandlerRegistry()
        handlers.register(type) { context in
            let now = Date().timeIntervalSince1970
            if let sent = context.payload["sentAt"], case .double(let at) = sent {
                latencies.withLock { $0.append((now - at) * 1_000) }
            }
            return nil
        }
        try await withWorker(types: [type], concurrency: 4, handlers: handlers) {
            try await Task.sleep(for: .milliseconds(300))  // the worker is idle and waiting
            for _ in 0..<options.samples {
                _ = try await queue.enqueue(
                    NewJob(jobType: type, payload: ["sentAt": .double(Date().timeIntervalSince1970)])
                )
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...120)))
            }
            while latencies.withLock({ $0.count }) < options.samples { try await Task.sleep(for: .milliseconds(5)) }
        }
        let sorted = latencies.withLock { $0 }.sorted()
        report(BenchmarkResult("pickup latency p50", percentile(sorted, 0.50), "ms"))
        report(BenchmarkResult("pickup latency p99", percentile(sorted, 0.99), "ms"))
    }

    /// Adds `count` COMPLETED jobs through the queue (1,000 enqueued, claimed and completed per statement), the
    /// history a long-running queue keeps until cleanup.
    func fillFinished(_ count: Int) async throws {
        let type: JobType = "BENCH_FINISHED"
        var done = 0
        while done < count {
            let batch = min(1_000, count - done)
            try await insert(batch, type: type)
            let claimed = try await queue.claimJobs([type], limit: batch)
            _ = try await store.complete(claimed.map { JobCompletion(lease: $0.lease, result: nil) }, now: Date())
            done += claimed.count
        }
    }

    /// One claim of one job with `pendingJobs` PENDING jobs of its type waiting.
    func claimLatency(pendingJobs: Int, label: String) async throws {
        let type: JobType = "BENCH_CLAIM"
        let waiting = try await store.stats().byType[type]?.pending ?? 0
        try await insert(max(0, pendingJobs - waiting), type: type)
        var times: [Double] = []
        for _ in 0..<options.samples {
            let start = ContinuousClock.now
            guard let claimed = try await queue.claimJob([type]) else { break }
            times.append((ContinuousClock.now - start).timeInterval * 1_000)
            try await queue.completeJob(claimed.lease)
        }
        try await insert(options.samples, type: type)  // back to `pendingJobs` waiting
        times.sort()
        report(BenchmarkResult("claim latency p50, \(label)", percentile(times, 0.50), "ms"))
    }

    /// `GET /api/admin/queue/stats` through a live server, with the table as the earlier measurements left it.
    func statsLatency() async throws {
        let total = try await store.stats().total.total
        let times = try await statsTimes(samples: min(options.samples, 50))
        report(BenchmarkResult("stats endpoint p50, \(total.formatted()) jobs", percentile(times, 0.50), "ms"))
        report(BenchmarkResult("stats endpoint p99, \(total.formatted()) jobs", percentile(times, 0.99), "ms"))
    }

    /// The stats endpoint as the table grows (`sluice bench --stats-sweep`): the table is filled to each size with
    /// jobs due tomorrow, like a long history, and at each the endpoint is called 21 times; the median, and its
    /// ratio to the first size's, are reported. Also bcrypt's cost per hash, the price of a sign-in.
    public func statsSweep(sizes: [Int]) async throws {
        for cost: UInt8 in [4, 10, 12] {
            let start = ContinuousClock.now
            _ = try await PasswordHasher(cost: cost).hash("a benchmark password")
            report(BenchmarkResult("bcrypt, cost \(cost)", (ContinuousClock.now - start).timeInterval * 1_000, "ms"))
        }
        var baseline: Double?
        for size in sizes {
            var count = try await store.stats().total.total
            while count < size {
                let batch = min(5_000, size - count)
                _ = try await queue.enqueue(
                    contentsOf: (0..<batch).map { index in
                        NewJob(
                            jobType: index % 5 == 0 ? "BENCH_STATS_B" : "BENCH_STATS_A",
                            payload: ["n": .int(Int64(count + index))],
                            scheduledFor: Date() + 86_400
                        )
                    }
                )
                count += batch
            }
            let median = percentile(try await statsTimes(samples: 21), 0.50)
            baseline = baseline ?? median
            report(BenchmarkResult("stats endpoint p50, \(size.formatted()) jobs", median, "ms"))
            report(BenchmarkResult("stats p50 / at \(sizes[0].formatted()) jobs", median / (baseline ?? median), "x"))
        }
    }

    /// `samples` calls of `GET /api/admin/queue/stats` through a live server on this store, in milliseconds,
    /// sorted.
    private func statsTimes(samples: Int) async throws -> [Double] {
        let app = SluiceApp(
            configuration: ServerConfiguration(port: 0, runWorkers: false, runScheduler: false),
            queueStore: stores.queue,
            accountStore: stores.accounts,
            pipelineStore: stores.pipeline,
            accountOptions: AccountOptions(passwordHasher: PasswordHasher(cost: 4)),
            handlers: JobHandlerRegistry(),
            logger: logger
        )
        let email = "bench-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        try await app.accounts.createUser(email: email, password: "bench password", role: .manager)
        guard let (token, _, _) = try await app.accounts.signIn(email: email, password: "bench password") else {
            throw QueueError.invalidConfiguration("the benchmark user could not sign in")
        }
        let port = AsyncStream<Int>.makeStream()
        let application = Application(
            router: app.makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        var times: [Double] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            let services = ServiceGroup(services: [application], logger: logger)
            group.addTask { try await services.run() }
            var ports = port.stream.makeAsyncIterator()
            let url = "http://127.0.0.1:\(await ports.next() ?? 0)/api/admin/queue/stats"
            for _ in 0..<samples {
                var request = HTTPClientRequest(url: url)
                request.headers.add(name: "Cookie", value: "sluice_session=\(token)")
                let start = ContinuousClock.now
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 16 << 20)
                times.append((ContinuousClock.now - start).timeInterval * 1_000)
                guard response.status == .ok else {
                    throw QueueError.invalidConfiguration("the stats endpoint answered \(response.status)")
                }
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        return times.sorted()
    }

    // MARK: Helpers

    /// Runs `body` while a continuous worker works `types`.
    private func withWorker(
        types: [JobType],
        concurrency: Int,
        batching: Bool = true,
        handlers: JobHandlerRegistry,
        _ body: () async throws -> Void
    ) async throws {
        let queue = DatabaseQueue(store: store, options: QueueOptions(batchCompletions: batching), logger: logger)
        let runner = JobRunner(queue: queue, handlers: handlers, logger: logger)
        let worker = ContinuousWorker(
            runner: runner,
            options: ContinuousWorkerOptions(types: types, concurrency: concurrency, batchClaims: batching),
            logger: logger
        )
        let services = ServiceGroup(services: [worker], gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            do {
                try await body()
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

/// The value below which `fraction` of the sorted `values` lie (nearest rank).
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
