import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

@Suite("OpenAPI document and live server", .timeLimit(.minutes(5)))
struct OpenAPITests {
    @Test("every route is documented, and every answer the server gives matches the document", arguments: StoreKind.sql)
    func responsesMatchTheDocument(kind: StoreKind) async throws {
        var handlers = JobHandlerRegistry()
        handlers.register(.ingestData) { _ in ["savedCount": 3, "nested": ["ok": true]] }
        try await withServer(kind, configuration: .testing(cronSecret: "cron"), handlers: handlers) { server in
            let document = try await server.request(.get, "/openapi.json")
            let checker = try OpenAPIChecker(document.text)
            #expect(document.json?["openapi"] == "3.1.0")
            let table = server.app.routeTable
            let routed = Set(table.api.map { "\($0.method.rawValue) \($0.path)" })
            #expect(routed.count >= 26, "\(routed)")
            #expect(checker.documentedRoutes == routed)

            // Exercise every route and as many of its answers as the tests can provoke.
            let queue = server.app.queue
            let cookies = try await server.cookies()
            let cron: HTTPFields = [.authorization: "Bearer cron"]
            _ = try await queue.enqueue(
                contentsOf: (0..<3).map { _ in NewJob(jobType: .ingestData, payload: ["a": 1]) }
            )
            let failed = try await queue.enqueue(NewJob(jobType: .vectorize, payload: [:], maxAttempts: 1)).id
            let claimed = try #require(try await queue.claimJob([.vectorize]))
            try await queue.failJob(claimed.lease, error: "provider down")
            let processing = try await queue.enqueue(NewJob(jobType: "CUSTOM", payload: [:])).id
            let lease = try #require(try await queue.claimJob(["CUSTOM"]))
            try await queue.updateProgress(lease.lease, current: 2, total: 9, message: "m")
            try await server.request(.get, "/health")
            try await server.request(.get, "/metrics")
            try await server.request(.post, "/api/auth/login", body: #"{"email": "x@y.zz", "password": "wrong-one"}"#)
            try await server.request(.post, "/api/auth/login", body: "{")
            try await server.request(
                .post,
                "/api/auth/login",
                headers: [.origin: "https://elsewhere.example"],
                body: "{}"
            )
            for (_, cookie) in cookies {
                try await server.request(.get, "/api/auth/me", cookie: cookie)
                try await server.request(.get, "/api/admin/queue/stats", cookie: cookie)
                try await server.request(.get, "/api/admin/queue/jobs/\(failed)", cookie: cookie)
                try await server.request(.post, "/api/admin/queue/retry?jobId=nope", cookie: cookie)
            }
            let admin = try #require(cookies.last?.1)
            try await server.request(.get, "/api/admin/queue/stats?limit=2&status=FAILED", cookie: admin)
            try await server.request(.get, "/api/admin/queue/stats?limit=x", cookie: admin)
            try await server.request(.get, "/api/admin/queue/jobs/\(processing)", cookie: admin)
            try await server.request(.post, "/api/admin/queue/retry", cookie: admin)
            try await server.request(.post, "/api/admin/queue/retry?jobId=\(failed)", cookie: admin)
            try await server.request(.post, "/api/admin/queue/cancel?jobId=\(processing)", cookie: admin)
            try await server.request(.post, "/api/admin/queue/cancel?jobId=\(processing)", cookie: admin)
            try await server.request(.delete, "/api/admin/queue/cancel", cookie: admin)
            try await server.request(.get, "/api/admin/queue/throughput", cookie: admin)
            try await server.request(.get, "/api/admin/queue/throughput?minutes=0", cookie: admin)
            try await server.request(.get, "/api/admin/queue/throughput", cookie: cookies[1].1)
            try await server.request(.get, "/api/admin/queue/bulk?action=retry", cookie: admin)
            try await server.request(.get, "/api/admin/queue/bulk?action=retry")
            try await server.request(.get, "/api/admin/queue/bulk?action=x", cookie: admin)
            try await server.request(.get, "/api/admin/queue/bulk?action=retry", cookie: cookies[2].1)
            try await server.request(.post, "/api/admin/queue/bulk", cookie: admin, body: #"{"action": "retry"}"#)
            try await server.request(.post, "/api/admin/queue/bulk", cookie: admin, body: #"{"action": 1}"#)
            try await server.request(
                .post,
                "/api/admin/queue/bulk",
                cookie: cookies[2].1,
                body: #"{"action": "cancel"}"#
            )
            try await server.request(.get, "/api/workers/ingestion", headers: cron)
            try await server.request(.get, "/api/workers/ingestion")
            try await server.request(.get, "/api/workers/vectorization", headers: cron)
            try await server.request(.get, "/api/workers/cleanup", headers: cron)
            let project = try await server.request(.post, "/api/projects", cookie: admin, body: #"{"name": "p"}"#)
            let projectID = project.json?["project"]?["id"]?.stringValue ?? "?"
            try await server.request(.post, "/api/projects", cookie: admin, body: #"{"name": "p"}"#)
            try await server.request(.get, "/api/projects", cookie: admin)
            try await server.request(.get, "/api/projects/\(projectID)", cookie: admin)
            try await server.request(.get, "/api/projects/nope", cookie: admin)
            let upload = try await server.request(
                .post,
                "/api/projects/\(projectID)/ingest",
                cookie: admin,
                body: #"{"records": [{"text": "a"}]}"#
            )
            try await server.request(
                .post,
                "/api/projects/\(projectID)/ingest",
                cookie: admin,
                headers: [.contentType: "text/plain"],
                body: "x"
            )
            try await server.request(
                .get,
                "/api/ingest-jobs/\(upload.json?["ingestJobId"]?.stringValue ?? "?")",
                cookie: admin
            )
            try await server.request(.get, "/api/ingest-jobs/nope", cookie: admin)
            try await server.request(.get, "/api/projects/\(projectID)/search?q=a", cookie: admin)
            try await server.request(.get, "/api/projects/\(projectID)/search", cookie: admin)
            try await server.request(.get, "/api/projects/nope/search?q=a", cookie: admin)
            try await server.request(
                .post,
                "/api/projects/\(projectID)/search",
                cookie: admin,
                body: #"{"query": "a", "k": 3, "filter": {"year": {"$gte": 2020}}}"#
            )
            try await server.request(
                .post,
                "/api/projects/\(projectID)/search",
                cookie: admin,
                body: #"{"query": "a", "filter": {"year": {"$gtx": 1}}}"#
            )
            try await server.request(
                .post,
                "/api/projects/\(projectID)/ingest?dryRun=true",
                cookie: admin,
                body: #"{"records": [{"id": "x", "text": "x"}], "sync": true}"#
            )
            try await server.request(.delete, "/api/projects/\(projectID)/records/nope", cookie: admin)
            try await server.request(.delete, "/api/projects/\(projectID)/records/nope", cookie: cookies[1].1)
            try await server.request(
                .post,
                "/api/projects/\(projectID)/delete-records",
                cookie: admin,
                body: #"{"ids": ["a", "b"]}"#
            )
            try await server.request(.post, "/api/projects/\(projectID)/delete-records", cookie: admin, body: "{}")
            try await server.request(
                .post,
                "/api/projects/nope/delete-records",
                cookie: admin,
                body: #"{"ids": ["a"]}"#
            )
            try await server.request(.post, "/api/projects/\(projectID)/reembed", cookie: admin)
            try await server.request(.get, "/api/admin/queue/stats", cookie: admin)  // now with results
            let made = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin,
                body: #"{"name": "etl", "role": "manager"}"#
            )
            try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin,
                body: #"{"name": "etl", "role": "manager"}"#
            )
            try await server.request(.post, "/api/admin/tokens", cookie: admin, body: #"{"name": "x"}"#)
            try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin,
                headers: [.contentType: "text/plain"],
                body: #"{"name": "form", "role": "admin"}"#
            )
            try await server.request(.get, "/api/admin/tokens", cookie: admin)
            try await server.request(.get, "/api/admin/tokens", cookie: cookies[1].1)
            let token = made.json?["token"]?.stringValue ?? "?"
            try await server.request(.get, "/api/admin/queue/stats", headers: [.authorization: "Bearer \(token)"])
            try await server.request(.delete, "/api/admin/tokens/etl", cookie: admin)
            try await server.request(.delete, "/api/admin/tokens/etl", cookie: admin)
            try await server.request(.get, "/api/admin/queue/stats", headers: [.authorization: "Bearer \(token)"])
            try await server.request(.post, "/api/auth/logout", cookie: admin)

            let exchanges = server.recorded.exchanges.withLock { $0 }
            #expect(exchanges.count > 30)
            var covered: Set<String> = []
            for exchange in exchanges {
                let problems = checker.problems(exchange, routes: table)
                #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
                if let template = table.template(forPath: exchange.path) {
                    covered.insert("\(exchange.method.rawValue) \(template)")
                }
            }
            #expect(routed.isSubset(of: covered), "not exercised: \(routed.subtracting(covered).sorted())")
        }
    }

    @Test("a live server: health, sign-in with a cookie over real HTTP, stats")
    func liveServer() async throws {
        try await withServer(.memory, setup: .live) { server in
            let health = try await server.request(.get, "/health")
            #expect(health.json == ["status": "ok", "database": "ok"])
            let cookie = try await server.login(.manager)
            let stats = try await server.request(.get, "/api/admin/queue/stats", cookie: cookie)
            #expect(stats.status == .ok)
            #expect(stats.json?["queueStats"]?["pending"] == 0)
            let missing = try await server.request(.get, "/nothing")
            #expect(missing.status == .notFound)
            #expect(missing.error?.isEmpty == false)
        }
    }

    @Test("health answers 503 when the schema is behind")
    func healthWithOldSchema() async throws {
        let path = TestDatabases.sqlitePath()
        defer {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        try await withStores(try StoreSettings(url: "sqlite:\(path)")) { stores in
            // Not migrated.
            let app = SluiceApp(
                configuration: .testing(),
                queueStore: stores.queue,
                accountStore: stores.accounts,
                pipelineStore: stores.pipeline,
                handlers: JobHandlerRegistry(),
                logger: quietLogger
            )
            let application = Application(router: app.makeRouter(), logger: quietLogger)
            try await application.test(.router) { client in
                let response = try await client.execute(uri: "/health", method: .get)
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("sluice migrate"))
            }
        }
    }
}
