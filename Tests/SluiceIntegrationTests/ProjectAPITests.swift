import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import Testing

@Suite("Projects and ingest API", .timeLimit(.minutes(5)))
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
                    == .forbidden
            )

            let created = try await server.request(
                .post,
                "/api/projects",
                cookie: manager,
                body: #"{"name": " Docs "}"#
            )
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
        arguments: StoreKind.sql
    )
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
                    == 3
            )

            let csv = "title,body\nFirst,Alpha body\nSecond,\"Beta, with a comma\"\n"
            let csvQueued = try await server.request(
                .post,
                "/api/projects/\(id)/ingest?textFields=title,body",
                cookie: manager,
                headers: [.contentType: "text/csv"],
                body: csv
            )
            #expect(csvQueued.status == .accepted, "\(csvQueued.text)")
            _ = try await server.request(.get, "/api/workers/ingestion")
            let csvJob = try #require(csvQueued.json?["ingestJobId"]?.stringValue)
            #expect(
                try await server.request(.get, "/api/ingest-jobs/\(csvJob)", cookie: manager).json?["ingestJob"]?[
                    "saved"
                ] == 2
            )
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 5
            )
        }
    }

    @Test("a project's own chunk size, overlap and template shape what is embedded; bad ones are refused")
    func projectChunking() async throws {
        try await withServer(.memory, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let created = try await server.request(
                .post,
                "/api/projects",
                cookie: manager,
                body: #"{"name": "guides", "chunkSize": 64, "template": "{{title}}: {{chunk}}"}"#
            )
            #expect(created.status == .created, "\(created.text)")
            let project = try #require(created.json?["project"])
            #expect(project["chunkSize"] == 64)
            #expect(project["chunkOverlap"] == 6, "a tenth of its own size")
            #expect(project["template"] == "{{title}}: {{chunk}}")
            let id = try #require(project["id"]?.stringValue)
            let text = String(repeating: "cats sit on warm mats. ", count: 12)
            let body =
                #"{"records": [{"id": "g", "title": "Cat guide", "text": "\#(text)"}], "generateEmbeddings": true}"#
            #expect(
                try await server.request(.post, "/api/projects/\(id)/ingest", cookie: manager, body: body).status
                    == .accepted
            )
            _ = try await server.request(.get, "/api/workers/ingestion")
            _ = try await server.request(.get, "/api/workers/vectorization")
            let found = try await server.request(.get, "/api/projects/\(id)/search?q=warm+mats", cookie: manager)
            let hit = try #require(found.json?["results"]?[0])
            #expect(hit["text"]?.stringValue?.hasPrefix("Cat guide: ") == true, "\(found.text)")
            #expect((hit["text"]?.stringValue?.count ?? 0) <= 64 + "Cat guide: ".count)
            let defaults = try await server.request(
                .post,
                "/api/projects",
                cookie: manager,
                body: #"{"name": "plain"}"#
            )
            #expect(defaults.json?["project"]?["chunkSize"] == 2048)
            #expect(defaults.json?["project"]?["template"] == .null)
            for bad in [
                #"{"name": "x", "chunkSize": 10}"#, #"{"name": "x", "chunkSize": 100, "chunkOverlap": 60}"#,
                #"{"name": "x", "template": "{{title}} only"}"#, #"{"name": "x", "chunkSize": "big"}"#,
            ] {
                let refused = try await server.request(.post, "/api/projects", cookie: manager, body: bad)
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
            }
        }
    }

    @Test(
        "records with ids: a second upload updates in place, deletes one by one and in bulk, search by chunk",
        arguments: StoreKind.allCases
    )
    func recordSync(kind: StoreKind) async throws {
        try await withServer(kind, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let viewer = try await server.login(.viewer)
            let id = try #require(
                try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "sync"}"#)
                    .json?["project"]?["id"]?.stringValue
            )
            func ingest(_ body: String, csv: Bool = false, query: String = "") async throws -> JSONValue? {
                let queued = try await server.request(
                    .post,
                    "/api/projects/\(id)/ingest\(query)",
                    cookie: manager,
                    headers: csv ? [.contentType: "text/csv"] : [:],
                    body: body
                )
                #expect(queued.status == .accepted, "\(queued.text)")
                let ingestID = try #require(queued.json?["ingestJobId"]?.stringValue)
                _ = try await server.request(.get, "/api/workers/ingestion")
                _ = try await server.request(.get, "/api/workers/vectorization")
                return try await server.request(.get, "/api/ingest-jobs/\(ingestID)", cookie: manager).json?[
                    "ingestJob"
                ]
            }
            let first = try await ingest(
                #"{"records": [{"sku": "A-1", "text": "red running shoes"}, {"sku": "B-2", "text": "blue rain coat"}], "#
                    + #""idField": "sku", "generateEmbeddings": true}"#
            )
            #expect(first?["saved"] == 2 && first?["updated"] == 0 && first?["unchanged"] == 0)
            // CSV with the same column as id: one changed, one unchanged, one new.
            let second = try await ingest(
                "sku,text\nA-1,red trail running shoes\nB-2,blue rain coat\nC-3,green wool hat\n",
                csv: true,
                query: "?idField=sku&generateEmbeddings=true"
            )
            #expect(second?["saved"] == 2, "\(second?.jsonText ?? "")")
            #expect(second?["updated"] == 1)
            #expect(second?["unchanged"] == 1)
            #expect(second?["skipped"] == 1)
            let project = try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]
            #expect(project?["recordCount"] == 3)
            #expect(project?["embeddedCount"] == 3)

            let found = try await server.request(.get, "/api/projects/\(id)/search?q=trail+shoes&k=5", cookie: viewer)
            #expect(found.json?["results"]?[0]?["externalId"] == "A-1")
            #expect(found.json?["results"]?[0]?["text"] == "red trail running shoes")
            #expect(found.json?["results"]?[0]?["chunk"] == 0)

            // A dry run tells what would change and changes nothing.
            let preview = try await server.request(
                .post,
                "/api/projects/\(id)/ingest?dryRun=true",
                cookie: manager,
                body: #"{"records": [{"sku": "B-2", "text": "blue rain coat"}, {"sku": "N-1", "text": "new"}, "#
                    + #"{"text": ""}], "idField": "sku", "sync": true}"#
            )
            #expect(preview.status == .ok, "\(preview.text)")
            #expect(preview.json?["dryRun"] == true)
            #expect(preview.json?["toInsert"] == 1)
            #expect(preview.json?["unchanged"] == 1)
            #expect(preview.json?["invalid"] == 1)
            #expect(preview.json?["toDelete"] == 2, "A-1 and C-3 are not in it")
            #expect(preview.json?["chunksToEmbed"] == 1)
            #expect(preview.json?["estimatedTokens"] == 1)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 3,
                "nothing changed"
            )
            #expect(
                try await server.request(.post, "/api/projects/\(id)/ingest?dryRun=yes", cookie: manager, body: "{}")
                    .status == .badRequest
            )

            // Deletes: MANAGER only; one by id (404 when absent), then several at once.
            let path = "/api/projects/\(id)/records/A-1"
            #expect(try await server.request(.delete, path, cookie: viewer).status == .forbidden)
            let one = try await server.request(.delete, path, cookie: manager)
            #expect(one.status == .ok, "\(one.text)")
            #expect(one.json?["deletedIds"] == ["A-1"])
            #expect(try await server.request(.delete, path, cookie: manager).status == .notFound)
            let after = try await server.request(.get, "/api/projects/\(id)/search?q=trail+shoes&k=5", cookie: viewer)
            #expect(after.json?["results"].map { "\($0)" }?.contains("A-1") == false, "gone from search at once")
            let bulk = try await server.request(
                .post,
                "/api/projects/\(id)/delete-records",
                cookie: manager,
                body: #"{"ids": ["B-2", "nope", "C-3"]}"#
            )
            #expect(bulk.status == .ok, "\(bulk.text)")
            #expect(bulk.json?["deletedCount"] == 2)
            #expect(bulk.json?["notFound"] == ["nope"])
            for bad in [#"{"ids": []}"#, #"{"ids": [""]}"#, #"{"ids": "B-2"}"#, #"{}"#] {
                let refused = try await server.request(
                    .post,
                    "/api/projects/\(id)/delete-records",
                    cookie: manager,
                    body: bad
                )
                #expect(refused.status == .badRequest, "\(bad)")
            }
            #expect(
                try await server.request(
                    .post,
                    "/api/projects/nope/delete-records",
                    cookie: manager,
                    body: #"{"ids": ["x"]}"#
                )
                .status == .notFound
            )
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 0
            )

            // An id as clients send it in a path: percent-encoded (a space, a slash, an accented letter).
            _ = try await ingest(#"{"records": [{"sku": "x y/é", "text": "odd id"}], "idField": "sku"}"#)
            let encoded = try await server.request(
                .delete,
                "/api/projects/\(id)/records/x%20y%2F%C3%A9",
                cookie: manager
            )
            #expect(encoded.status == .ok, "\(encoded.text)")
            #expect(encoded.json?["deletedIds"] == ["x y/é"])
            #expect(
                try await server.request(.delete, "/api/projects/\(id)/records/%zz", cookie: manager).status
                    == .badRequest
            )
            #expect(
                try await server.request(.delete, "/api/projects/\(id)/records/a%00", cookie: manager).status
                    == .notFound
            )

            // A sync upload: what it does not carry goes once it completes.
            _ = try await ingest(
                #"{"records": [{"sku": "X", "text": "x"}, {"sku": "Y", "text": "y"}], "idField": "sku"}"#
            )
            let synced = try await ingest(#"{"records": [{"sku": "Y", "text": "y"}], "idField": "sku", "sync": true}"#)
            #expect(synced?["sync"] == true)
            #expect(synced?["deleted"] == 1)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?["recordCount"]
                    == 1
            )
            let badSync = try await server.request(
                .post,
                "/api/projects/\(id)/ingest?sync=maybe",
                cookie: manager,
                headers: [.contentType: "text/csv"],
                body: "sku,text\nY,y\n"
            )
            #expect(badSync.status == .badRequest)
        }
    }

    @Test("ingest with embeddings, then search: nearest first, any signed-in role; refusals", arguments: StoreKind.sql)
    func search(kind: StoreKind) async throws {
        try await withServer(kind, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let viewer = try await server.login(.viewer)
            let id = try #require(
                try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "s"}"#)
                    .json?["project"]?["id"]?.stringValue
            )
            let early = try await server.request(.get, "/api/projects/\(id)/search?q=revenue", cookie: viewer)
            #expect(early.status == .conflict)
            #expect(early.error?.contains("no embeddings yet") == true)

            let body = #"""
                {"records": [{"id": "r1", "text": "quarterly revenue grew in europe"},
                             {"id": "r2", "text": "the cat sat on the mat"},
                             {"id": "r3", "text": "a recipe for apple pie"}],
                 "generateEmbeddings": true}
                """#
            #expect(
                try await server.request(.post, "/api/projects/\(id)/ingest", cookie: manager, body: body).status
                    == .accepted
            )
            #expect(try await server.request(.get, "/api/workers/ingestion").json?["processed"] == 1)
            #expect(try await server.request(.get, "/api/workers/vectorization").json?["processed"] == 1)
            let project = try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]
            #expect(project?["embeddedCount"] == 3)
            #expect(project?["embeddingModel"] == "sluice-local-hash-v1")
            #expect(project?["embeddingDimensions"] == 64)

            let found = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=quarterly%20revenue&k=2",
                cookie: viewer
            )
            #expect(found.status == .ok, "\(found.text)")
            guard case .array(let results)? = found.json?["results"] else {
                Issue.record("no results: \(found.text)")
                return
            }
            #expect(results.count == 2)
            #expect(results.first?["externalId"] == "r1")
            #expect(results.first?["record"]?["text"] == "quarterly revenue grew in europe")
            #expect(found.json?["search"] == "exact", "no approximate index for three vectors")
            // With the approximate index (PostgreSQL), the answer says what the store read from its plan.
            try await server.app.pipeline.prepareVectorIndex(dimensions: 64)
            let indexed = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=quarterly+revenue",
                cookie: viewer
            )
            let direct = try await server.app.pipeline.nearestRecords(
                projectID: id,
                to: try await server.app.embedder.embed(["quarterly revenue"])[0],
                model: "sluice-local-hash-v1",
                limit: 10
            )
            #expect(indexed.json?["search"]?.stringValue == direct.search.rawValue)
            guard case .array(let approximate)? = indexed.json?["results"] else {
                Issue.record("no results: \(indexed.text)")
                return
            }
            #expect(approximate.first?["externalId"] == "r1")
            #expect(try await server.request(.get, "/api/projects/\(id)/search?q=x").status == .unauthorized)
            for bad in ["", "?q=", "?q=x&k=0", "?q=x&k=101", "?q=x&k=many"] {
                let refused = try await server.request(.get, "/api/projects/\(id)/search\(bad)", cookie: viewer)
                #expect(refused.status == .badRequest, "\(bad)")
            }
            #expect(try await server.request(.get, "/api/projects/nope/search?q=x", cookie: viewer).status == .notFound)

            // Re-embedding forgets the vectors and queues the work again.
            #expect(try await server.request(.post, "/api/projects/\(id)/reembed", cookie: viewer).status == .forbidden)
            let reembed = try await server.request(.post, "/api/projects/\(id)/reembed", cookie: manager)
            #expect(reembed.status == .accepted)
            #expect(reembed.json?["clearedCount"] == 3)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?[
                    "embeddedCount"
                ] == 0
            )
            #expect(try await server.request(.get, "/api/workers/vectorization").json?["processed"] == 1)
            #expect(
                try await server.request(.get, "/api/projects/\(id)", cookie: manager).json?["project"]?[
                    "embeddedCount"
                ] == 3
            )
        }
    }

    @Test(
        "search with a filter: a POST body or GET ?filter=, refusals say where the filter is wrong",
        arguments: StoreKind.sql
    )
    func filteredSearch(kind: StoreKind) async throws {
        try await withServer(kind, withIngestion: true) { server in
            let viewer = try await server.login(.viewer)
            let id = try await server.project(
                "f",
                records: #"""
                    [{"id": "n1", "text": "markets fell sharply today", "category": "news", "year": 2024},
                     {"id": "n2", "text": "markets rose again", "category": "news", "year": 2019},
                     {"id": "b1", "text": "markets and how they work", "category": "blog", "year": 2024}]
                    """#,
                embedded: true
            )
            func ids(_ exchange: Exchange) -> [String] {
                guard case .array(let results)? = exchange.json?["results"] else { return [] }
                return results.compactMap { $0["externalId"]?.stringValue }
            }
            let posted = try await server.request(
                .post,
                "/api/projects/\(id)/search",
                cookie: viewer,
                body: #"{"query": "markets", "k": 5, "filter": {"category": "news", "year": {"$gte": 2020}}}"#
            )
            #expect(posted.status == .ok, "\(posted.text)")
            #expect(ids(posted) == ["n1"])
            #expect(posted.json?["search"] == "exact")
            let news = try await server.request(
                .post,
                "/api/projects/\(id)/search",
                cookie: viewer,
                body: #"{"query": "markets", "filter": {"category": {"$in": ["news"]}}, "mode": "vector"}"#
            )
            #expect(Set(ids(news)) == ["n1", "n2"])
            // As `curl -G --data-urlencode 'filter={"category": "blog"}'` sends it: spaces as +, the rest escaped.
            let encoded = "filter=%7B%22category%22%3A+%22blog%22%7D"
            let fromQuery = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=markets+today&\(encoded)",
                cookie: viewer
            )
            #expect(fromQuery.status == .ok, "\(fromQuery.text)")
            #expect(ids(fromQuery) == ["b1"])

            let refusals: [(String, String)] = [
                (#"{"query": "x", "filter": {"year": {"$gtx": 1}}}"#, "filter at year.$gtx: unknown operator"),
                (#"{"query": "x", "filter": {"year": {"$gte": "soon"}}}"#, "filter at year.$gte"),
                (#"{"query": "x", "filter": [1]}"#, "a filter is a JSON object"),
                (#"{"query": "x", "k": 0}"#, "k must be"),
                (#"{"query": "x", "k": "5"}"#, "k must be"),
                (#"{"query": 5}"#, "query must be a string"),
                (#"{"k": 5}"#, "query must be 1 to 8192 bytes"),
                (#"{"query": "x", "mode": "semantic"}"#, "mode must be"),
                (#"{"query": "x", "filters": {}}"#, "unknown field filters"),
                (#"["query"]"#, "request body must be a JSON object"),
            ]
            for (bad, message) in refusals {
                let refused = try await server.request(.post, "/api/projects/\(id)/search", cookie: viewer, body: bad)
                #expect(refused.status == .badRequest, "\(bad)")
                #expect(refused.error?.contains(message) == true, "\(bad): \(refused.text)")
            }
            let badQuery = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=x&filter=%7Bnot+json",
                cookie: viewer
            )
            #expect(badQuery.status == .badRequest)
            #expect(badQuery.error?.contains("filter must be a JSON object") == true, "\(badQuery.text)")
            let plain = try await server.request(
                .post,
                "/api/projects/\(id)/search",
                cookie: viewer,
                headers: [.contentType: "text/plain"],
                body: #"{"query": "x"}"#
            )
            #expect(plain.status == .unsupportedMediaType)
            #expect(
                try await server.request(.post, "/api/projects/\(id)/search", body: #"{"query": "x"}"#).status
                    == .unauthorized
            )
        }
    }

    @Test(
        "keyword search needs no embeddings; hybrid answers carry both ranks and the fused score",
        arguments: StoreKind.sql
    )
    func keywordAndHybrid(kind: StoreKind) async throws {
        try await withServer(kind, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let viewer = try await server.login(.viewer)
            let id = try await server.project(
                "h",
                records: #"""
                    [{"id": "d1", "text": "XR-4471 cordless drill", "shop": "a"},
                     {"id": "d2", "text": "XR-4417 corded drill", "shop": "b"},
                     {"id": "k1", "text": "a stainless kettle", "shop": "a"}]
                    """#,
                embedded: false
            )
            // No vectors yet: keyword search answers, vector and hybrid say why they cannot.
            let early = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=XR-4471&mode=keyword",
                cookie: viewer
            )
            #expect(early.status == .ok, "\(early.text)")
            #expect(early.json?["mode"] == "keyword")
            #expect(early.json?["search"] == .null)
            #expect(early.json?["model"] == .null)
            guard case .array(let found)? = early.json?["results"] else {
                Issue.record("no results: \(early.text)")
                return
            }
            #expect(found.map { $0["externalId"] } == ["d1"])
            #expect(found.first?["keywordRank"] == 1)
            #expect(found.first?["vectorRank"] == .null)
            #expect(found.first?["distance"] == .null)
            let refused = try await server.request(
                .get,
                "/api/projects/\(id)/search?q=drill&mode=hybrid",
                cookie: viewer
            )
            #expect(refused.status == .conflict)
            #expect(refused.error?.contains("search with mode keyword") == true, "\(refused.text)")

            let reembed = try await server.request(.post, "/api/projects/\(id)/reembed", cookie: manager)
            #expect(reembed.status == .accepted)
            #expect(try await server.request(.get, "/api/workers/vectorization").json?["processed"] == 1)
            let hybrid = try await server.request(
                .post,
                "/api/projects/\(id)/search",
                cookie: viewer,
                body:
                    #"{"query": "XR-4471 drill", "mode": "hybrid", "k": 3, "filter": {"shop": "a"}, "weights": {"vector": 0.5}}"#
            )
            #expect(hybrid.status == .ok, "\(hybrid.text)")
            #expect(hybrid.json?["mode"] == "hybrid")
            guard case .array(let fused)? = hybrid.json?["results"] else {
                Issue.record("no results: \(hybrid.text)")
                return
            }
            #expect(fused.first?["externalId"] == "d1", "the code and the word: first in both lists")
            #expect(fused.allSatisfy { $0["record"]?["shop"] == "a" }, "the filter applies to both lists")
            func number(_ value: JSONValue?) -> Double? {
                switch value {
                case .double(let number)?: number
                case .int(let number)?: Double(number)
                default: nil
                }
            }
            for result in fused {
                let vector = result["vectorRank"]?.intValue.map { 0.5 / (60 + Double($0)) } ?? 0
                let keyword = result["keywordRank"]?.intValue.map { 1 / (60 + Double($0)) } ?? 0
                #expect(abs((number(result["score"]) ?? -1) - (vector + keyword)) < 1e-9, "\(result)")
            }
            for bad in [
                #"{"query": "x", "mode": "hybrid", "weights": {"vector": -1}}"#,
                #"{"query": "x", "mode": "hybrid", "weights": {"vector": 0, "keyword": 0}}"#,
                #"{"query": "x", "mode": "hybrid", "weights": {"text": 1}}"#,
            ] {
                let answer = try await server.request(.post, "/api/projects/\(id)/search", cookie: viewer, body: bad)
                #expect(answer.status == .badRequest, "\(bad)")
                #expect(answer.error?.contains("weights") == true, "\(answer.text)")
            }
        }
    }

    @Test("search refuses to compare across models")
    func searchAcrossModels() async throws {
        try await withServer(.memory, withIngestion: true, embedder: LocalEmbedder(dimensions: 32)) { server in
            let manager = try await server.login(.manager)
            let id = UUID().uuidString.lowercased()
            try await server.app.pipeline.createProject(Project(id: id, name: "m", createdAt: Date()))
            try await server.app.pipeline.createIngestJob(
                IngestJob(id: "i", projectID: id, total: 1, createdAt: Date()),
                chunks: 1
            )
            let record = try RecordReader().read(["text": "hello"]).get()
            _ = try await server.app.pipeline.storeBatch(
                [record],
                invalid: 0,
                handled: 1,
                ingestJobID: "i",
                projectID: id,
                chunk: 0,
                processedAfter: 1,
                now: Date()
            )
            let stored = try await server.app.pipeline.unembeddedChunks(projectID: id, limit: 1)
            try await server.app.pipeline.saveEmbeddings(
                [(id: stored[0].id, vector: [Float](repeating: 0.1, count: 16))],
                projectID: id,
                model: "older-model",
                dimensions: 16,
                now: Date()
            )
            let refused = try await server.request(.get, "/api/projects/\(id)/search?q=hello", cookie: manager)
            #expect(refused.status == .conflict)
            #expect(refused.error?.contains("was embedded with older-model (16 dimensions)") == true, "\(refused.text)")
        }
    }

    @Test(
        "5,001 records: three INGEST_DATA jobs of at most 2,000, each stored in batches of 100",
        arguments: StoreKind.sql
    )
    func largeUpload(kind: StoreKind) async throws {
        try await withServer(kind, withIngestion: true) { server in
            let manager = try await server.login(.manager)
            let id = try #require(
                try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "big"}"#)
                    .json?["project"]?["id"]?.stringValue
            )
            let records = (0..<5_001).map { #"{"text": "record \#($0)"}"# }.joined(separator: ",")
            let queued = try await server.request(
                .post,
                "/api/projects/\(id)/ingest",
                cookie: manager,
                body: #"{"records": [\#(records)]}"#
            )
            guard case .array(let jobIDs)? = queued.json?["jobIds"] else {
                Issue.record("no jobIds: \(queued.text.prefix(200))")
                return
            }
            #expect(jobIDs.count == 3)
            #expect(try await server.request(.get, "/api/workers/ingestion").json?["processed"] == 3)
            let sizes = try await jobIDs.asyncMap {
                try await server.app.queue.getJob($0.stringValue ?? "").result?["savedCount"]
            }
            #expect(sizes == [2_000, 2_000, 1_001])
            let job = try #require(
                try await server.request(
                    .get,
                    "/api/ingest-jobs/\(queued.json?["ingestJobId"]?.stringValue ?? "")",
                    cookie: manager
                )
                .json?["ingestJob"]
            )
            #expect(job["saved"] == 5_001)
            #expect(job["status"] == "COMPLETED")
        }
    }

    @Test("ingest refusals: unknown project, bad body, unsupported type, too large, wrong role")
    func ingestRefusals() async throws {
        var configuration = ServerConfiguration.testing()
        configuration.maxIngestBytes = 1_000
        try await withServer(.memory, configuration: configuration) { server in
            let manager = try await server.login(.manager)
            let id = try #require(
                try await server.request(.post, "/api/projects", cookie: manager, body: #"{"name": "p"}"#)
                    .json?["project"]?["id"]?.stringValue
            )
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
                try await server.request(.post, uri, cookie: viewer, body: #"{"records": []}"#).status == .forbidden
            )
            #expect(try await server.request(.get, "/api/ingest-jobs/nope", cookie: manager).status == .notFound)
            // Nothing was queued by the refusals.
            #expect(try await server.app.queue.getQueueStats().total.total == 0)
        }
    }
}

@Suite("sluice projects and ingest", .timeLimit(.minutes(5)))
struct ProjectCLITests {
    @Test("ingest --id-field updates records in place; records delete by arguments and from standard input")
    func recordsByID() async throws {
        try await withServerStore(.sqlite) { (stores: Stores, url: String) in
            func sluice(_ arguments: [String], input: String? = nil) async throws -> (
                status: Int32, stdout: String, stderr: String
            ) {
                try await runProduct("sluice", arguments + ["--database-url", url], input: input)
            }
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-records-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            #expect(try await sluice(["projects", "create", "shop"]).status == 0)
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData, IngestionHandler(store: stores.pipeline))
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            func upload(_ lines: String) async throws -> IngestJob {
                let file = folder.appendingPathComponent("\(UUID()).jsonl").path
                try lines.write(toFile: file, atomically: true, encoding: .utf8)
                let queued = try await sluice(["ingest", "shop", file, "--no-wait", "--id-field", "sku"])
                #expect(queued.status == 0, "\(queued.stderr)")
                while let job = try await queue.claimJob([.ingestData]) { _ = await runner.run(job) }
                return try #require(
                    try await stores.pipeline.ingestJob(
                        id: queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    )
                )
            }
            _ = try await upload(#"{"sku": "A", "text": "one"}"# + "\n" + #"{"sku": "B", "text": "two"}"# + "\n")
            let second = try await upload(
                #"{"sku": "A", "text": "one, edited"}"# + "\n" + #"{"sku": "B", "text": "two"}"#
            )
            #expect(second.updated == 1 && second.unchanged == 1)
            let project = try #require(try await stores.pipeline.projects().first { $0.project.name == "shop" })
            #expect(project.recordCount == 2)

            let file = folder.appendingPathComponent("preview.jsonl").path
            try (#"{"sku": "A", "text": "one, edited"}"# + "\n" + #"{"sku": "C", "text": "three"}"#)
                .write(toFile: file, atomically: true, encoding: .utf8)
            let preview = try await sluice(["ingest", "shop", file, "--id-field", "sku", "--sync", "--dry-run"])
            #expect(preview.status == 0, "\(preview.stderr)")
            #expect(
                preview.stdout.contains("2 records: 1 to insert, 0 to update, 1 unchanged, 0 invalid, 1 to delete"),
                "\(preview.stdout)"
            )
            #expect(preview.stdout.contains("1 chunks to embed, about 2 tokens; nothing changed"))
            #expect(try await stores.pipeline.projectSummary(id: project.project.id)?.recordCount == 2)

            let deleted = try await sluice(["records", "delete", "shop", "A", "missing"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(deleted.stdout == "A\n")
            #expect(deleted.stderr.contains("deleted 1 record(s); 1 not found"))
            let fromInput = try await sluice(["records", "delete", "shop", "--from", "-"], input: "B\n\n")
            #expect(fromInput.stdout == "B\n", "\(fromInput.stderr)")
            let none = try await sluice(["records", "delete", "shop", "A"])
            #expect(none.status != 0, "nothing deleted is a failure")
            let nothing = try await sluice(["records", "delete", "shop"])
            #expect(nothing.status != 0)
            #expect(nothing.stderr.contains("name the ids"))
            #expect(try await stores.pipeline.projectSummary(id: project.project.id)?.recordCount == 0)
        }
    }

    @Test(
        "projects create/list, ingest CSV without waiting, ingest JSON Lines following progress",
        arguments: StoreKind.sql
    )
    func projectsAndIngest(kind: StoreKind) async throws {
        try await withServerStore(kind) { (stores: Stores, url: String) in
            let store = stores.pipeline
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
                toFile: csv,
                atomically: true,
                encoding: .utf8
            )
            let queued = try await sluice(["ingest", "docs", csv, "--no-wait", "--text-fields", "title,body"])
            #expect(queued.status == 0, "\(queued.stderr)")
            #expect(queued.stderr.contains("2 records in 1 job(s)"))
            let ingestID = queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await store.ingestJob(id: ingestID)?.status == .pending)

            // Follow a JSON Lines upload while this test plays the worker.
            let jsonl = folder.appendingPathComponent("b.jsonl").path
            try "{\"text\": \"alpha\"}\n\n{\"text\": \"beta\"}\n{\"text\": \"\"}\n".write(
                toFile: jsonl,
                atomically: true,
                encoding: .utf8
            )
            let queue = DatabaseQueue(store: stores.queue, logger: quietLogger)
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
            #expect(stdout.contains("COMPLETED: saved 2 (2 new, 0 updated), skipped 1 (0 unchanged) of 3"), "\(stdout)")
            #expect(stderr.contains("completed 3/3 (saved 2, skipped 1)"), "\(stderr)")

            // Embed with the same provider the command line uses by default, then search from the command line.
            let noEmbeddings = try await sluice(["search", "docs", "alpha"])
            #expect(noEmbeddings.status != 0)
            #expect(noEmbeddings.stderr.contains("no embeddings yet"))
            var vectorize = JobHandlerRegistry()
            vectorize.register(.vectorize, VectorizationHandler(store: store, provider: LocalEmbedder()))
            _ = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": .string(id)]))
            let embedding = JobRunner(queue: queue, handlers: vectorize, logger: quietLogger)
            #expect(await embedding.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            let found = try await sluice(["search", "docs", "alpha", "-k", "1"])
            #expect(found.status == 0, "\(found.stderr)")
            #expect(found.stdout.contains("alpha"))
            #expect(!found.stdout.contains("beta"))
            let filtered = try await sluice(["search", "docs", "alpha", "--filter", #"{"text": {"$in": ["beta"]}}"#])
            #expect(filtered.status == 0, "\(filtered.stderr)")
            #expect(filtered.stdout.contains("beta") && !filtered.stdout.contains("alpha"), "\(filtered.stdout)")
            for (filter, message) in [
                (#"{"text": {"$regex": "a"}}"#, "filter at text.$regex: unknown operator $regex"),
                ("{oops", "--filter is not JSON"),
            ] {
                let refused = try await sluice(["search", "docs", "alpha", "--filter", filter])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains(message), "\(refused.stderr)")
            }
            let reembedded = try await sluice(["projects", "reembed", "docs"])
            #expect(reembedded.stdout.contains("cleared 4 vector(s); queued VECTORIZE job"), "\(reembedded.stdout)")

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

extension Array {
    /// `map` with an async transform, in order.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

extension Harness {
    /// A new project named `name` holding `records` (a JSON array), uploaded by a manager and stored by one run of
    /// the ingestion worker; with `embedded`, embedded by one run of the vectorization worker too. Returns its id.
    func project(_ name: String, records: String, embedded: Bool) async throws -> String {
        let manager = try await login(.manager)
        let id = try #require(
            try await request(.post, "/api/projects", cookie: manager, body: #"{"name": "\#(name)"}"#)
                .json?["project"]?["id"]?.stringValue
        )
        let body = #"{"records": \#(records), "generateEmbeddings": \#(embedded)}"#
        #expect(try await request(.post, "/api/projects/\(id)/ingest", cookie: manager, body: body).status == .accepted)
        #expect(try await request(.get, "/api/workers/ingestion").json?["processed"] == 1)
        if embedded { #expect(try await request(.get, "/api/workers/vectorization").json?["processed"] == 1) }
        return id
    }
}
