import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceCore
import SluicePipeline
import SluiceStores
import Synchronization

/// Ingestion and vectorization through a real `sluice serve` child process: records/s for an upload of
/// `records` records (stored in batches of 100), records/s embedded through an OpenAI-compatible server that
/// answers at once, and the server's resident memory idle and at its peak during the run.
public struct PipelineBenchmark: Sendable {
    let executable: URL
    /// A command the server runs under (a profiler), empty for none.
    let serverWrapper: [String]
    let databaseURL: String
    let records: Int
    let logger: Logger
    let report: @Sendable (BenchmarkResult) -> Void

    /// The size of a small sentence model's vectors (all-MiniLM-L6-v2): what an approximate index sees in practice.
    static let dimensions = 384

    public init(
        executable: URL,
        serverWrapper: [String] = [],
        databaseURL: String,
        records: Int,
        logger: Logger,
        report: @escaping @Sendable (BenchmarkResult) -> Void
    ) {
        self.executable = executable
        self.serverWrapper = serverWrapper
        self.databaseURL = databaseURL
        self.records = max(1, records)
        self.logger = logger
        self.report = report
    }

    public func run() async throws {
        let embeddings = Self.embeddingServer(logger: logger)
        let port = AsyncStream<Int>.makeStream()
        let application = Application(
            router: embeddings,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let services = ServiceGroup(services: [application], gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var ports = port.stream.makeAsyncIterator()
            let embeddingURL = "http://127.0.0.1:\(await ports.next() ?? 0)/v1"
            do {
                try await measure(embeddingURL: embeddingURL)
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    /// An OpenAI-compatible `/v1/embeddings` that answers at once, with a vector of its own for every text
    /// (``vector(for:)``), written with 8 decimals as providers do.
    static func embeddingServer(logger: Logger) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/embeddings") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            var texts: [String] = []
            switch try JSONValue(parsing: String(buffer: body))["input"] {
            case .array(let inputs)?: texts = inputs.map { $0.stringValue ?? "" }
            case .string(let input)?: texts = [input]
            default: texts = [""]
            }
            var answer: [UInt8] = []
            answer.reserveCapacity(texts.count * dimensions * 12 + 128)
            answer.append(contentsOf: #"{"object":"list","model":"bench-zero","data":["#.utf8)
            for (index, text) in texts.enumerated() {
                if index > 0 { answer.append(UInt8(ascii: ",")) }
                answer.append(contentsOf: #"{"object":"embedding","index":\#(index),"embedding":["#.utf8)
                for (position, number) in vector(for: text).enumerated() {
                    if position > 0 { answer.append(UInt8(ascii: ",")) }
                    writeDecimal(number, to: &answer)
                }
                answer.append(contentsOf: "]}".utf8)
            }
            answer.append(contentsOf: "]}".utf8)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer))
            )
        }
        return router
    }

    /// `number` with 8 decimals, digit by digit, without a float-to-text conversion or an allocation (this runs
    /// 384 times per text, in the benchmark's own process, beside the server it measures).
    static func writeDecimal(_ number: Float, to bytes: inout [UInt8]) {
        var scaled = Int((Double(number) * 100_000_000).rounded())
        if scaled < 0 {
            bytes.append(UInt8(ascii: "-"))
            scaled = -scaled
        }
        let whole = scaled / 100_000_000
        var divisor = 1
        while divisor * 10 <= whole { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8((whole / divisor) % 10))
            divisor /= 10
        }
        bytes.append(UInt8(ascii: "."))
        var fraction = scaled % 100_000_000
        divisor = 10_000_000
        for _ in 0..<8 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor))
            fraction %= divisor
            divisor /= 10
        }
    }

    /// A filter that keeps one record in a hundred (every record has a `shard` from 0 to 99).
    static let onePercent: JSONValue = ["shard": 7]

    /// Latent dimensions and topics of the benchmark's vectors.
    static let latentDimensions = 24
    static let topics = 200

    /// A fixed map from the latent space to `dimensions`, and the topics' centres in the latent space.
    static let basis: [Float] = {
        var noise = Noise(seed: 1)
        return noise.take(latentDimensions * dimensions)
    }()
    static let centres: [Float] = {
        var noise = Noise(seed: 2)
        return noise.take(topics * latentDimensions)
    }()

    /// A unit vector of `dimensions` numbers for `text`, as a sentence model's would be: near the centre of one of
    /// `topics` topics in a `latentDimensions`-dimension space (chosen, with the offset, from a hash of the text),
    /// stretched to `dimensions`, with a little noise. Real embeddings cluster by topic and have a low intrinsic
    /// dimension; uniformly random vectors are an approximate index's worst case (measured: about 4× slower
    /// inserts, 3× slower builds), and identical ones its easiest.
    static func vector(for text: String) -> [Float] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
        var noise = Noise(seed: state)
        let topic = Int(state % UInt64(topics))
        let latent = (0..<latentDimensions).map { centres[topic * latentDimensions + $0] + 0.6 * noise.next() }
        var vector = (0..<dimensions).map { column in
            var sum = 0.3 * noise.next()
            for row in 0..<latentDimensions { sum += latent[row] * basis[row * dimensions + column] }
            return sum
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { vector = vector.map { $0 / norm } }
        return vector
    }

    private func measure(embeddingURL: String) async throws {
        let server = try await ServerProcess.start(
            executable,
            wrapper: serverWrapper,
            environment: [
                "DATABASE_URL": databaseURL, "SLUICE_ADMIN_EMAIL": "bench@example.com",
                "SLUICE_ADMIN_PASSWORD": "bench password", "SLUICE_BCRYPT_COST": "4", "SLUICE_LOG_LEVEL": "error",
                "EMBEDDING_PROVIDER": "openai", "EMBEDDING_BASE_URL": embeddingURL, "EMBEDDING_MODEL": "bench-zero",
                "EMBEDDING_DIMENSIONS": "\(Self.dimensions)", "EMBEDDING_API_KEY": "bench",
                "SLUICE_SEARCHES_PER_MINUTE": "100000",
            ]
        )
        defer { server.stop() }
        let api = APIClient(base: server.url)
        try await api.signIn(email: "bench@example.com", password: "bench password")
        try await Task.sleep(for: .seconds(1))
        report(BenchmarkResult("server memory, idle", Double(server.residentBytes() ?? 0) / 1_048_576, "MiB"))

        let project = try await api.send("POST", "/api/projects", ["name": "bench"])
        guard let projectID = project["project"]?["id"]?.stringValue else { throw api.unexpected(project) }
        try await withStores(try StoreSettings(url: databaseURL), logger: logger) { stores in
            let bench = Backfill(api: api, server: server, stores: stores, projectID: projectID, logger: logger)
            let start = ContinuousClock.now
            try await bench.upload(0..<records)
            let stored = ContinuousClock.now
            report(BenchmarkResult("ingestion", Double(records) / (stored - start).timeInterval, "records/s"))
            report(
                BenchmarkResult(
                    "server memory, peak during \(records.formatted())-record ingest",
                    Double(server.peakBytes) / 1_048_576,
                    "MiB"
                )
            )

            // The backfill, followed by the count of chunks still waiting, with one search half-way.
            let curve = try await bench.follow(total: records, searchAt: records / 2)
            report(
                BenchmarkResult(
                    "vectorization (zero-latency server, \(Self.dimensions)-dimension vectors per text)",
                    Double(records) / curve.seconds,
                    "chunks/s"
                )
            )
            for (index, rate) in curve.deciles.enumerated() {
                report(BenchmarkResult("vectorization, chunks \(index * 10)–\(index * 10 + 10)%", rate, "chunks/s"))
            }
            if let first = curve.deciles.first, let last = curve.deciles.last, first > 0 {
                report(BenchmarkResult("vectorization, last 10% ÷ first 10%", last / first, "×"))
            }
            report(BenchmarkResult("server memory, peak over the first 10%", curve.firstPeak / 1_048_576, "MiB"))
            report(BenchmarkResult("server memory, peak over the last 10%", curve.lastPeak / 1_048_576, "MiB"))
            if let search = curve.search {
                report(BenchmarkResult("search before the index (\(search.mode))", search.milliseconds, "ms"))
            }

            // The approximate index, built once the backfill is done (as the reconciler would), then new chunks
            // into the indexed project.
            let built = ContinuousClock.now
            guard try await stores.pipeline.prepareVectorIndex(dimensions: Self.dimensions) == .approximate else {
                // No approximate index (SQLite): exact search's latency, over every record and 1% of them.
                for (label, filter) in [("search", nil), ("search with a 1% filter", Self.onePercent)]
                    as [(String, JSONValue?)]
                {
                    let quality = try await bench.quality(count: 100, filter: filter, exact: nil)
                    report(BenchmarkResult("\(label) p50 (\(quality.mode))", quality.p50, "ms"))
                    report(BenchmarkResult("\(label) p99 (\(quality.mode))", quality.p99, "ms"))
                }
                return
            }
            report(
                BenchmarkResult(
                    "approximate index build (HNSW, \(records.formatted()) chunks)",
                    (ContinuousClock.now - built).timeInterval,
                    "s"
                )
            )
            let after = try await bench.searches(5)
            report(BenchmarkResult("search after the index (\(after.mode)), best of 5", after.milliseconds, "ms"))
            // Latency and recall@10 against exact search, over every record and over 1% of them.
            if let postgres = stores.pipeline as? PostgresPipelineStore {
                for (label, filter) in [("search", nil), ("search with a 1% filter", Self.onePercent)]
                    as [(String, JSONValue?)]
                {
                    let quality = try await bench.quality(count: 100, filter: filter) { vector in
                        try await postgres.exactNearestRecords(
                            projectID: projectID,
                            to: vector,
                            model: "bench-zero",
                            limit: 10,
                            filter: try filter.map { try SearchFilter(parsing: $0) }
                        ).map(\.id)
                    }
                    report(BenchmarkResult("\(label) p50 (\(quality.mode))", quality.p50, "ms"))
                    report(BenchmarkResult("\(label) p99 (\(quality.mode))", quality.p99, "ms"))
                    if let recall = quality.recall {
                        report(BenchmarkResult("\(label) recall@10 against exact (\(quality.mode))", recall, ""))
                    }
                }
            }
            let more = min(20_000, max(1_000, records / 10))
            try await bench.upload(records..<(records + more))
            let kept = try await bench.follow(total: more, searchAt: nil)
            report(
                BenchmarkResult(
                    "vectorization of \(more.formatted()) new chunks into the indexed project",
                    Double(more) / kept.seconds,
                    "chunks/s"
                )
            )
        }
    }
}

/// One project's upload and backfill, driven through the API and followed in the database.
struct Backfill: Sendable {
    let api: APIClient
    let server: ServerProcess
    let stores: Stores
    let projectID: String
    let logger: Logger

    /// What ``follow(total:searchAt:)`` saw.
    struct Curve {
        var seconds: Double
        /// Chunks/s over each tenth of the backfill.
        var deciles: [Double]
        /// The server's peak resident bytes over the first and the last tenth.
        var firstPeak: Double
        var lastPeak: Double
        var search: (mode: String, milliseconds: Double)?
    }

    /// Most records one upload carries (about 8 MB of JSON), as a client keeps under the server's upload limit.
    static let recordsPerUpload = 100_000

    /// Uploads records `ids` in uploads of at most ``recordsPerUpload``, one after another, each stored before the
    /// next is sent. Only the last asks for embeddings, so that the backfill starts once everything is stored.
    func upload(_ ids: Range<Int>) async throws {
        for start in stride(from: ids.lowerBound, to: ids.upperBound, by: Self.recordsPerUpload) {
            let part = start..<min(ids.upperBound, start + Self.recordsPerUpload)
            var body = #"{"generateEmbeddings": \#(part.upperBound == ids.upperBound), "records": ["#
            body.reserveCapacity(part.count * 80)
            for index in part {
                if index > part.lowerBound { body += "," }
                body +=
                    #"{"id": \#(index), "shard": \#(index % 100), "text": "record \#(index) about queues, pipelines and vectors"}"#
            }
            body += "]}"
            let upload = try await api.send("POST", "/api/projects/\(projectID)/ingest", raw: body)
            guard let ingestID = upload["ingestJobId"]?.stringValue else { throw api.unexpected(upload) }
            while try await api.send("GET", "/api/ingest-jobs/\(ingestID)")["ingestJob"]?["status"] != "COMPLETED" {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Follows the backfill of `total` waiting chunks until none waits: the time each tenth took and the server's
    /// memory over the first and last tenth; one search once `searchAt` chunks have vectors (or at the end).
    func follow(total: Int, searchAt: Int?) async throws -> Curve {
        let start = ContinuousClock.now
        // (seconds since start, chunks with a vector): linear between looks.
        var samples: [(Double, Int)] = [(0, 0)]
        var firstPeak = server.residentBytes() ?? 0
        var lastPeak = 0
        var search: (mode: String, milliseconds: Double)?
        // Each look counts the waiting chunks: look less often at a large backlog.
        let interval: Duration = total >= 200_000 ? .seconds(1) : .milliseconds(50)
        while true {
            let waiting = try await stores.pipeline.waitingChunkCount(projectID: projectID)
            let done = max(0, total - waiting)
            samples.append(((ContinuousClock.now - start).timeInterval, done))
            let bytes = server.residentBytes() ?? 0
            if done <= total / 10 { firstPeak = max(firstPeak, bytes) }
            if done >= total - total / 10 { lastPeak = max(lastPeak, bytes) }
            if waiting == 0 {
                // A backfill too quick to be caught half-way is searched at its end, still before any index.
                if searchAt != nil, search == nil { search = try await searches(1) }
                break
            }
            if let searchAt, search == nil, done >= searchAt { search = try await searches(1) }
            try await Task.sleep(for: interval)
        }
        func time(at count: Double) -> Double {
            guard let after = samples.firstIndex(where: { Double($0.1) >= count }), after > 0 else { return 0 }
            let (t1, c1) = samples[after]
            let (t0, c0) = samples[after - 1]
            return c1 == c0 ? t1 : t0 + (t1 - t0) * (count - Double(c0)) / Double(c1 - c0)
        }
        let marks = (0...10).map { time(at: Double(total) * Double($0) / 10) }
        let deciles = (1...10).map { Double(total) / 10 / max(marks[$0] - marks[$0 - 1], 1e-6) }
        return Curve(
            seconds: samples.last?.0 ?? 0,
            deciles: deciles,
            firstPeak: Double(firstPeak),
            lastPeak: Double(lastPeak),
            search: search
        )
    }

    /// Latency and quality of `count` searches through the API.
    struct SearchQuality {
        var p50: Double
        var p99: Double
        /// Mean share of the exact top 10 in the answer; nil without `exact`.
        var recall: Double?
        var mode: String
    }

    /// `count` searches through the API (`POST`, k 10, texts no record has, with `filter`), one at a time: their
    /// latency in milliseconds at p50 and p99 (nearest rank), how the server said it searched, and, given the exact
    /// answer to each query's vector, recall@10.
    func quality(
        count: Int,
        filter: JSONValue?,
        exact: ((_ vector: [Float]) async throws -> [String])?
    ) async throws -> SearchQuality {
        var latencies: [Double] = []
        var answers: [(text: String, found: Set<String>)] = []
        var mode = "?"
        for index in 0..<count {
            let text = "question \(index * 7_919 % 1_000_003) about queues and vectors"
            var body: [String: JSONValue] = ["query": .string(text), "k": 10]
            if let filter { body["filter"] = filter }
            let started = ContinuousClock.now
            let answer = try await api.send("POST", "/api/projects/\(projectID)/search", .object(body))
            latencies.append((ContinuousClock.now - started).timeInterval * 1000)
            mode = answer["search"]?.stringValue ?? "?"
            guard case .array(let results)? = answer["results"] else { throw api.unexpected(answer) }
            answers.append((text, Set(results.compactMap { $0["id"]?.stringValue })))
        }
        // The exact answers after every timed search: an exact scan reads the whole project, which would push the
        // index out of PostgreSQL's buffers between the timed searches.
        var recalls: [Double] = []
        if let exact {
            for (text, found) in answers {
                let truth = Set(try await exact(PipelineBenchmark.vector(for: text)))
                recalls.append(truth.isEmpty ? 1 : Double(truth.intersection(found).count) / Double(truth.count))
            }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double {
            latencies[max(0, min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1))]
        }
        return SearchQuality(
            p50: percentile(0.5),
            p99: percentile(0.99),
            recall: recalls.isEmpty ? nil : recalls.reduce(0, +) / Double(recalls.count),
            mode: mode
        )
    }

    /// The fastest of `count` searches through the API, and how the server said it searched.
    func searches(_ count: Int) async throws -> (mode: String, milliseconds: Double) {
        var best = Double.infinity
        var mode = "?"
        for _ in 0..<count {
            let started = ContinuousClock.now
            let answer = try await api.send("GET", "/api/projects/\(projectID)/search?q=record+12345+about+queues&k=10")
            best = min(best, (ContinuousClock.now - started).timeInterval * 1000)
            mode = answer["search"]?.stringValue ?? "?"
        }
        return (mode, best)
    }
}

/// Numbers in [-1, 1) from xorshift64: the benchmark's vectors, the same on every run.
struct Noise {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9e37_79b9_7f4a_7c15 : seed }

    mutating func next() -> Float {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Float(state >> 40) / Float(1 << 23) - 1
    }

    mutating func take(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
}

/// The largest value recorded, from any task.
final class PeakBytes: Sendable {
    private let peak = Atomic<Int>(0)
    func record(_ bytes: Int) { peak.max(bytes, ordering: .relaxed) }
    var value: Int { peak.load(ordering: .relaxed) }
}

/// A `sluice serve` child process on a free port.
final class ServerProcess: Sendable {
    let url: String
    private let process: Process
    private let peak = PeakBytes()

    private init(url: String, process: Process) {
        self.url = url
        self.process = process
    }

    static func start(
        _ executable: URL,
        wrapper: [String] = [],
        environment: [String: String]
    ) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--port", "0", "--no-scheduler"]
        // A profiler to run the server under (`heaptrack`, `perf record -g`, …); its memory figures then include it.
        if !wrapper.isEmpty {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = wrapper + [executable.path] + (process.arguments ?? [])
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // `serve` announces its address on standard error; keep draining it so that the server never blocks.
        let output = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = output
        let (addresses, sink) = AsyncStream<String>.makeStream()
        let seen = Mutex("")
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                sink.finish()
                handle.readabilityHandler = nil
                return
            }
            let text = seen.withLock { text -> String in
                if text.count < 65_536 { text += String(decoding: data, as: UTF8.self) }
                return text
            }
            if let range = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) {
                sink.yield(String(text[range]))
                sink.finish()
            }
        }
        // A server that exits before announcing itself (a wrapper that is not installed, a bad setting) ends the
        // wait too: its standard error need not reach end-of-file while this process holds the pipe.
        process.terminationHandler = { _ in sink.finish() }
        try process.run()
        var iterator = addresses.makeAsyncIterator()
        guard let url = await iterator.next() else {
            process.terminate()
            throw QueueError.invalidConfiguration("sluice serve did not start (\(seen.withLock { $0 }))")
        }
        let server = ServerProcess(url: url, process: process)
        // Its resident memory every 20 ms while it runs, for the peak.
        Task.detached {
            while process.isRunning {
                if let bytes = server.residentBytes() { server.peak.record(bytes) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return server
    }

    /// The largest resident memory seen so far (sampled every 20 ms).
    var peakBytes: Int { peak.value }

    /// VmRSS of the server, from /proc (Linux).
    func residentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// JSON requests to the child server with its session cookie.
final class APIClient: Sendable {
    let base: String
    private let cookie = Mutex<String?>(nil)

    init(base: String) {
        self.base = base
    }

    func signIn(email: String, password: String) async throws {
        var request = HTTPClientRequest(url: base + "/api/auth/login")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(string: JSONValue.object(["email": .string(email), "password": .string(password)]).jsonText)
        )
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let setCookie = response.headers.first(name: "Set-Cookie") else {
            throw QueueError.invalidConfiguration("signing in to the benchmark server answered \(response.status)")
        }
        cookie.withLock { $0 = String(setCookie.split(separator: ";")[0]) }
    }

    func send(_ method: String, _ path: String, _ body: JSONValue? = nil, raw: String? = nil) async throws -> JSONValue
    {
        var request = HTTPClientRequest(url: base + path)
        request.method = HTTPMethod(rawValue: method)
        if let cookie = cookie.withLock({ $0 }) { request.headers.add(name: "Cookie", value: cookie) }
        if let text = raw ?? body?.jsonText {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: text))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let answer = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw QueueError.invalidConfiguration(
                "\(method) \(path) answered \(response.status): \(String(buffer: answer))"
            )
        }
        return try JSONValue(parsing: String(buffer: answer))
    }

    func unexpected(_ answer: JSONValue) -> any Error {
        QueueError.invalidConfiguration("unexpected answer from the benchmark server: \(answer.jsonText.prefix(300))")
    }
}
