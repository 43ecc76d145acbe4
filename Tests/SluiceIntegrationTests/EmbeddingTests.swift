import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

@testable import SluiceCLI

/// A local OpenAI-compatible `/v1/embeddings` server whose answers a test scripts, one per request; when the script
/// runs out it answers normally. It records what it received.
final class FakeEmbeddingServer: Sendable {
    enum Answer: Sendable {
        case vectors(dimensions: Int)
        case status(Int, body: String, headers: [(String, String)] = [])
        case slow(Duration)
        case wrongCount
    }

    struct Received: Sendable {
        var authorization: String?
        var body: JSONValue
    }

    let dimensions: Int
    private let script: Mutex<[Answer]>
    let received = Mutex<[Received]>([])

    init(dimensions: Int = 8, script: [Answer] = []) {
        self.dimensions = dimensions
        self.script = Mutex(script)
    }

    var requestCount: Int { received.withLock { $0.count } }

    private func next() -> Answer {
        script.withLock { $0.isEmpty ? .vectors(dimensions: dimensions) : $0.removeFirst() }
    }

    /// Runs the server on a free port for the duration of `body`, which gets its base URL (`http://…/v1`).
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/embeddings") { request, context -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 22))
            let json = (try? JSONValue(parsing: text)) ?? .null
            self.received.withLock {
                $0.append(Received(authorization: request.headers[.authorization], body: json))
            }
            guard case .array(let inputs)? = json["input"] else { return Response(status: .badRequest) }
            func vectors(_ count: Int, _ dimensions: Int) -> Response {
                let data: [JSONValue] = (0..<count).map { index in
                    [
                        "object": "embedding", "index": .int(Int64(index)),
                        "embedding": .array((0..<dimensions).map { .double(Double(index) + Double($0) / 100) }),
                    ]
                }
                let answer: JSONValue = ["object": "list", "data": .array(data), "model": "fake"]
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: answer.jsonText)))
            }
            switch self.next() {
            case .vectors(let dimensions):
                return vectors(inputs.count, dimensions)
            case .wrongCount:
                return vectors(max(0, inputs.count - 1), self.dimensions)
            case .status(let code, let body, let headers):
                var fields = HTTPFields()
                for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
                return Response(
                    status: HTTPResponse.Status(code: code),
                    headers: fields,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: body))
                )
            case .slow(let delay):
                try await Task.sleep(for: delay)
                return vectors(inputs.count, self.dimensions)
            }
        }
        let port = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.continuation.yield($0.localAddress?.port ?? 0) },
            logger: quietLogger
        )
        let group = ServiceGroup(services: [app], logger: quietLogger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = port.stream.makeAsyncIterator()
            let base = "http://127.0.0.1:\(await iterator.next() ?? 0)/v1"
            do {
                let result = try await body(base)
                await group.triggerGracefulShutdown()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }
}

@Suite("Embedding providers", .timeLimit(.minutes(5)))
struct EmbeddingTests {
    @Test("an API key sent over http:// to another machine is warned about at start; loopback and https are not")
    func plainHTTPWarning() throws {
        func warning(_ url: String, key: String? = "sk-x") throws -> String? {
            var environment = ["EMBEDDING_PROVIDER": "openai", "EMBEDDING_BASE_URL": url]
            environment["EMBEDDING_API_KEY"] = key
            return try SettingsReader(environment).embeddingSettings().warning
        }
        #expect(try warning("http://gpu-7.corp.internal/v1")?.contains("unencrypted") == true)
        #expect(try warning("http://127.0.0.1:1234/v1") == nil)
        #expect(try warning("http://localhost:11434/v1") == nil)
        #expect(try warning("https://api.openai.com/v1") == nil)
        #expect(try warning("http://gpu-7.corp.internal/v1", key: nil) == nil, "no key, nothing to leak")
    }

    static let fastRetry = EmbeddingRetryOptions(
        attempts: 3,
        backoff: .milliseconds(10),
        rateLimitBudget: .seconds(2),
        rateLimitDefault: .milliseconds(50)
    )

    /// Runs `body` with a client for `server`.
    private func withClient<T: Sendable>(
        _ server: FakeEmbeddingServer,
        apiKey: String? = "sk-test-key",
        sendDimensions: Bool = false,
        timeout: Duration = .seconds(10),
        retry: EmbeddingRetryOptions = fastRetry,
        _ body: @Sendable (OpenAIEmbeddingClient) async throws -> T
    ) async throws -> T {
        try await server.run { base in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let settings = EmbeddingSettings(
                provider: .openai,
                baseURL: base,
                apiKey: apiKey,
                model: "test-model",
                dimensions: server.dimensions,
                sendDimensions: sendDimensions,
                timeout: timeout
            )
            do {
                let result = try await body(
                    OpenAIEmbeddingClient(settings: settings, http: http, retry: retry, logger: quietLogger)
                )
                try await http.shutdown()
                return result
            } catch {
                try await http.shutdown()
                throw error
            }
        }
    }

    @Test("local embedder: deterministic, normalised, similar texts closer")
    func localEmbedder() async throws {
        let embedder = LocalEmbedder(dimensions: 256)
        let vectors = try await embedder.embed([
            "The quick brown fox jumps over the lazy dog", "the QUICK brown fox jumped over a lazy dog!",
            "Quarterly revenue grew in the European market", "",
        ])
        #expect(vectors.count == 4)
        #expect(vectors.allSatisfy { $0.count == 256 })
        #expect(try await embedder.embed(["The quick brown fox jumps over the lazy dog"])[0] == vectors[0])
        func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(cosine(vectors[0], vectors[0]) - 1) < 1e-5)
        #expect(cosine(vectors[0], vectors[1]) > 0.5)
        #expect(cosine(vectors[0], vectors[2]) < 0.2)
        #expect(vectors[3].allSatisfy { $0 == 0 })
        #expect(embedder.model == "sluice-local-hash-v1")
    }

    @Test("OpenAI-compatible: one vector per input, in order, with the model and the key")
    func success() async throws {
        let server = FakeEmbeddingServer(dimensions: 4)
        let vectors = try await withClient(server) { try await $0.embed(["a", "b", "c"]) }
        #expect(vectors.count == 3)
        #expect(vectors[2] == [2, 2.01, 2.02, 2.03])
        let request = try #require(server.received.withLock { $0.first })
        #expect(request.authorization == "Bearer sk-test-key")
        #expect(request.body["model"] == "test-model")
        #expect(request.body["input"] == ["a", "b", "c"])
        #expect(request.body["dimensions"] == nil, "not sent unless EMBEDDING_SEND_DIMENSIONS")
        _ = try await withClient(server, apiKey: nil, sendDimensions: true) { try await $0.embed(["x"]) }
        let second = try #require(server.received.withLock { $0.last })
        #expect(second.authorization == nil)
        #expect(second.body["dimensions"] == 4)
    }

    @Test("5xx, 408 and 409 are retried with backoff; past the tries, unavailable")
    func transientErrors() async throws {
        let recovering = FakeEmbeddingServer(script: [
            .status(500, body: "oops"), .status(408, body: ""), .vectors(dimensions: 8),
        ])
        #expect(try await withClient(recovering) { try await $0.embed(["a"]) }.count == 1)
        #expect(recovering.requestCount == 3)

        let down = FakeEmbeddingServer(
            script: Array(repeating: .status(503, body: #"{"error": "overloaded"}"#), count: 5)
        )
        let error = await #expect(throws: EmbeddingError.self) {
            try await withClient(down) { try await $0.embed(["a"]) }
        }
        #expect(error?.code == .unavailable)
        #expect(error?.status == 503)
        #expect(error?.message.contains("overloaded") == true)
        #expect(down.requestCount == 3)
    }

    @Test("429 waits as long as asked, within a budget; beyond it, rateLimited with the wait")
    func rateLimits() async throws {
        let server = FakeEmbeddingServer(script: [
            .status(
                429,
                body: #"{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}"#,
                headers: [("Retry-After", "0.3")]
            ),
            .vectors(dimensions: 8),
        ])
        let started = ContinuousClock.now
        #expect(try await withClient(server) { try await $0.embed(["a"]) }.count == 1)
        #expect(ContinuousClock.now - started >= .milliseconds(300))

        let saturated = FakeEmbeddingServer(script: [
            .status(429, body: "{}", headers: [("Retry-After", "30")])
        ])
        let error = await #expect(throws: EmbeddingError.self) {
            try await withClient(saturated) { try await $0.embed(["a"]) }
        }
        #expect(error?.code == .rateLimited)
        #expect(error?.retryAfter == .seconds(30))
        #expect(saturated.requestCount == 1, "a wait longer than the budget is not slept through")
    }

    @Test("other 4xx fail with the provider's message; the key never shows")
    func rejections() async throws {
        let cases: [(FakeEmbeddingServer.Answer, String)] = [
            (
                .status(400, body: #"{"error": {"message": "model not found", "code": "model_not_found"}}"#),
                "model not found (code model_not_found)"
            ),
            (.status(400, body: #"{"error": {"message": "too long", "code": 400}}"#), "too long (code 400)"),
            (.status(401, body: #"{"error": "invalid key sk-test-key"}"#), "invalid key [redacted]"),
            (.status(404, body: #"{"message": "no such route"}"#), "no such route"),
            (.status(422, body: "plain words"), "plain words"),
        ]
        for (answer, expected) in cases {
            let server = FakeEmbeddingServer(script: [answer])
            let error = await #expect(throws: EmbeddingError.self) {
                try await withClient(server) { try await $0.embed(["a"]) }
            }
            #expect(error?.code == .rejected)
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("sk-test-key") == false)
            #expect(server.requestCount == 1, "a rejection is not retried")
        }
    }

    @Test("wrong dimension, wrong count and timeouts are clear errors")
    func badAnswers() async throws {
        let wrongDimension = FakeEmbeddingServer(script: [.vectors(dimensions: 3)])
        let dimension = await #expect(throws: EmbeddingError.self) {
            try await withClient(wrongDimension) { try await $0.embed(["a"]) }
        }
        #expect(dimension?.code == .invalidResponse)
        #expect(dimension?.message.contains("3 dimensions; EMBEDDING_DIMENSIONS is 8") == true)

        let wrongCount = FakeEmbeddingServer(script: [.wrongCount])
        let count = await #expect(throws: EmbeddingError.self) {
            try await withClient(wrongCount) { try await $0.embed(["a", "b"]) }
        }
        #expect(count?.message.contains("1 vectors for 2 inputs") == true)

        let slow = FakeEmbeddingServer(script: [.slow(.seconds(3)), .slow(.seconds(3)), .slow(.seconds(3))])
        let timeout = await #expect(throws: EmbeddingError.self) {
            try await withClient(slow, timeout: .milliseconds(200)) { try await $0.embed(["a"]) }
        }
        #expect(timeout?.code == .unavailable)
        #expect(timeout?.message.contains("timed out") == true, "\(timeout?.message ?? "")")
    }

    @Test("Retry-After and x-ratelimit-reset headers")
    func retryAfterHeaders() {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        var headers = HTTPHeaders([("Retry-After", "7")])
        #expect(OpenAIEmbeddingClient.retryAfter(headers, now: now) == .seconds(7))
        headers = HTTPHeaders([("Retry-After", "Wed, 18 Nov 2026 11:06:50 GMT")])
        #expect(OpenAIEmbeddingClient.retryAfter(headers, now: now) == .seconds(10))
        headers = HTTPHeaders([("x-ratelimit-reset-requests", "250ms"), ("x-ratelimit-reset-tokens", "6m0s")])
        #expect(OpenAIEmbeddingClient.retryAfter(headers, now: now) == .seconds(360))
        #expect(OpenAIEmbeddingClient.retryAfter(HTTPHeaders(), now: now) == nil)
        #expect(OpenAIEmbeddingClient.parseGoDuration("1h2m3.5s") == .milliseconds(3_723_500))
        #expect(OpenAIEmbeddingClient.parseGoDuration("soon") == nil)
        #expect(OpenAIEmbeddingClient.parseGoDuration("12") == nil)
    }

    @Test("settings from the environment; bad values are named")
    func settings() throws {
        let defaults = try SettingsReader([:]).embeddingSettings()
        #expect(defaults.provider == .local)
        #expect(defaults.model == "sluice-local-hash-v1")
        #expect(defaults.dimensions == 1536)
        let openai = try SettingsReader([
            "EMBEDDING_PROVIDER": "OpenAI", "EMBEDDING_BASE_URL": "http://localhost:1234/v1",
            "EMBEDDING_MODEL": "nomic-embed-text", "EMBEDDING_DIMENSIONS": "768",
        ]).embeddingSettings()
        #expect(openai.provider == .openai)
        #expect(openai.model == "nomic-embed-text")
        #expect(openai.dimensions == 768)
        for (name, value) in [
            ("EMBEDDING_PROVIDER", "cohere"), ("EMBEDDING_DIMENSIONS", "0"), ("EMBEDDING_BASE_URL", "localhost:1234"),
            ("EMBEDDING_TIMEOUT_SECONDS", "soon"),
        ] {
            #expect {
                try SettingsReader([name: value]).embeddingSettings()
            } throws: { error in
                (error as? QueueError)?.message.contains(name) == true
            }
        }
    }
}

@Suite("Pipeline end to end with an OpenAI-compatible server", .timeLimit(.minutes(5)))
struct EndToEndEmbeddingTests {
    @Test(
        "ingest, vectorize through the HTTP provider, search; a long rate limit defers the job",
        arguments: StoreKind.sql
    )
    func endToEnd(kind: StoreKind) async throws {
        // A 500 the client retries at once, vectors, then a rate limit longer than the client's budget.
        let server = FakeEmbeddingServer(
            dimensions: 8,
            script: [
                .status(500, body: #"{"error": {"message": "warming up", "code": 503}}"#),
                .vectors(dimensions: 8),
                .status(429, body: #"{"error": "slow down"}"#, headers: [("Retry-After", "45")]),
            ]
        )
        try await server.run { base in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let client = OpenAIEmbeddingClient(
                settings: EmbeddingSettings(
                    provider: .openai,
                    baseURL: base,
                    apiKey: "sk-e2e",
                    model: "fake-model",
                    dimensions: 8
                ),
                http: http,
                retry: EmbeddingTests.fastRetry,
                logger: quietLogger
            )
            do {
                try await withServer(kind, withIngestion: true, embedder: client) { app in
                    let manager = try await app.login(.manager)
                    let id = try #require(
                        try await app.request(.post, "/api/projects", cookie: manager, body: #"{"name": "e2e"}"#)
                            .json?["project"]?["id"]?.stringValue
                    )
                    let records = (0..<30).map { #"{"text": "document number \#($0)"}"# }.joined(separator: ",")
                    let queued = try await app.request(
                        .post,
                        "/api/projects/\(id)/ingest",
                        cookie: manager,
                        body: #"{"records": [\#(records)], "generateEmbeddings": true}"#
                    )
                    #expect(queued.status == .accepted)
                    #expect(try await app.request(.get, "/api/workers/ingestion").json?["processed"] == 1)

                    // First request: 500 then vectors for 25 records; second request: a 45 s rate limit, past the
                    // client's 2 s budget, so the job goes back to the queue with its attempt unspent.
                    let run = try await app.request(.get, "/api/workers/vectorization")
                    #expect(run.json?["processed"] == 0, "\(run.text)")
                    let project = try await app.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]
                    #expect(project?["embeddedCount"] == 25)
                    #expect(project?["embeddingModel"] == "fake-model")
                    let waiting = try #require(
                        try await app.app.queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).first
                    )
                    #expect(waiting.attempts == 0)
                    #expect(waiting.scheduledFor == app.clock.now() + 45)

                    app.clock.advance(by: .seconds(45))
                    #expect(try await app.request(.get, "/api/workers/vectorization").json?["processed"] == 1)
                    #expect(
                        try await app.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?[
                            "embeddedCount"
                        ] == 30
                    )
                    let found = try await app.request(
                        .get,
                        "/api/projects/\(id)/search?q=document&k=3",
                        cookie: manager
                    )
                    #expect(found.status == .ok, "\(found.text)")
                    #expect(found.json?["model"] == "fake-model")
                    let sent = server.received.withLock { $0 }
                    #expect(sent.allSatisfy { $0.authorization == "Bearer sk-e2e" })
                    #expect(
                        sent.compactMap { request -> Int? in
                            guard case .array(let inputs)? = request.body["input"] else { return nil }
                            return inputs.count
                        }.allSatisfy { $0 <= 25 },
                        "requests of at most 25 texts"
                    )
                }
                try await http.shutdown()
            } catch {
                try await http.shutdown()
                throw error
            }
        }
    }

    @Test("through the handler: wrong dimensions and timeouts fail the attempt with a clear error, nothing saved")
    func badProviderAnswers() async throws {
        let server = FakeEmbeddingServer(
            dimensions: 8,
            script: [.vectors(dimensions: 5), .slow(.seconds(3)), .slow(.seconds(3)), .slow(.seconds(3))]
        )
        try await server.run { base in
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            func client(timeout: Duration) -> OpenAIEmbeddingClient {
                OpenAIEmbeddingClient(
                    settings: EmbeddingSettings(
                        provider: .openai,
                        baseURL: base,
                        apiKey: "sk-e2e",
                        model: "fake-model",
                        dimensions: 8,
                        timeout: timeout
                    ),
                    http: http,
                    retry: EmbeddingTests.fastRetry,
                    logger: quietLogger
                )
            }
            // A patient client meets the wrong dimension; an impatient one meets the slow answers.
            let patient = client(timeout: .seconds(30))
            let impatient = client(timeout: .milliseconds(500))
            do {
                try await withServerStore(.sqlite) { stores in
                    let clock = ManualWallClock()
                    let queue = DatabaseQueue(store: stores.queue, clock: clock, logger: quietLogger)
                    func runner(_ provider: OpenAIEmbeddingClient) -> JobRunner {
                        var handlers = JobHandlerRegistry()
                        handlers.register(.vectorize, VectorizationHandler(store: stores.pipeline, provider: provider))
                        return JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
                    }
                    let project = try await TestProjects.make(stores.pipeline, records: 1) { _ in "one" }
                    let id = try await VectorizationHandler.enqueue(projectID: project, on: queue).id

                    #expect(
                        await runner(patient).run(try #require(try await queue.claimJob([.vectorize])))
                            == .failed(.retryScheduled(at: clock.now() + 10))
                    )
                    let first = try await queue.getJob(id).errors.last?.message ?? ""
                    #expect(first.contains("5 dimensions; EMBEDDING_DIMENSIONS is 8"), "\(first)")
                    #expect(!first.contains("sk-e2e"))

                    // The next attempt meets a provider slower than the 200 ms timeout, three times over.
                    clock.advance(by: .seconds(10))
                    #expect(
                        await runner(impatient).run(try #require(try await queue.claimJob([.vectorize])))
                            == .failed(.retryScheduled(at: clock.now() + 20))
                    )
                    let second = try await queue.getJob(id).errors.last?.message ?? ""
                    #expect(second.contains("timed out"), "\(second)")
                    #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 0)
                }
                try await http.shutdown()
            } catch {
                try await http.shutdown()
                throw error
            }
        }
    }
}
