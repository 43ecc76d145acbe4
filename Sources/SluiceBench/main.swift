// Prints how long the admin stats endpoint takes as the job table grows, through a live HTTP server.
//
//   swift run -c release SluiceBench [DATABASE_URL] [SIZES]
//   swift run -c release SluiceBench postgres://postgres@127.0.0.1:5432/bench 1000,100000,1000000
//
// The database should be empty and disposable: the benchmark migrates it and fills it with jobs. Each size is
// reached by adding jobs to the previous one; at each, the endpoint is called 21 times and the median, fastest
// and slowest are printed, with the ratio to the smallest size (compare ratios: these machines are shared).
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

let arguments = CommandLine.arguments.dropFirst()
let url = arguments.first ?? "sqlite:./data/bench.sqlite"
let sizes = (arguments.dropFirst().first ?? "1000,100000,1000000").split(separator: ",").compactMap { Int($0) }
let logger: Logger = {
    var logger = Logger(label: "sluice.bench")
    logger.logLevel = .error
    return logger
}()

try await withJobStore(try StoreSettings(url: url), logger: logger) { store in
    _ = try await store.migrate()
    let app = SluiceApp(
        configuration: ServerConfiguration(port: 0, runWorkers: false, runScheduler: false), store: store,
        accountOptions: AccountOptions(passwordHasher: PasswordHasher(cost: 4)), handlers: JobHandlerRegistry(),
        logger: logger)
    let email = "bench-\(UUID().uuidString.prefix(8))@example.com"
    try await app.accounts.createUser(email: email, password: "bench password", role: .manager)
    let (token, _, _) = try require(try await app.accounts.signIn(email: email, password: "bench password"))
    let cookie = "sluice_session=\(token)"

    let port = AsyncStream<Int>.makeStream()
    let application = Application(
        router: app.makeRouter(),
        configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.continuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger)
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    try await withThrowingTaskGroup(of: Void.self) { group in
        let services = ServiceGroup(services: [application], logger: logger)
        group.addTask { try await services.run() }
        var iterator = port.stream.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next() ?? 0)/api/admin/queue/stats"
        print("store: \(store.location)")
        for cost: UInt8 in [4, 10, 12] {
            let start = ContinuousClock.now
            _ = try await PasswordHasher(cost: cost).hash("a benchmark password")
            print(
                String(
                    format: "bcrypt cost %d: %.1f ms per hash", cost, (ContinuousClock.now - start).timeInterval * 1000)
            )
        }
        print("jobs        median ms   min ms   max ms   ratio")
        var baseline: Double?
        for size in sizes {
            var count = try await store.stats().total.total
            while count < size {
                let batch = min(5_000, size - count)
                // Mostly far-future jobs, like a long history: only the oldest few are due.
                _ = try await app.queue.enqueue(
                    contentsOf: (0..<batch).map { index in
                        NewJob(
                            jobType: index % 5 == 0 ? .vectorize : .ingestData,
                            payload: ["n": .int(Int64(count + index))],
                            scheduledFor: Date() + 86_400)
                    })
                count += batch
            }
            var times: [Double] = []
            for _ in 0..<21 {
                var request = HTTPClientRequest(url: base)
                request.headers.add(name: "Cookie", value: cookie)
                let start = ContinuousClock.now
                let response = try await client.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 1 << 24)
                guard response.status == .ok else { throw TestFailure("stats answered \(response.status)") }
                times.append((ContinuousClock.now - start).timeInterval * 1000)
            }
            times.sort()
            let median = times[times.count / 2]
            baseline = baseline ?? median
            print(
                String(
                    format: "%-10d  %9.2f  %7.2f  %7.2f  %6.1fx", size, median, times.first!, times.last!,
                    median / baseline!))
        }
        try await client.shutdown()
        await services.triggerGracefulShutdown()
    }
}

struct TestFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw TestFailure("sign-in failed") }
    return value
}
