import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluicePostgres
import SluiceServer
import SluiceWorkers
import Testing

/// The HTTP API through the router (and a live server where it matters), on SQLite and on PostgreSQL.
@Suite("HTTP server", .timeLimit(.minutes(5)))
struct ServerTests {
    /// Every protected endpoint against every kind of caller.
    @Test("role matrix: anonymous / viewer / manager / admin", arguments: StoreKind.sql)
    func roleMatrix(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            // What each role may do: the expected status per endpoint, for anonymous, viewer, manager, admin.
            let expectations: [(HTTPRequest.Method, String, [HTTPResponse.Status])] = [
                (.get, "/api/auth/me", [.unauthorized, .ok, .ok, .ok]),
                (.get, "/api/admin/queue/stats", [.unauthorized, .forbidden, .ok, .ok]),
                (.get, "/api/admin/queue/jobs/{job}", [.unauthorized, .forbidden, .ok, .ok]),
                (.post, "/api/admin/queue/cancel?jobId={job}", [.unauthorized, .forbidden, .forbidden, .ok]),
                (.post, "/api/admin/queue/retry?jobId={job}", [.unauthorized, .forbidden, .forbidden, .ok]),
            ]
            let cookies = try await server.cookies()
            for (method, template, statuses) in expectations {
                for ((who, cookie), expected) in zip(cookies, statuses) {
                    // A fresh PENDING job each time: cancel needs one; retry needs it cancelled (FAILED) first.
                    let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["n": 1])).id
                    if template.contains("retry") { try await queue.cancelJob(id) }
                    let uri = template.replacingOccurrences(of: "{job}", with: id)
                    let exchange = try await server.request(method, uri, cookie: cookie)
                    #expect(exchange.status == expected, "\(who) \(method) \(uri): \(exchange.text)")
                    if expected != .ok { #expect(exchange.error?.isEmpty == false, "\(who) \(uri) error body") }
                    let after = try await queue.getJob(id)
                    if template.contains("cancel") {
                        #expect(after.status == (expected == .ok ? .failed : .pending), "\(who) cancel changed nothing")
                    }
                    if template.contains("retry") {
                        #expect(after.status == (expected == .ok ? .pending : .failed), "\(who) retry changed nothing")
                    }
                }
            }
        }
    }

    @Test("stats: the reference's shape, newest first, filters, oldest pending job", arguments: StoreKind.sql)
    func stats(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            let first = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["n": 1], priority: 2)).id
            server.clock.advance(by: .seconds(600))
            let second = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["n": 2])).id
            server.clock.advance(by: .seconds(60))
            let third = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["n": 3])).id
            let claimed = try #require(try await queue.claimJob([.vectorize]))
            try await queue.updateProgress(claimed.lease, current: 5, total: 10, message: "half way")
            let manager = try await server.login(.manager)

            let exchange = try await server.request(.get, "/api/admin/queue/stats", cookie: manager)
            #expect(exchange.status == .ok)
            #expect(exchange.headers[.contentType]?.hasPrefix("application/json") == true)
            let json = try #require(exchange.json)
            #expect(json["queueStats"] == ["pending": 2, "processing": 1, "completed": 0, "failed": 0])
            guard case .array(let recent)? = json["recentJobs"] else {
                Issue.record("recentJobs is not an array")
                return
            }
            #expect(recent.compactMap { $0["id"]?.stringValue } == [third, second, first])
            let vectorize = recent[1]
            guard case .object(let fields) = vectorize else { return }
            #expect(
                Set(fields.keys) == [
                    "id", "jobType", "status", "priority", "attempts", "maxAttempts", "progress", "result", "createdAt",
                    "startedAt", "completedAt",
                ]
            )
            #expect(vectorize["jobType"] == "VECTORIZE")
            #expect(vectorize["status"] == "PROCESSING")
            #expect(vectorize["attempts"] == 1)
            #expect(vectorize["maxAttempts"] == 3)
            #expect(vectorize["progress"] == ["current": 5, "total": 10, "message": "half way"])
            #expect(vectorize["result"] == .null)
            #expect(vectorize["completedAt"] == .null)
            let startedAt = try #require(vectorize["startedAt"]?.stringValue)
            #expect(
                try Date(startedAt, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
                    == server.clock.now()
            )
            #expect(recent[2]["priority"] == 2)
            #expect(recent[2]["progress"] == .null)
            #expect(recent[2]["startedAt"] == .null)
            // The oldest PENDING job is the first one, 11 minutes old.
            #expect(json["oldestPendingJob"]?["id"]?.stringValue == first)
            #expect(json["oldestPendingJob"]?["ageMinutes"] == 11)

            // Filters.
            let pending = try await server.request(
                .get,
                "/api/admin/queue/stats?status=PENDING&limit=1",
                cookie: manager
            )
            #expect(pending.json?["recentJobs"] == .array([try #require(recent.first)]))
            let vectorizeOnly = try await server.request(
                .get,
                "/api/admin/queue/stats?jobType=VECTORIZE",
                cookie: manager
            )
            guard case .array(let onlyVectorize)? = vectorizeOnly.json?["recentJobs"] else { return }
            #expect(onlyVectorize.compactMap { $0["id"]?.stringValue } == [second])
            // Totals are not filtered.
            #expect(vectorizeOnly.json?["queueStats"]?["pending"] == 2)

            for bad in ["limit=0", "limit=501", "limit=abc", "status=DONE", "jobType=no%20spaces"] {
                let refused = try await server.request(.get, "/api/admin/queue/stats?\(bad)", cookie: manager)
                #expect(refused.status == .badRequest, "\(bad)")
                #expect(refused.error?.isEmpty == false, "\(bad)")
            }

            // No pending jobs: oldestPendingJob is null.
            try await queue.cancelJob(first)
            try await queue.cancelJob(third)
            let none = try await server.request(.get, "/api/admin/queue/stats", cookie: manager)
            #expect(none.json?["oldestPendingJob"] == .null)
        }
    }

    @Test("retry and cancel: exact answers and the reference's error codes", arguments: StoreKind.sql)
    func retryAndCancel(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            let admin = try await server.login(.admin)
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id

            let cancelled = try await server.request(.post, "/api/admin/queue/cancel?jobId=\(id)", cookie: admin)
            #expect(cancelled.status == .ok)
            #expect(cancelled.json == ["success": true, "jobId": .string(id)])
            let job = try await queue.getJob(id)
            #expect(job.status == .failed)
            #expect(job.result?["cancelled"] == true)
            #expect(job.result?["error"]?.stringValue?.contains(Harness.email(.admin)) == true)

            let again = try await server.request(.post, "/api/admin/queue/cancel?jobId=\(id)", cookie: admin)
            #expect(again.status == .badRequest)
            #expect(again.error?.contains("already failed") == true, "\(again.text)")

            let retried = try await server.request(.post, "/api/admin/queue/retry?jobId=\(id)", cookie: admin)
            #expect(retried.json == ["success": true, "jobId": .string(id)])
            #expect(try await queue.getJob(id).status == .pending)

            let notFailed = try await server.request(.post, "/api/admin/queue/retry?jobId=\(id)", cookie: admin)
            #expect(notFailed.status == .badRequest)
            #expect(notFailed.error?.contains("pending, not failed") == true, "\(notFailed.text)")

            for action in ["retry", "cancel"] {
                let missing = try await server.request(.post, "/api/admin/queue/\(action)", cookie: admin)
                #expect(missing.status == .badRequest)
                #expect(missing.error == "Missing jobId parameter")
                let empty = try await server.request(.post, "/api/admin/queue/\(action)?jobId=", cookie: admin)
                #expect(empty.status == .badRequest)
                let unknown = try await server.request(.post, "/api/admin/queue/\(action)?jobId=nope", cookie: admin)
                #expect(unknown.status == .notFound)
                #expect(unknown.error?.contains("nope") == true)
            }
            let detail = try await server.request(.get, "/api/admin/queue/jobs/nope", cookie: admin)
            #expect(detail.status == .notFound)
        }
    }

    /// A fault on the server's side (here: a column the code needs has gone) is a logged 500 with a JSON error
    /// that shows nothing internal.
    @Test("server faults are 500 with a JSON error that reveals nothing")
    func serverFault() async throws {
        try await withServer(.postgres) { server in
            let admin = try await server.login(.admin)
            let id = try await server.app.queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            try await server.app.queue.cancelJob(id)
            let store = try #require(server.app.queue.store as? PostgresJobStore)
            try await store.client.query("ALTER TABLE job_queue RENAME COLUMN result TO result_gone")
            for (method, uri) in [
                (HTTPRequest.Method.post, "/api/admin/queue/retry?jobId=\(id)"),
                (.get, "/api/admin/queue/stats"),
                (.get, "/api/admin/queue/jobs/\(id)"),
            ] {
                let exchange = try await server.request(method, uri, cookie: admin)
                #expect(exchange.status == .internalServerError, "\(uri): \(exchange.text)")
                #expect(exchange.json == ["error": "internal server error"], "\(uri)")
            }
        }
    }

    @Test("job detail: errors, lease, progress, no payload", arguments: StoreKind.sql)
    func jobDetail(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["secret": "pii"])).id
            let first = try #require(try await queue.claimJob([.ingestData]))
            try await queue.failJob(first.lease, error: "disk full")
            server.clock.advance(by: .seconds(10))
            let second = try #require(try await queue.claimJob([.ingestData]))
            try await queue.updateProgress(second.lease, current: 1, total: 4, message: "one of four")
            let manager = try await server.login(.manager)
            let exchange = try await server.request(.get, "/api/admin/queue/jobs/\(id)", cookie: manager)
            let json = try #require(exchange.json)
            #expect(json["status"] == "PROCESSING")
            #expect(json["attempts"] == 2)
            guard case .array(let errors)? = json["errors"] else {
                Issue.record("errors is not an array: \(exchange.text)")
                return
            }
            #expect(errors.count == 1)
            #expect(errors.first?["attempt"] == 1)
            #expect(errors.first?["message"] == "disk full")
            #expect(json["lease"]?["owner"]?.stringValue == second.lease.owner)
            #expect(json["lease"]?["expired"] == false)
            #expect(json["progress"]?["message"] == "one of four")
            #expect(json["payloadBytes"] == .int(Int64(#"{"secret":"pii"}"#.utf8.count)))
            #expect(!exchange.text.contains("pii"))
        }
    }
}

extension JSONValue {
    /// Array element access for tests; nil for anything but an array.
    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
