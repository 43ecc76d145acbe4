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
import Testing

@Suite("Projects and ingest API")
struct ProjectAPITests {
    @Test("create, list and read projects; roles; names unique", arguments: StoreKind.sql)
    func projects(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let manager = try await server.login(.manager)
            let viewer = try await server.login(.viewer)
            #expect(try await server.request(.get, "/api/projects").status == .unauthorized)
            #expect(try await server.request(.get, "/api/projects", cookie: viewer).status == .forbidden)
            #expect(
                try await server.request(.post, "/api/projects", cookie: viewer, body: #"{"name": "x"}"#).status
                    == .forbidden)

            let created = try await server.request(
                .post, "/api/projects", cookie: manager, body: #"{"name": " Docs "}"#)
            #expect(created.status == .created)
            let project = try #require(created.json?["project"])
            #expect(project["name"] == "Docs")
            #expect(project["recordCount"] == 0)
            #expect(project["embeddingModel"] == .null)
            let id = try #require(project["id"]?.stringValue)

            let taken = try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "Docs"}"#)
            #expect(taken.status == .conflict)
            #expect(taken.error?.contains("already exists") == true)
            for bad in [#"{"name": ""}"#, #"{"name": 5}"#, "{}", "nope"] {
                let refused = try await server.request(.post, "/api/projects", cookie: manager, body: bad)
                #expect(refused.status == .badRequest, "\(bad)")
            }
            let list = try await server.request(.get, "/api/projects", cookie: manager)
            #expect(list.json?["projects"]?[0]?["id"]?.stringValue == id)
            let one = try await server.request(.get, "/api/projects/\(id)", cookie: manager)
            #expect(one.json?["project"] == project)
            #expect(try await server.request(.get, "/api/projects/nope", cookie: manager).status == .notFound)
        }
    }

    @Test(
        "ingest JSON and CSV: 202 with the ids, processed by the worker, counted on the project",
        arguments: StoreKind.sql)
    func ingest(kind: StoreKind) async throws {
        var configuration = ServerConfiguration.testing()
        configuration.ingestPartSize = 2
        try await withServer(kind, configuration: configuration, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let created = try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "p"}"#)
            let id = try #require(created.json?["project"]?["id"]?.stringValue)

            let body = #"""
                {"records": [{"text": "one"}, {"text": "two"}, {"text": "three"}, {"text": ""}, {"text": "one"}],
                 "generateEmbeddings": false}
                """#
            let queued = try await server.request(.post, "/api/projects/\(id)/ingest", cookie: manager, body: body)
            #expect(queued.status == .accepted, "\(queued.text)")
            let ingestID = try #require(queued.json?["ingestJobId"]?.stringValue)
            guard case .array(let jobIDs)? = queued.json?["jobIds"] else {
                Issue.record("no jobIds: \(queued.text)")
                return
            }
            #expect(jobIDs.count == 3, "5 records in parts of 2")
            #expect(queued.json?["jobId"] == jobIDs.first)
            #expect(queued.json?["total"] == 5)
            let pending = try await server.request(.get, "/api/ingest-jobs/\(ingestID)", cookie: manager)
            #expect(pending.json?["ingestJob"]?["status"] == "PENDING")

            // The cron's call runs up to 3 INGEST_DATA jobs.
            let run = try await server.request(.get, "/api/workers/ingestion")
            #expect(run.json?["processed"] == 3)
            let done = try await server.request(.get, "/api/ingest-jobs/\(ingestID)", cookie: manager)
            let job = try #require(done.json?["ingestJob"])
            #expect(job["status"] == "COMPLETED")
            #expect(job["saved"] == 3)
            #expect(job["skipped"] == 2)
            #expect(job["processed"] == 5)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 3)

            let csv = "title,body\nFirst,Alpha body\nSecond,\"Beta, with a comma\"\n"
            let csvQueued = try await server.request(
                .post, "/api/projects/\(id)/ingest?textFields=title,body", cookie: manager,
                headers: [.contentType: "text/csv"], body: csv)
            #expect(csvQueued.status == .accepted, "\(csvQueued.text)")
            _ = try await server.request(.get, "/api/workers/ingestion")
            let csvJob = try #require(csvQueued.json?["ingestJobId"]?.stringValue)
            #expect(
                try await server.request(.get, "/api/ingest-jobs/\(csvJob)", cookie: manager).json?["ingestJob"]?[
                    "saved"] == 2)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 5)
        }
    }

    @Test("ingest refusals: unknown project, bad body, unsupported type, too large, wrong role")
    func ingestRefusals() async throws {
        var configuration = ServerConfiguration.testing()
        configuration.maxIngestBytes = 1_000
        try await withServer(.sqlite, configuration: configuration) { server in
            let manager = try await server.login(.manager)
            let id = try #require(
                try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "p"}"#)
                    .json?["project"]?["id"]?.stringValue)
            let uri = "/api/projects/\(id)/ingest"
            let cases: [(String, HTTPFields, String, HTTPResponse.Status)] = [
                ("/api/projects/nope/ingest", [:], #"{"records": []}"#, .notFound),
                (uri, [:], "{not json", .badRequest),
                (uri, [:], #"{"records": 5}"#, .badRequest),
                (uri, [:], #"{"records": [], "textFields": [1]}"#, .badRequest),
                (uri, [:], #"{"records": [], "generateEmbeddings": "yes"}"#, .badRequest),
                (uri, [.contentType: "application/xml"], "<records/>", .unsupportedMediaType),
                (uri, [.contentType: "text/csv"], "a,a\n1,2\n", .badRequest),
                (uri, [:], #"{"records": [{"text": "\#(String(repeating: "x", count: 2_000))"}]}"#, .contentTooLarge),
            ]
            for (path, headers, body, expected) in cases {
                let exchange = try await server.request(.post, path, cookie: manager, headers: headers, body: body)
                #expect(exchange.status == expected, "\(body.prefix(40)): \(exchange.text)")
                #expect(exchange.error?.isEmpty == false)
            }
            let viewer = try await server.login(.viewer)
            #expect(
                try await server.request(.post, uri, cookie: viewer, body: #"{"records": []}"#).status == .forbidden)
            #expect(try await server.request(.get, "/api/ingest-jobs/nope", cookie: manager).status == .notFound)
            // Nothing was queued by the refusals.
            #expect(try await server.app.queue.getQueueStats().total.total == 0)
        }
    }
}

@Suite("sluice projects and ingest")
struct ProjectCLITests {
    @Test(
        "projects create/list, ingest CSV without waiting, ingest JSON Lines following progress",
        arguments: StoreKind.sql)
    func projectsAndIngest(kind: StoreKind) async throws {
        try await withStore(kind) { jobStore, url in
            let store = try #require(jobStore as? any SluiceStore)
            let url = try #require(url)
            func sluice(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
                try await runProduct("sluice", arguments + ["--database-url", url])
            }
            let created = try await sluice(["projects", "create", "docs"])
            #expect(created.status == 0, "\(created.stderr)")
            let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let again = try await sluice(["projects", "create", "docs"])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already exists"))

            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-ingest-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let csv = folder.appendingPathComponent("a.csv").path
            try "title,body\nOne,First\nTwo,\"Second, with comma\"\n".write(
                toFile: csv, atomically: true, encoding: .utf8)
            let queued = try await sluice(["ingest", "docs", csv, "--no-wait", "--text-fields", "title,body"])
            #expect(queued.status == 0, "\(queued.stderr)")
            #expect(queued.stderr.contains("2 records in 1 job(s)"))
            let ingestID = queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await store.ingestJob(id: ingestID)?.status == .pending)

            // Follow a JSON Lines upload while this test plays the worker.
            let jsonl = folder.appendingPathComponent("b.jsonl").path
            try "{\"text\": \"alpha\"}\n\n{\"text\": \"beta\"}\n{\"text\": \"\"}\n".write(
                toFile: jsonl, atomically: true, encoding: .utf8)
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData, IngestionHandler(store: store))
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let followed = try await withThrowingTaskGroup(of: (Int32, String, String)?.self) { group in
                group.addTask {
                    let result = try await runProduct("sluice", ["ingest", id, jsonl, "--database-url", url])
                    return (result.status, result.stdout, result.stderr)
                }
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(60)
                    var ran = 0
                    while ran < 2 && ContinuousClock.now < deadline {
                        if let job = try await queue.claimJob([.ingestData]) {
                            _ = await runner.run(job)
                            ran += 1
                        } else {
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    return nil
                }
                var output: (Int32, String, String)?
                for try await result in group { if let result { output = result } }
                return output
            }
            let (status, stdout, stderr) = try #require(followed)
            #expect(status == 0, "\(stderr)")
            #expect(stdout.contains("COMPLETED: saved 2, skipped 1 of 3"), "\(stdout)")
            #expect(stderr.contains("completed 3/3 (saved 2, skipped 1)"), "\(stderr)")

            let listed = try await sluice(["projects", "list"])
            #expect(listed.stdout.contains("docs"))
            #expect(listed.stdout.contains(id))

            for (arguments, message) in [
                (["ingest", "nope", csv], "no project"),
                (["ingest", "docs", folder.path + "/missing.csv"], "cannot read"),
                (["ingest", "docs", csv, "--format", "xml"], "--format"),
            ] {
                let refused = try await sluice(arguments)
                #expect(refused.status != 0, "\(arguments)")
                #expect(refused.stderr.contains(message), "\(refused.stderr)")
            }
            let bad = folder.appendingPathComponent("bad.jsonl").path
            try "{\"text\": \"ok\"}\n{broken\n".write(toFile: bad, atomically: true, encoding: .utf8)
            let badLine = try await sluice(["ingest", "docs", bad])
            #expect(badLine.status != 0)
            #expect(badLine.stderr.contains("line 2 is not JSON"))
        }
    }
}
