import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceServer
import SluiceWorkers
import Testing

/// The queue monitor's pages through the router: who sees what, the sign-in form, escaping, and the endpoints
/// the page calls. The same pages run in Chromium in Tests/Browser.
@Suite("Queue monitor pages", .timeLimit(.minutes(5)))
struct MonitorPageTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test("signed out goes to the sign-in page and back; a viewer has no access; only an admin gets buttons")
    func accessAndSignIn() async throws {
        try await withServer(.memory) { server in
            let failed = try await server.app.queue.enqueue(NewJob(jobType: .vectorize, maxAttempts: 1)).id
            let claimed = try #require(try await server.app.queue.claimJob([.vectorize]))
            _ = try await server.app.queue.failJob(claimed.lease, error: "provider down")

            let anonymous = try await server.request(.get, "/admin/queue-monitor?status=FAILED")
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location] == "/login?next=/admin/queue-monitor%3Fstatus%3DFAILED")
            let loginPage = try await server.request(.get, "/login?next=/admin/queue-monitor%3Fstatus%3DFAILED")
            #expect(loginPage.status == .ok)
            #expect(loginPage.headers[.contentType] == "text/html; charset=utf-8")
            #expect(loginPage.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(loginPage.text.contains(#"name="next" value="/admin/queue-monitor?status=FAILED""#))

            let email = Harness.email(.admin).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let next = "%2Fadmin%2Fqueue-monitor%3Fstatus%3DFAILED"
            let wrong = try await server.request(
                .post,
                "/login",
                headers: Self.form,
                body: "email=\(email)&password=nope&next=\(next)"
            )
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("invalid email or password"))
            #expect(wrong.text.contains(#"value="/admin/queue-monitor?status=FAILED""#))  // still knows where to go
            #expect(wrong.headers[.setCookie] == nil)

            let password = "correct+horse+battery"  // form encoding: + is a space
            let signedIn = try await server.request(
                .post,
                "/login",
                headers: Self.form,
                body: "email=\(email)&password=\(password)&next=\(next)"
            )
            #expect(signedIn.status == .seeOther)
            #expect(signedIn.headers[.location] == "/admin/queue-monitor?status=FAILED")
            let setCookie = try #require(signedIn.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax"))
            let admin = String(setCookie.split(separator: ";")[0])

            // Never off to another site after signing in.
            for target in ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"] {
                let encoded = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                let away = try await server.request(
                    .post,
                    "/login",
                    headers: Self.form,
                    body: "email=\(email)&password=\(password)&next=\(encoded)"
                )
                #expect(away.headers[.location] == "/admin/queue-monitor", "next=\(target)")
            }
            let crossSite = try await server.request(
                .post,
                "/login",
                headers: [.contentType: "application/x-www-form-urlencoded", .origin: "https://evil.example"],
                body: "email=\(email)&password=\(password)"
            )
            #expect(crossSite.status == .forbidden)

            let viewer = try await server.request(.get, "/admin/queue-monitor", cookie: try await server.login(.viewer))
            #expect(viewer.status == .forbidden)
            #expect(viewer.text.contains("No access") && viewer.text.contains("VIEWER"))
            #expect(!viewer.text.contains("data-action") && !viewer.text.contains("provider down"))

            let manager = try await server.request(
                .get,
                "/admin/queue-monitor",
                cookie: try await server.login(.manager)
            )
            #expect(manager.status == .ok)
            #expect(manager.text.contains(#"data-job-id="\#(failed)""#))
            #expect(!manager.text.contains("data-action") && !manager.text.contains(#"id="bulk""#))

            let page = try await server.request(.get, "/admin/queue-monitor", cookie: admin)
            #expect(page.text.contains(#"data-action="retry" data-job-id="\#(failed)""#))
            #expect(page.text.contains(#"id="bulk""#))
            #expect(page.text.contains("provider down"))

            let logout = try await server.request(.post, "/logout", cookie: admin)
            #expect(logout.status == .seeOther && logout.headers[.location] == "/login")
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await server.request(.get, "/admin/queue-monitor", cookie: admin).status == .seeOther)
        }
    }

    @Test(
        "every value from a job is escaped, on the page, the live fragment and the detail page",
        arguments: StoreKind.sql
    )
    func escaping(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            let hostile = "<script>alert(1)</script>"
            let failed = try await queue.enqueue(
                NewJob(jobType: .vectorize, payload: ["note": .string(hostile)], maxAttempts: 1)
            ).id
            let lease = try #require(try await queue.claimJob([.vectorize])).lease
            _ = try await queue.failJob(lease, error: hostile)
            _ = try await queue.enqueue(NewJob(jobType: .ingestData))
            let running = try #require(try await queue.claimJob([.ingestData]))
            try await queue.updateProgress(running.lease, current: 1, total: 4, message: "<b>bold</b> & \"quoted\"")
            _ = try await queue.enqueue(NewJob(jobType: "CUSTOM"))
            try await queue.completeJob(
                try #require(try await queue.claimJob(["CUSTOM"])).lease,
                result: ["html": "<img src=x onerror=alert(2)>"]
            )

            let admin = try await server.login(.admin)
            for path in ["/admin/queue-monitor", "/admin/queue-monitor/live", "/admin/queue-monitor/jobs/\(failed)"] {
                let page = try await server.request(.get, path, cookie: admin)
                #expect(page.status == .ok, "\(path)")
                #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path)")
                #expect(!page.text.contains("<script>alert"), "\(path)")
                #expect(!page.text.contains("<img src=x"), "\(path)")
            }
            let live = try await server.request(.get, "/admin/queue-monitor/live", cookie: admin)
            #expect(live.text.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"))
            #expect(live.text.contains(#"<progress max="4" value="1">25%</progress>"#))
            #expect(live.text.contains("&lt;img src=x onerror=alert(2)&gt;"))

            let detail = try await server.request(.get, "/admin/queue-monitor/jobs/\(failed)", cookie: admin)
            #expect(detail.text.contains(#"id="job-payload">{"#))  // the payload, pretty-printed
            #expect(detail.text.contains("&quot;note&quot;: &quot;&lt;script&gt;"))
            #expect(detail.text.contains("attempt 1"))
            let missing = try await server.request(.get, "/admin/queue-monitor/jobs/nope", cookie: admin)
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType] == "text/html; charset=utf-8")
            #expect(missing.text.contains("nope"))
            let find = try await server.request(.get, "/admin/queue-monitor/find?id=\(failed)", cookie: admin)
            #expect(find.status == .seeOther && find.headers[.location] == "/admin/queue-monitor/jobs/\(failed)")
            let filtered = try await server.request(
                .get,
                "/admin/queue-monitor/live?status=PROCESSING&jobType=INGEST_DATA",
                cookie: admin
            )
            #expect(filtered.text.contains(#"data-job-id="\#(running.job.id)""#))
            #expect(!filtered.text.contains(#"data-job-id="\#(failed)""#))
            let bad = try await server.request(.get, "/admin/queue-monitor?status=DONE", cookie: admin)
            #expect(bad.status == .badRequest && bad.text.contains("status must be one of"))
            let anonymousLive = try await server.request(.get, "/admin/queue-monitor/live")
            #expect(anonymousLive.status == .unauthorized)
        }
    }

    @Test("the oldest pending job's age is flagged when workers fall behind")
    func oldestPendingHighlight() async throws {
        try await withServer(.memory) { server in
            let admin = try await server.login(.admin)
            var live = try await server.request(.get, "/admin/queue-monitor/live", cookie: admin)
            #expect(live.text.contains(#"id="oldest-age">none<"#))
            _ = try await server.app.queue.enqueue(NewJob(jobType: .ingestData))
            server.clock.advance(by: .seconds(90))
            live = try await server.request(.get, "/admin/queue-monitor/live", cookie: admin)
            #expect(live.text.contains(#"class="card oldest ok""#) && live.text.contains(">1 min<"))
            server.clock.advance(by: .seconds(600))
            live = try await server.request(.get, "/admin/queue-monitor/live", cookie: admin)
            #expect(live.text.contains(#"class="card oldest warn""#) && live.text.contains("workers behind"))
            server.clock.advance(by: .seconds(3_600))
            live = try await server.request(.get, "/admin/queue-monitor/live", cookie: admin)
            #expect(live.text.contains(#"class="card oldest alert""#) && live.text.contains(">1 h<"))
        }
    }

    @Test("throughput and bulk endpoints: shapes, roles, the cap, bad input", arguments: StoreKind.sql)
    func throughputAndBulk(kind: StoreKind) async throws {
        var configuration = ServerConfiguration.testing()
        configuration.bulkActionLimit = 2
        try await withServer(kind, configuration: configuration) { server in
            let queue = server.app.queue
            for _ in 0..<3 {
                _ = try await queue.enqueue(NewJob(jobType: .vectorize, maxAttempts: 1))
                _ = try await queue.failJob(try #require(try await queue.claimJob([.vectorize])).lease, error: "x")
            }
            _ = try await queue.enqueue(NewJob(jobType: .ingestData))
            try await queue.completeJob(try #require(try await queue.claimJob([.ingestData])).lease)
            let (admin, manager, viewer) = (
                try await server.login(.admin), try await server.login(.manager), try await server.login(.viewer)
            )

            let throughput = try await server.request(.get, "/api/admin/queue/throughput", cookie: manager)
            #expect(throughput.status == .ok)
            guard case .array(let minutes)? = throughput.json?["minutes"] else {
                Issue.record("no minutes: \(throughput.text)")
                return
            }
            #expect(minutes.count == 60)
            #expect(minutes.last?["completed"] == 1 && minutes.last?["failed"] == 3)
            #expect(throughput.json?["completed"] == 1 && throughput.json?["failed"] == 3)
            let short = try await server.request(.get, "/api/admin/queue/throughput?minutes=5", cookie: manager)
            #expect(short.json?["minutes"].map { if case .array(let five) = $0 { five.count } else { -1 } } == 5)
            for bad in ["0", "1441", "x"] {
                let refused = try await server.request(
                    .get,
                    "/api/admin/queue/throughput?minutes=\(bad)",
                    cookie: manager
                )
                #expect(refused.status == .badRequest && refused.error?.contains("minutes") == true)
            }
            #expect(try await server.request(.get, "/api/admin/queue/throughput", cookie: viewer).status == .forbidden)

            let preview = try await server.request(
                .get,
                "/api/admin/queue/bulk?action=retry&jobType=VECTORIZE",
                cookie: admin
            )
            #expect(preview.json == ["action": "retry", "matching": 3, "limit": 2])
            let none = try await server.request(
                .get,
                "/api/admin/queue/bulk?action=cancel&status=PENDING",
                cookie: admin
            )
            #expect(none.json?["matching"] == 0)
            #expect(
                try await server.request(.get, "/api/admin/queue/bulk?action=retry", cookie: manager).status
                    == .forbidden
            )
            let run = try await server.request(
                .post,
                "/api/admin/queue/bulk",
                cookie: admin,
                body: #"{"action": "retry", "jobType": "VECTORIZE"}"#
            )
            #expect(run.status == .ok)
            #expect(run.json?["changed"] == 2 && run.json?["remaining"] == 1 && run.json?["skipped"] == 0)
            #expect(try await queue.getQueueStats().pending == 2)
            let forbidden = try await server.request(
                .post,
                "/api/admin/queue/bulk",
                cookie: manager,
                body: #"{"action": "cancel"}"#
            )
            #expect(forbidden.status == .forbidden)
            #expect(try await queue.getQueueStats().pending == 2)
            for body in [#"{"action": "delete"}"#, #"{}"#, #"{"action": "cancel", "status": 3}"#, "[1]"] {
                let refused = try await server.request(.post, "/api/admin/queue/bulk", cookie: admin, body: body)
                #expect(refused.status == .badRequest, "\(body)")
                #expect(refused.error?.isEmpty == false)
            }
            #expect(
                try await server.request(.get, "/api/admin/queue/bulk?action=retry&status=LATER", cookie: admin)
                    .status == .badRequest
            )
        }
    }

    @Test("static files: content types, ETag revalidation, 404 for unknown names")
    func assets() async throws {
        try await withServer(.memory) { server in
            let script = try await server.request(.get, "/assets/monitor.js")
            #expect(script.status == .ok)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(script.text.contains("\"use strict\""))
            let etag = try #require(script.headers[.eTag])
            let again = try await server.request(.get, "/assets/monitor.js", headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified && again.text.isEmpty)
            let style = try await server.request(.get, "/assets/monitor.css")
            #expect(style.headers[.contentType] == "text/css; charset=utf-8" && style.text.contains(".badge.pending"))
            let missing = try await server.request(.get, "/assets/secret.txt")
            #expect(missing.status == .notFound && missing.error?.isEmpty == false)
            let wrongMethod = try await server.request(.post, "/admin/queue-monitor")
            #expect(wrongMethod.status == .methodNotAllowed && wrongMethod.headers[.allow] == "GET")
        }
    }
}
