import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceCore
import Synchronization

/// Ingestion and vectorization through a real `sluice serve` child process: records/s for an upload of
/// `records` records (stored in batches of 100), records/s embedded through an OpenAI-compatible server that
/// answers at once, and the server's resident memory idle and at its peak during the run.
public struct PipelineBenchmark: Sendable {
    let executable: URL
    let databaseURL: String
    let records: Int
    let logger: Logger
    let report: @Sendable (BenchmarkResult) -> Void

    /// The size of a small sentence model's vectors (all-MiniLM-L6-v2): what an approximate index sees in practice.
    static let dimensions = 384

    public init(
        executable: URL,
        databaseURL: String,
        records: Int,
        logger: Logger,
        report: @escaping @Sendable (BenchmarkResult) -> Void
    ) {
        self.executable = executable
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

    /// An OpenAI-compatible `/v1/embeddings` that answers at once, with a vector of its own for every text (derived
    /// from a hash of the text, as different texts' vectors differ): identical vectors would make an approximate index
    /// behave unlike it does on real data.
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
            let data = texts.enumerated().map { index, text in
                let vector = vector(for: text).map { String($0) }.joined(separator: ",")
                return #"{"object":"embedding","index":\#(index),"embedding":[\#(vector)]}"#
            }
            let text = #"{"object":"list","model":"bench-zero","data":[\#(data.joined(separator: ","))]}"#
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        return router
    }

    /// `dimensions` numbers in [-1, 1) from an FNV-1a hash of `text` stretched by xorshift.
    static func vector(for text: String) -> [Float] {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return (0..<dimensions).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(state >> 40) / Float(1 << 23) - 1
        }
    }

    private func measure(embeddingURL: String) async throws {
        let server = try await ServerProcess.start(
            executable,
            environment: [
                "DATABASE_URL": databaseURL, "SLUICE_ADMIN_EMAIL": "bench@example.com",
                "SLUICE_ADMIN_PASSWORD": "bench password", "SLUICE_BCRYPT_COST": "4", "SLUICE_LOG_LEVEL": "error",
                "EMBEDDING_PROVIDER": "openai", "EMBEDDING_BASE_URL": embeddingURL, "EMBEDDING_MODEL": "bench-zero",
                "EMBEDDING_DIMENSIONS": "\(Self.dimensions)", "EMBEDDING_API_KEY": "bench",
            ]
        )
        defer { server.stop() }
        let api = APIClient(base: server.url)
        try await api.signIn(email: "bench@example.com", password: "bench password")
        try await Task.sleep(for: .seconds(1))
        report(BenchmarkResult("server memory, idle", Double(server.residentBytes() ?? 0) / 1_048_576, "MiB"))

        let project = try await api.send("POST", "/api/projects", ["name": "bench"])
        guard let projectID = project["project"]?["id"]?.stringValue else { throw api.unexpected(project) }
        var body = #"{"generateEmbeddings": true, "records": ["#
        body.reserveCapacity(records * 80)
        for index in 0..<records {
            if index > 0 { body += "," }
            body += #"{"id": \#(index), "text": "record \#(index) about queues, pipelines and vectors"}"#
        }
        body += "]}"

        let peak = PeakBytes()
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    if let bytes = server.residentBytes() { peak.record(bytes) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            defer { group.cancelAll() }
            let upload = try await api.send("POST", "/api/projects/\(projectID)/ingest", raw: body)
            guard let ingestID = upload["ingestJobId"]?.stringValue else { throw api.unexpected(upload) }
            while try await api.send("GET", "/api/ingest-jobs/\(ingestID)")["ingestJob"]?["status"] != "COMPLETED" {
                try await Task.sleep(for: .milliseconds(20))
            }
            let stored = ContinuousClock.now
            report(BenchmarkResult("ingestion", Double(records) / (stored - start).timeInterval, "records/s"))
            // Each look counts the project's records, so look less often than at the one-row ingest job.
            while try await api.send("GET", "/api/projects/\(projectID)")["project"]?["embeddedCount"]?.intValue
                ?? 0 < records
            {
                try await Task.sleep(for: .milliseconds(250))
            }
            report(
                BenchmarkResult(
                    "vectorization (zero-latency server, \(Self.dimensions)-dimension vectors per text)",
                    Double(records) / (ContinuousClock.now - stored).timeInterval,
                    "records/s"
                )
            )
        }
        report(
            BenchmarkResult(
                "server memory, peak during \(records.formatted())-record ingest",
                Double(peak.value) / 1_048_576,
                "MiB"
            )
        )
    }
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

    private init(url: String, process: Process) {
        self.url = url
        self.process = process
    }

    static func start(_ executable: URL, environment: [String: String]) async throws -> ServerProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", "--port", "0", "--no-scheduler"]
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
        try process.run()
        var iterator = addresses.makeAsyncIterator()
        guard let url = await iterator.next() else {
            process.terminate()
            throw QueueError.invalidConfiguration("sluice serve did not start (\(seen.withLock { $0 }))")
        }
        return ServerProcess(url: url, process: process)
    }

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
