import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

@testable import SluiceServer

#if canImport(Glibc)
    import Glibc
#endif

/// Embeds like the local embedder and keeps every text it was asked for; a text containing `fail-me` fails the way
/// a provider does, with words that should not reach every reader.
final class RecordingEmbedder: EmbeddingProvider {
    let inner = LocalEmbedder(dimensions: 64)
    let texts = Mutex<[String]>([])
    var model: String { inner.model }
    var dimensions: Int { inner.dimensions }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        self.texts.withLock { $0 += texts }
        if texts.contains(where: { $0.contains("fail-me") }) {
            throw EmbeddingError(code: .unavailable, message: "gpu-7.corp.internal refused key sk-test***cdef")
        }
        return try await inner.embed(texts)
    }
}

/// The findings of the security review and the black-box tests (shared/reports/security-review.md), each with the
/// behaviour that fixes it.
@Suite("Security review", .timeLimit(.minutes(5)))
struct SecurityTests {
    /// A project with one embedded record, searchable with `embedder`.
    private func searchableProject(_ server: Harness, _ embedder: RecordingEmbedder) async throws -> String {
        let store = server.app.pipeline
        let id = UUID().uuidString.lowercased()
        try await store.createProject(Project(id: id, name: "p-\(id.prefix(6))", createdAt: Date()))
        try await store.createIngestJob(IngestJob(id: "i-\(id)", projectID: id, total: 1, createdAt: Date()), chunks: 1)
        let record = try RecordReader().read(["text": "alpha123 beta123"]).get()
        _ = try await store.storeBatch(
            [record],
            invalid: 0,
            handled: 1,
            ingestJobID: "i-\(id)",
            projectID: id,
            chunk: 0,
            processedAfter: 1,
            now: Date()
        )
        let stored = try await store.unembeddedChunks(projectID: id, limit: 1)
        try await store.saveEmbeddings(
            [(id: stored[0].id, vector: try await embedder.inner.embed([stored[0].text])[0])],
            projectID: id,
            model: embedder.model,
            dimensions: embedder.dimensions,
            now: Date()
        )
        return id
    }

    @Test(
        "query strings are form-decoded as requests, curl -G --data-urlencode and HTML forms send them",
        arguments: StoreKind.sql
    )
    func queryDecoding(kind: StoreKind) async throws {
        let embedder = RecordingEmbedder()
        try await withServer(kind, embedder: embedder) { server in
            let viewer = try await server.login(.viewer)
            let project = try await searchableProject(server, embedder)
            let cases: [(String, String)] = [
                ("alpha123+beta123", "alpha123 beta123"),  // requests, HTML forms, curl --data-urlencode
                ("alpha123%20beta123", "alpha123 beta123"),
                ("1%2B1", "1+1"),  // a real plus
                ("caf%C3%A9+%E2%98%95+na%CC%88ive", "café ☕ na\u{308}ive"),
            ]
            for (raw, decoded) in cases {
                let answer = try await server.request(
                    .get,
                    "/api/projects/\(project)/search?q=\(raw)&k=1",
                    cookie: viewer
                )
                #expect(answer.status == .ok, "\(raw): \(answer.text)")
                #expect(embedder.texts.withLock { $0.last } == decoded, "\(raw)")
            }
            for broken in ["%zz", "%C3", "a%00b"] {
                let answer = try await server.request(
                    .get,
                    "/api/projects/\(project)/search?q=\(broken)",
                    cookie: viewer
                )
                #expect(answer.status == .badRequest, "\(broken): \(answer.text)")
                #expect(answer.error?.isEmpty == false)
            }

            // The monitor's filters and find-by-id read the same way.
            let manager = try await server.login(.manager)
            let filtered = try await server.request(
                .get,
                "/api/admin/queue/stats?status=FAILED&jobType=INGEST%5FDATA",
                cookie: manager
            )
            #expect(filtered.status == .ok, "\(filtered.text)")
            let found = try await server.request(.get, "/admin/queue-monitor/find?id=+01abc+", cookie: manager)
            #expect(found.headers[.location] == "/admin/queue-monitor/jobs/01abc")
            let page = try await server.request(.get, "/login?next=%2Fadmin%2Fqueue-monitor%2Fjobs%2Fa%2Bb+c")
            #expect(page.text.contains(#"value="/admin/queue-monitor/jobs/a+b c""#), "\(page.text)")
        }
    }

    @Test("a NUL character in any text input is a clear 400, never a 500", arguments: StoreKind.sql)
    func nulInput(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let admin = try await server.login(.admin)
            let cases: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/api/projects", #"{"name": "nul\u0000name"}"#),
                (.post, "/api/projects", #"{"name\u0000": "x", "name": "ok"}"#),
                (.post, "/api/auth/login", #"{"email": "admin@example.com\u0000", "password": "x"}"#),
                (.post, "/api/admin/queue/retry?jobId=%00abc", nil),
                (.post, "/api/admin/queue/cancel?jobId=a%00", nil),
                (.get, "/api/admin/queue/stats?jobType=%00", nil),
                (.post, "/api/admin/queue/bulk", #"{"action": "retry", "jobType": "A\u0000"}"#),
                (.post, "/api/admin/tokens", #"{"name": "a\u0000", "role": "viewer"}"#),
            ]
            for (method, uri, body) in cases {
                let answer = try await server.request(method, uri, cookie: admin, body: body)
                #expect(answer.status == .badRequest, "\(uri) \(body ?? ""): \(answer.status) \(answer.text)")
                #expect(answer.error?.contains("NUL") == true, "\(uri): \(answer.text)")
            }
            // A path id that cannot exist is simply not found.
            let job = try await server.request(.get, "/api/admin/queue/jobs/%00", cookie: admin)
            #expect(job.status == .notFound)
            // The sign-in form reads NUL as a malformed email: refused like any wrong sign-in, and counted.
            for _ in 0..<5 {
                let form = try await server.request(
                    .post,
                    "/login",
                    headers: [.contentType: "application/x-www-form-urlencoded"],
                    body: "email=admin%40example.com%00&password=correct+horse+battery"
                )
                #expect(form.status == .unauthorized)
            }
            let sixth = try await server.request(
                .post,
                "/login",
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: "email=admin%40example.com%00&password=x"
            )
            #expect(sixth.status == .tooManyRequests)
        }
    }

    @Test("a password with NUL is refused when set; an empty password never signs in")
    func nulPasswords() async throws {
        try await withServer(.memory) { server in
            await #expect(throws: AccountError.self) {
                try await server.app.accounts.createUser(
                    email: "nul@example.com",
                    password: "abcdefgh\u{0}-rest",
                    role: .admin
                )
            }
            // An account made before the fix (bcrypt saw only what precedes the NUL) cannot be entered with it.
            let hash = try await PasswordHasher(cost: 4).hash("\u{0}\u{0}long passphrase")
            try await server.app.accounts.store.createUser(
                User(id: "old", email: "old@example.com", role: .admin, passwordHash: hash, createdAt: Date())
            )
            let empty = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "old@example.com", "password": ""}"#
            )
            #expect(empty.status == .unauthorized)
        }
    }

    @Test("16 concurrent guesses through the router: at most 5 are answered, the rest refused (M1)")
    func concurrentGuesses() async throws {
        try await withServer(.memory) { server in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for guess in 0..<16 {
                    group.addTask {
                        try await server.request(
                            .post,
                            "/api/auth/login",
                            body: #"{"email": "viewer@example.com", "password": "guess \#(guess)"}"#
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count { $0 == .unauthorized } <= 5, "\(statuses)")
            #expect(statuses.count { $0 == .tooManyRequests } >= 11, "\(statuses)")
            #expect(statuses.allSatisfy { [.unauthorized, .tooManyRequests].contains($0) })
        }
    }

    @Test("the throttle: pairs and accounts, never a whole address; bcrypt bounded per address; keys bounded")
    func throttleRules() async throws {
        let clock = ManualWallClock()
        let throttle = LoginThrottle(options: .init(freeFailures: 5, capacity: 1_000), clock: clock)
        func attempt(_ account: String, from address: String, succeeds: Bool = false) -> Bool {
            guard case .proceed(let started) = throttle.begin(account: account, address: address) else { return false }
            throttle.finish(started, succeeded: succeeds)
            return true
        }
        for _ in 0..<5 { #expect(attempt("admin@example.com", from: "10.0.0.1")) }
        #expect(!attempt("admin@example.com", from: "10.0.0.1"), "the pair waits")
        // Behind a proxy everyone shares the address: other accounts from it are not refused (M5)…
        #expect(attempt("viewer@example.com", from: "10.0.0.1", succeeds: true))
        // …and the same account from elsewhere still may try, until the account's own, larger limit.
        #expect(attempt("admin@example.com", from: "10.0.0.2", succeeds: true))
        for address in 0..<20 { _ = attempt("target@example.com", from: "10.1.0.\(address)") }
        #expect(!attempt("target@example.com", from: "10.2.0.1"), "20 failures from anywhere slow the account")
        clock.advance(by: .seconds(15 * 60))
        #expect(attempt("target@example.com", from: "10.2.0.1"), "failures are forgotten after 15 minutes")

        // At most two verifications at once from one address; another address is not held up.
        guard case .proceed(let first) = throttle.begin(account: "a@example.com", address: "10.9.9.9"),
            case .proceed(let second) = throttle.begin(account: "b@example.com", address: "10.9.9.9")
        else {
            Issue.record("the first two attempts should start")
            return
        }
        #expect(!attempt("c@example.com", from: "10.9.9.9"))
        #expect(attempt("c@example.com", from: "10.9.9.8"))
        throttle.finish(first, succeeded: false)
        throttle.finish(second, succeeded: false)
        #expect(attempt("c@example.com", from: "10.9.9.9"))

        // Attempts are counted when they start: five guesses in flight at once use up the pair's free failures,
        // so a sixth that starts before any of them has finished already waits (M1).
        let wide = LoginThrottle(
            options: .init(freeFailures: 5, attemptsInFlightPerAddress: 100, attemptsInFlight: 100),
            clock: clock
        )
        var inFlight: [LoginThrottle.Attempt] = []
        for _ in 0..<5 {
            guard case .proceed(let started) = wide.begin(account: "admin@example.com", address: "10.3.0.1") else {
                Issue.record("the first five attempts should start")
                return
            }
            inFlight.append(started)
        }
        guard case .wait = wide.begin(account: "admin@example.com", address: "10.3.0.1") else {
            Issue.record("a sixth concurrent guess passed the throttle")
            return
        }
        for started in inFlight { wide.finish(started, succeeded: false) }

        // Keys are digests (the same size for a 900 KiB email) and the table stays under its capacity (M4).
        let huge = String(repeating: "x", count: 900_000)
        for index in 0..<3_000 { _ = attempt("\(index)\(huge.prefix(index % 7 == 0 ? 900_000 : 10))", from: "1") }
        #expect(throttle.keyCount <= 1_000)
    }

    @Test("X-Forwarded-For names the client only when a trusted proxy sent it")
    func trustedProxies() async throws {
        let forwarded = HTTPField.Name("X-Forwarded-For")!
        @Sendable func failFive(_ server: Harness, from client: String) async throws {
            for _ in 0..<5 {
                let answer = try await server.request(
                    .post,
                    "/api/auth/login",
                    headers: [forwarded: "\(client), 10.0.0.9"],
                    body: #"{"email": "admin@example.com", "password": "wrong-wrong"}"#
                )
                #expect(answer.status == .unauthorized)
            }
        }
        let signIn = #"{"email": "admin@example.com", "password": "\#(Harness.password)"}"#
        var behindProxy = ServerConfiguration.testing()
        behindProxy.trustedProxies = ["127.0.0.1", "10.0.0.9"]
        try await withServer(.memory, configuration: behindProxy, setup: .live) { server in
            try await failFive(server, from: "203.0.113.7")
            let same = try await server.request(
                .post,
                "/api/auth/login",
                headers: [forwarded: "203.0.113.7"],
                body: signIn
            )
            #expect(same.status == .tooManyRequests, "that client's pair waits")
            let other = try await server.request(
                .post,
                "/api/auth/login",
                headers: [forwarded: "203.0.113.8"],
                body: signIn
            )
            #expect(other.status == .ok, "another client behind the same proxy signs in")
        }
        // From a peer that is not a trusted proxy the header is ignored: it cannot buy a fresh address.
        try await withServer(.memory, setup: .live) { server in
            try await failFive(server, from: "203.0.113.7")
            let forged = try await server.request(
                .post,
                "/api/auth/login",
                headers: [forwarded: "198.51.100.1"],
                body: signIn
            )
            #expect(forged.status == .tooManyRequests)
        }
    }

    @Test("values are HTML-escaped per Unicode scalar in every position (M2)", arguments: StoreKind.sql)
    func scalarEscaping(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            // Reflected, to anyone signed out: the sign-in page's next.
            let quote = try await server.request(
                .get,
                "/login?next=%2F%22%CC%81%20autofocus%20onfocus%3Dalert%281%29%20x%3D%22"
            )
            #expect(
                quote.text.contains("value=\"/&quot;\u{301} autofocus onfocus=alert(1) x=&quot;\""),
                "\(quote.text)"
            )
            let prepend = try await server.request(
                .get,
                "/login?next=%2F%D8%80%22%20%D8%80%3E%D8%80%3Cmeta%20http-equiv%3Drefresh%20content%3D0%3Burl%3Dhttps%3A%2F%2Fevil.example%2F%20%D8%80%3E"
            )
            #expect(!prepend.text.contains("<meta http-equiv"), "\(prepend.text)")
            #expect(prepend.text.contains("\u{600}&lt;meta http-equiv=refresh"))
            // Reflected to a signed-in manager: the monitor's error page.
            let manager = try await server.login(.manager)
            let errorPage = try await server.request(
                .get,
                "/admin/queue-monitor?jobType=%D8%80%3Cform%20method%3Dpost%3E%D8%80%22",
                cookie: manager
            )
            #expect(errorPage.status == .badRequest)
            #expect(!errorPage.text.contains("<form method=post>"), "\(errorPage.text)")
            #expect(errorPage.text.contains("\u{600}&lt;form method=post&gt;\u{600}&quot;"))
            // Stored: a record ingested as data, shown on the job page, in its error and its progress message.
            let admin = try await server.login(.admin)
            let hostile = "\u{600}<b id=stored>x\u{600}</b>\"\u{301}"
            let id = try await server.app.queue.enqueue(NewJob(jobType: "CUSTOM", payload: ["text": .string(hostile)]))
                .id
            let claimed = try #require(try await server.app.queue.claimJob(["CUSTOM"]))
            try await server.app.queue.updateProgress(claimed.lease, current: 1, total: 2, message: hostile)
            try await server.app.queue.failJob(claimed.lease, error: hostile)
            let quoteAndMark = "\"\u{301}"
            for path in ["/admin/queue-monitor/jobs/\(id)", "/admin/queue-monitor/live", "/admin/queue-monitor"] {
                let page = try await server.request(.get, path, cookie: admin)
                #expect(page.status == .ok)
                #expect(!page.text.contains("<b id=stored>"), "\(path)")
                #expect(!page.text.contains(quoteAndMark), "\(path)")
            }
        }
    }

    @Test("every template selects scalar escaping; the escaper escapes what browsers read as markup")
    func everyTemplateEscapesScalars() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SluiceServer/Resources").path
        let templates = try #require(
            try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/templates").filter {
                $0.hasSuffix(".mustache")
            }
        )
        #expect(templates.count >= 7)
        for name in templates {
            let text = try String(contentsOfFile: "\(folder)/templates/\(name)", encoding: .utf8)
            #expect(text.hasPrefix("{{% CONTENT_TYPE: HTML_SCALARS }}\n"), "\(name)")
            #expect(!text.contains("{{{") && !text.contains("{{&"), "\(name) renders a value unescaped")
        }
        let cases: [(String, String)] = [
            ("\"\u{301}", "&quot;\u{301}"), ("\u{600}<", "\u{600}&lt;"), ("\u{600}>", "\u{600}&gt;"),
            ("a'b&c", "a&#39;b&amp;c"), ("plain ☕", "plain ☕"), ("e\u{301}<\u{20DD}", "e\u{301}&lt;\u{20DD}"),
        ]
        for (raw, escaped) in cases { #expect(ScalarHTMLEscaping.escape(raw) == escaped) }
    }

    @Test("API bodies must be sent as application/json; every JSON answer says nosniff", arguments: StoreKind.sql)
    func jsonContentType(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let admin = try await server.login(.admin)
            let id = try await server.app.queue.enqueue(NewJob(jobType: .ingestData)).id
            // What an injected `<form enctype=text/plain>` would post (review C14).
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let bulk = try await server.request(
                    .post,
                    "/api/admin/queue/bulk",
                    cookie: admin,
                    headers: [.contentType: type],
                    body: #"{"action": "cancel", "x": "="}"#
                )
                #expect(bulk.status == .unsupportedMediaType, "\(type)")
                #expect(bulk.error?.contains("application/json") == true)
            }
            #expect(try await server.app.queue.getJob(id).status == .pending)
            let charset = try await server.request(
                .post,
                "/api/admin/queue/bulk",
                cookie: admin,
                headers: [.contentType: "Application/JSON; charset=utf-8"],
                body: #"{"action": "cancel"}"#
            )
            #expect(charset.status == .ok)
            for path in ["/api/admin/queue/stats", "/api/nothing-here", "/health"] {
                let answer = try await server.request(.get, path, cookie: admin)
                #expect(answer.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
            }
        }
    }

    @Test("the JSON body limit is the configured one (SLUICE_MAX_BODY_BYTES)")
    func bodyLimit() async throws {
        var configuration = ServerConfiguration.testing()
        configuration.maxBodyBytes = 128
        try await withServer(.memory, configuration: configuration) { server in
            let manager = try await server.login(.manager)
            let small = try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "ok"}"#)
            #expect(small.status == .created)
            let large = try await server.request(
                .post,
                "/api/projects",
                cookie: manager,
                body: #"{"name": "\#(String(repeating: "x", count: 150))"}"#
            )
            #expect(large.status == .contentTooLarge)
            #expect(large.error == "request body is larger than 128 bytes")
        }
    }

    @Test("the same-origin check compares scheme, host and port, and accepts only same-origin fetches (L7)")
    func schemefulOrigin() async throws {
        let site = HTTPField.Name("Sec-Fetch-Site")!
        func allowed(
            _ check: SameOriginMiddleware,
            authority: String = "localhost:3000",
            _ headers: HTTPFields
        ) -> Bool {
            let head = HTTPRequest(
                method: .post,
                scheme: "http",
                authority: authority,
                path: "/api/x",
                headerFields: headers
            )
            return check.isAllowed(Request(head: head, body: RequestBody(buffer: ByteBuffer())))
        }
        let development = SameOriginMiddleware(publicOrigin: nil, scheme: "http")
        let refused: [HTTPFields] = [
            [.origin: "https://localhost:3000"],  // differs by scheme only
            [.origin: "http://localhost:3001"],
            [.origin: "http://localhost"],
            [.origin: "http://localhost:3000", site: "same-site"],  // a sibling port or subdomain
            [site: "cross-site"],
            [site: "same-site"],
            [.origin: "http://localhost:3000@evil.example"],
            [.origin: "null"],
            [.origin: "http://localhost:3000/path"],
        ]
        for headers in refused { #expect(!allowed(development, headers), "\(headers)") }
        let accepted: [HTTPFields] = [
            [:], [.origin: "http://localhost:3000"], [.origin: "HTTP://LOCALHOST:3000", site: "same-origin"],
            [site: "none"], [.origin: "https://evil.example", .authorization: "Bearer sluice_token"],
        ]
        for headers in accepted { #expect(allowed(development, headers), "\(headers)") }
        // IPv6 literals (review I3), default ports.
        #expect(allowed(development, authority: "[::1]:3000", [.origin: "http://[::1]:3000"]))
        #expect(!allowed(development, authority: "[::1]:3000", [.origin: "http://[::2]:3000"]))
        #expect(allowed(development, authority: "localhost:80", [.origin: "http://localhost"]))
        // Production is served over TLS (through a proxy): browsers' origin is https.
        let production = SameOriginMiddleware(publicOrigin: nil, scheme: "https")
        #expect(allowed(production, authority: "sluice.example.com", [.origin: "https://sluice.example.com"]))
        #expect(!allowed(production, authority: "sluice.example.com", [.origin: "http://sluice.example.com"]))
        // With a public URL, a browser's request must also address it: a DNS-rebinding page's Origin and Host agree
        // with each other, not with the public name (review I2). Clients that send no Origin (curl on the box) pass.
        let configured = SameOriginMiddleware(publicOrigin: "https://sluice.example.com", scheme: "https")
        #expect(allowed(configured, authority: "sluice.example.com:443", [.origin: "https://sluice.example.com"]))
        #expect(!allowed(configured, authority: "evil.example:3000", [.origin: "http://evil.example:3000"]))
        #expect(!allowed(configured, authority: "sluice.example.com", [.origin: "https://other.example.com"]))
        #expect(allowed(configured, authority: "127.0.0.1:3000", [:]))

        // Through the router: the middleware is in place.
        try await withServer(.memory) { server in
            let admin = try await server.login(.admin)
            let scheme = try await server.request(
                .post,
                "/api/auth/logout",
                cookie: admin,
                headers: [.origin: "https://localhost"]
            )
            #expect(scheme.status == .forbidden)
            let sameSite = try await server.request(
                .post,
                "/api/auth/logout",
                cookie: admin,
                headers: [.origin: "http://localhost", site: "same-site"]
            )
            #expect(sameSite.status == .forbidden)
            #expect(try await server.request(.get, "/api/auth/me", cookie: admin).status == .ok)
        }
    }

    @Test("a provider's error words reach managers, not viewers (L8)")
    func providerErrorsForViewers() async throws {
        let embedder = RecordingEmbedder()
        try await withServer(.memory, embedder: embedder) { server in
            let project = try await searchableProject(server, embedder)
            let viewer = try await server.request(
                .get,
                "/api/projects/\(project)/search?q=fail-me",
                cookie: try await server.login(.viewer)
            )
            #expect(viewer.status == .badGateway)
            #expect(viewer.error == "the embedding provider failed (the server log has the details)")
            let manager = try await server.request(
                .get,
                "/api/projects/\(project)/search?q=fail-me",
                cookie: try await server.login(.manager)
            )
            #expect(manager.status == .badGateway)
            #expect(manager.error?.contains("gpu-7.corp.internal") == true)
        }
    }

    @Test("searches are limited per user and per token; each embeds its query with the provider (I8)")
    func searchRateLimit() async throws {
        let embedder = RecordingEmbedder()
        var configuration = ServerConfiguration.testing()
        configuration.searchesPerMinute = 3
        try await withServer(.memory, configuration: configuration, embedder: embedder) { server in
            let project = try await searchableProject(server, embedder)
            let viewer = try await server.login(.viewer)
            let uri = "/api/projects/\(project)/search?q=alpha"
            for _ in 0..<3 { #expect(try await server.request(.get, uri, cookie: viewer).status == .ok) }
            let limited = try await server.request(.get, uri, cookie: viewer)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "60")
            let calls = embedder.texts.withLock { $0.count }
            #expect(calls == 3, "a refused search costs the provider nothing")
            // Another user has a budget of their own.
            #expect(try await server.request(.get, uri, cookie: try await server.login(.manager)).status == .ok)
            server.clock.advance(by: .seconds(60))
            #expect(try await server.request(.get, uri, cookie: viewer).status == .ok)
        }
    }

    @Test("without CRON_SECRET in development, worker endpoints still refuse other sites' pages (I1)")
    func workerEndpointsAcrossSites() async throws {
        try await withServer(.memory) { server in
            let site = HTTPField.Name("Sec-Fetch-Site")!
            let image = try await server.request(.get, "/api/workers/cleanup", headers: [site: "cross-site"])
            #expect(image.status == .forbidden)
            #expect(
                try await server.request(.get, "/api/workers/cleanup", headers: [site: "same-site"]).status
                    == .forbidden
            )
            #expect(try await server.request(.get, "/api/workers/cleanup").status == .ok, "curl and cron still may")
        }
    }

    @Test("idle connections and connections that never finish their headers are closed (L5)")
    func idleTimeout() async throws {
        try await withServerStore(.sqlite) { stores in
            var configuration = ServerConfiguration.testing()
            configuration.idleTimeout = .seconds(1)
            let app = SluiceApp(
                configuration: configuration,
                queueStore: stores.queue,
                accountStore: stores.accounts,
                pipelineStore: stores.pipeline,
                handlers: JobHandlerRegistry(),
                logger: quietLogger
            )
            try await app.makeApplication().test(.live) { client in
                let port = try #require(client.port)
                for opening in ["GET /health HTTP/1.1\r\nHost: localhost\r\n", ""] {
                    let started = ContinuousClock.now
                    let closed = try RawSocket.closedByPeer(port: port, sending: opening, within: .seconds(10))
                    #expect(closed, "still open after 10 s: \(opening.debugDescription)")
                    #expect(ContinuousClock.now - started < .seconds(8))
                }
            }
        }
    }
}

/// A plain TCP connection to a local port, for requests no HTTP client would send.
enum RawSocket {
    /// Connects, sends `text`, and waits for the server to close the connection: true when it did within `limit`.
    static func closedByPeer(port: Int, sending text: String, within limit: Duration) throws -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSetupError("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestSetupError("connect() failed") }
        if !text.isEmpty { _ = text.withCString { send(descriptor, $0, strlen($0), 0) } }
        var timeout = timeval(tv_sec: Int(limit.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return true }  // closed by the server
            if count < 0 { return errno == ECONNRESET }  // timed out (EAGAIN), or reset
        }
    }
}

/// Uploads are bounded: the memory one takes (review L6) and how many are read at once.
@Suite("Upload limits", .timeLimit(.minutes(5)))
struct UploadLimitTests {
    @Test("past the concurrent upload limit the answer is 503 with Retry-After, before the body is read")
    func concurrentUploads() async throws {
        var configuration = ServerConfiguration.testing()
        configuration.maxConcurrentUploads = 1
        try await withServer(.memory, configuration: configuration, setup: .live) { server in
            let port = try #require(server.client.port)
            let manager = try await server.login(.manager)
            let created = try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "p"}"#)
            let project = try #require(created.json?["project"]?["id"]?.stringValue)
            let url = "http://127.0.0.1:\(port)/api/projects/\(project)/ingest"
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            // The first upload's body arrives slowly: the server is reading it while the second one comes.
            let (chunks, feed) = AsyncStream<ByteBuffer>.makeStream()
            var slow = HTTPClientRequest(url: url)
            slow.method = .POST
            slow.headers.add(name: "Cookie", value: manager)
            slow.headers.add(name: "Content-Type", value: "application/json")
            slow.body = .stream(chunks, length: .unknown)
            async let first = client.execute(slow, timeout: .seconds(30))
            feed.yield(ByteBuffer(string: #"{"records": [{"text": "a"},"#))
            // Wait until the server holds the first upload's place.
            let deadline = ContinuousClock.now + .seconds(10)
            while server.app.uploadsInFlight == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let second = try await server.request(
                .post,
                "/api/projects/\(project)/ingest",
                cookie: manager,
                body: #"{"records": [{"text": "b"}]}"#
            )
            #expect(second.status == .serviceUnavailable, "\(second.text)")
            #expect(second.headers[.retryAfter] == "5")
            feed.yield(ByteBuffer(string: #"{"text": "c"}]}"#))
            feed.finish()
            let answer = try await first
            #expect(answer.status == .accepted)
            // Once it is done, the next upload goes through.
            let third = try await server.request(
                .post,
                "/api/projects/\(project)/ingest",
                cookie: manager,
                body: #"{"records": [{"text": "d"}]}"#
            )
            #expect(third.status == .accepted, "\(third.text)")
        }
    }
}
