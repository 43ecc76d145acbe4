import Foundation
import SluiceCore
import SluicePipeline
import SluiceStores
import SluiceWorkers
import Testing

@Suite("Ingestion pipeline", .timeLimit(.minutes(5)))
struct PipelineTests {
    @Test("an upload is written into its parts' payloads as it is read: JSON, CSV with quoted lines, JSON Lines")
    func uploadParts() throws {
        func records(_ jobs: [NewJob]) -> [[JSONValue]] {
            jobs.map { job in
                guard case .array(let records)? = job.payload["records"] else { return [] }
                return records
            }
        }
        let json = UploadWriter(ingestJobID: "i", projectID: "p", partSize: 2)
        try Uploads.json(
            #"{"textFields": ["t"], "records": [{"t": "a"}, {"t": "b"}, {"t": "c"}], "generateEmbeddings": true}"#,
            into: json
        )
        #expect(json.total == 3)
        let jobs = json.finish()
        #expect(records(jobs) == [[["t": "a"], ["t": "b"]], [["t": "c"]]])
        #expect(jobs[1].payload["chunk"] == 1)
        #expect(jobs[1].payload["ingestJobId"] == "i" && jobs[1].payload["projectId"] == "p")
        #expect(jobs[0].payload["generateEmbeddings"] == true, "read after the records, written into every part")
        #expect(jobs[0].payload["textFields"] == ["t"])
        #expect(jobs.allSatisfy { $0.jobType == .ingestData })
        // What the writer encodes is what the handler's decoder reads.
        let decoded = try IngestPayload(jobs[1].payload)
        #expect(
            decoded
                == IngestPayload(
                    ingestJobID: "i",
                    projectID: "p",
                    records: [["t": "c"]],
                    generateEmbeddings: true,
                    textFields: ["t"],
                    chunk: 1
                )
        )
        #expect(try IngestPayload(decoded.json) == decoded)
        #expect(try VectorizePayload(VectorizePayload(projectID: "p").json).projectID == "p")
        #expect(try VectorizePayload(VectorizePayload(projectID: "p", after: "c").json).after == "c")
        #expect(try VectorizePayload(["projectId": "p"]).after == nil)
        #expect(throws: PipelineError.self) { try VectorizePayload(["project": "p"]) }

        let csv = UploadWriter(projectID: "p", partSize: 2)
        try Uploads.csv("title,body\nOne,\"two\nlines, and a comma\"\nThree,x\nFour,y\n", into: csv)
        #expect(
            records(csv.finish()) == [
                [["title": "One", "body": "two\nlines, and a comma"], ["title": "Three", "body": "x"]],
                [["title": "Four", "body": "y"]],
            ]
        )

        let lines = UploadWriter(projectID: "p", partSize: 10)
        try Uploads.jsonLines("{\"a\": 1}\n\n[2]\n", into: lines)
        #expect(records(lines.finish()) == [[["a": 1], [2]]])
        let empty = UploadWriter(projectID: "p", partSize: 10)
        #expect(records(empty.finish()) == [[]], "an empty upload is one part with no records")

        // What no store can keep is refused with the record's place, before anything is queued.
        let nul = UploadWriter(projectID: "p", partSize: 10)
        #expect(throws: PipelineError.self) {
            try Uploads.json(#"{"records": [{"t": "ok"}, {"t": "a\u0000b"}]}"#, into: nul)
        }
        #expect(throws: PipelineError.self) { try Uploads.json(#"{"records": {}}"#, into: nul) }
        #expect(throws: PipelineError.self) { try Uploads.json(#"{"rows": []}"#, into: nul) }
    }

    /// A project, an ingest job for `records`, and the INGEST_DATA job carrying them, run to an outcome.
    private struct Ingest {
        let store: any PipelineStore
        let queue: DatabaseQueue
        let clock: ManualWallClock
        let runner: JobRunner

        init(stores: Stores, batchSize: Int = 100) {
            self.store = stores.pipeline
            clock = ManualWallClock()
            queue = DatabaseQueue(store: stores.queue, clock: clock, logger: quietLogger)
            var handlers = JobHandlerRegistry()
            handlers.register(
                .ingestData,
                IngestionHandler(store: stores.pipeline, options: IngestionOptions(batchSize: batchSize), clock: clock)
            )
            runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
        }

        func project(_ name: String = "p-\(UUID().uuidString.prefix(6))") async throws -> String {
            let id = UUID().uuidString.lowercased()
            try await store.createProject(Project(id: id, name: name, createdAt: clock.now()))
            return id
        }

        /// Returns the ingest job id and the queue job id.
        func enqueue(
            _ records: [JSONValue],
            project: String,
            embed: Bool = false,
            textFields: [String]? = nil
        ) async throws -> (ingest: String, job: String) {
            let ingest = UUID().uuidString.lowercased()
            try await store.createIngestJob(
                IngestJob(id: ingest, projectID: project, total: records.count, createdAt: clock.now()),
                chunks: 1
            )
            var payload: [String: JSONValue] = [
                "ingestJobId": .string(ingest), "projectId": .string(project), "records": .array(records),
                "generateEmbeddings": .bool(embed),
            ]
            if let textFields { payload["textFields"] = .array(textFields.map(JSONValue.string)) }
            let job = try await queue.enqueue(NewJob(jobType: .ingestData, payload: .object(payload))).id
            return (ingest, job)
        }

        func runNext() async throws -> JobRunner.Outcome {
            let claimed = try #require(try await queue.claimJob([.ingestData]))
            return await runner.run(claimed)
        }
    }

    private static func records(_ count: Int, from start: Int = 0) -> [JSONValue] {
        (start..<(start + count)).map { ["id": .int(Int64($0)), "text": .string("record number \($0)")] }
    }

    @Test("a record's content hash is the SHA-256 of its canonical JSON, in lowercase hex")
    func contentHash() {
        let record = NewRecord(externalID: nil, text: "x", data: ["a": 1])
        #expect(record.json == #"{"a":1}"#)
        #expect(record.contentHash == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862")
    }

    @Test("batch boundaries: every record stored once, counts and progress right", arguments: StoreKind.allCases)
    func batchBoundaries(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            for count in [0, 1, 100, 101, 250, 251] {
                let project = try await ingest.project()
                let (ingestID, jobID) = try await ingest.enqueue(Self.records(count), project: project)
                #expect(try await ingest.runNext() == .completed)
                let job = try await ingest.queue.getJob(jobID)
                #expect(job.result?["savedCount"] == .int(Int64(count)), "\(count)")
                #expect(job.result?["skippedCount"] == 0)
                #expect(job.payload == nil)
                if count > 0 {
                    #expect(
                        job.progress
                            == JobProgress(current: count, total: count, message: "stored \(count) of \(count) records")
                    )
                }
                let stored = try #require(try await stores.pipeline.ingestJob(id: ingestID))
                #expect(stored.status == .completed)
                #expect(stored.saved == count)
                #expect(stored.processed == count)
                #expect(stored.startedAt != nil && stored.completedAt != nil)
                #expect(try await stores.pipeline.projectSummary(id: project)?.recordCount == count)
            }
        }
    }

    @Test(
        "invalid records and duplicates are skipped with reasons; the same upload twice saves nothing new",
        arguments: StoreKind.allCases
    )
    func skipsAndDuplicates(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            let project = try await ingest.project()
            let upload: [JSONValue] = [
                ["text": "alpha"], ["text": "beta"], ["text": "alpha"],  // a duplicate within the upload
                "just a string", ["text": ""], ["title": 5],
                ["text": .string(String(repeating: "x", count: RecordReader.defaultMaxTextBytes + 1))],
                ["title": "from every string field", "body": "and this one"],
            ]
            let (ingestID, jobID) = try await ingest.enqueue(upload, project: project)
            #expect(try await ingest.runNext() == .completed)
            let result = try #require(try await ingest.queue.getJob(jobID).result)
            #expect(result["savedCount"] == 3)
            #expect(result["skippedCount"] == 5)
            #expect(result["duplicateCount"] == 1)
            guard case .array(let skipped)? = result["skipped"] else {
                Issue.record("no skipped list: \(result.jsonText)")
                return
            }
            #expect(skipped.compactMap { $0["index"]?.intValue } == [3, 4, 5, 6])
            #expect(
                skipped.compactMap { $0["reason"]?.stringValue } == [
                    "not a JSON object", "no text to embed", "no text to embed",
                    "text is 1048577 bytes, more than the limit",
                ]
            )
            #expect(try await stores.pipeline.ingestJob(id: ingestID)?.skipped == 5)
            // A NUL character cannot reach a store at all (PostgreSQL's jsonb refuses it): enqueue says so.
            await #expect(throws: QueueError.self) {
                _ = try await ingest.enqueue([["text": "nul \u{0} inside"]], project: project)
            }
            #expect(RecordReader().read(["text": "nul \u{0} inside"]) == .failure(.nulCharacter))

            let (_, again) = try await ingest.enqueue(upload, project: project)
            #expect(try await ingest.runNext() == .completed)
            #expect(try await ingest.queue.getJob(again).result?["savedCount"] == 0)
            #expect(try await stores.pipeline.projectSummary(id: project)?.recordCount == 3)

            // Another project stores the same records again: duplicates are per project.
            let other = try await ingest.project()
            let (_, elsewhere) = try await ingest.enqueue(upload, project: other)
            #expect(try await ingest.runNext() == .completed)
            #expect(try await ingest.queue.getJob(elsewhere).result?["savedCount"] == 3)
        }
    }

    @Test("a retry after a crash resumes after the last stored batch", arguments: StoreKind.allCases)
    func resumeAfterCrash(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            let project = try await ingest.project()
            let records = Self.records(250)
            let (ingestID, jobID) = try await ingest.enqueue(records, project: project)
            // The first attempt stored two batches, then its process died.
            let first = try #require(try await ingest.queue.claimJob([.ingestData]))
            try await stores.pipeline.startIngestJob(id: ingestID, now: ingest.clock.now())
            let reader = RecordReader()
            for batch in [0..<100, 100..<200] {
                let valid = records[batch].compactMap { try? reader.read($0).get() }
                _ = try await stores.pipeline.storeBatch(
                    valid,
                    invalid: 0,
                    handled: batch.count,
                    ingestJobID: ingestID,
                    projectID: project,
                    chunk: 0,
                    processedAfter: batch.upperBound,
                    now: ingest.clock.now()
                )
            }
            ingest.clock.advance(by: .seconds(301))
            #expect(try await ingest.queue.rescueExpiredJobs().requeued == [jobID])
            #expect(try await ingest.queue.getJob(jobID).attempts == 1, "the crashed attempt counts")
            _ = first
            #expect(try await ingest.runNext() == .completed)
            let job = try await ingest.queue.getJob(jobID)
            #expect(job.result?["savedCount"] == 250)
            #expect(job.result?["duplicateCount"] == nil, "nothing was stored twice or even tried twice")
            #expect(try await stores.pipeline.projectSummary(id: project)?.recordCount == 250)
        }
    }

    @Test("text fields, external ids, and a VECTORIZE job when embeddings are asked for", arguments: StoreKind.allCases)
    func textFieldsAndFollowUp(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            let project = try await ingest.project()
            let (_, jobID) = try await ingest.enqueue(
                [["id": "a-1", "title": "Title", "body": "Body", "other": "ignored"], ["id": 7, "title": "only"]],
                project: project,
                embed: true,
                textFields: ["title", "body"]
            )
            #expect(try await ingest.runNext() == .completed)
            let result = try #require(try await ingest.queue.getJob(jobID).result)
            #expect(result["savedCount"] == 2)
            #expect(result["vectorizeQueued"] == true)
            let queued = try await ingest.queue.listJobs(JobFilter(status: .pending, jobType: .vectorize))
            let follow = try #require(queued.first)
            #expect(queued.count == 1)
            #expect(follow.payload == ["projectId": .string(project)])
        }
    }

    @Test(
        "projects: unique names, counts; ingest jobs need a project; bad payloads fail clearly",
        arguments: StoreKind.allCases
    )
    func projectsAndBadPayloads(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            let id = try await ingest.project("alpha")
            await #expect(throws: PipelineError.self) { try await ingest.project("alpha") }
            _ = try await ingest.project("beta")
            #expect(try await stores.pipeline.projects().map(\.project.name) == ["alpha", "beta"])
            #expect(try await stores.pipeline.projectSummary(id: id)?.recordCount == 0)
            #expect(try await stores.pipeline.projectSummary(id: "nope") == nil)
            await #expect(throws: PipelineError.self) {
                try await stores.pipeline.createIngestJob(
                    IngestJob(id: "x", projectID: "nope", total: 0, createdAt: ingest.clock.now()),
                    chunks: 1
                )
            }
            let bad = try await ingest.queue.enqueue(
                NewJob(jobType: .ingestData, payload: ["projectId": .string(id)], maxAttempts: 1)
            ).id
            #expect(try await ingest.runNext() == .failed(.failed))
            #expect(
                try await ingest.queue.getJob(bad).errors.first?.message
                    == "INGEST_DATA payload needs ingestJobId, projectId and a records array"
            )
        }
    }

    @Test(
        "an upload in three parts: the job completes with the last part, and only then asks for embeddings",
        arguments: StoreKind.allCases
    )
    func parts(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let ingest = Ingest(stores: stores)
            let project = try await ingest.project()
            let ingestID = UUID().uuidString.lowercased()
            let all = Self.records(250)
            try await stores.pipeline.createIngestJob(
                IngestJob(id: ingestID, projectID: project, total: 250, createdAt: ingest.clock.now()),
                chunks: 3
            )
            var jobs: [String] = []
            for (chunk, range) in [0..<100, 100..<200, 200..<250].enumerated() {
                let payload: JSONValue = [
                    "ingestJobId": .string(ingestID), "projectId": .string(project),
                    "records": .array(Array(all[range])), "generateEmbeddings": true, "chunk": .int(Int64(chunk)),
                ]
                jobs.append(try await ingest.queue.enqueue(NewJob(jobType: .ingestData, payload: payload)).id)
            }
            for index in 0..<3 {
                #expect(try await ingest.runNext() == .completed)
                let job = try await stores.pipeline.ingestJob(id: ingestID)
                #expect(job?.status == (index == 2 ? .completed : .processing))
                let result = try await ingest.queue.getJob(jobs[index]).result
                #expect((result?["vectorizeQueued"] != nil) == (index == 2), "VECTORIZE only after the last part")
            }
            let job = try #require(try await stores.pipeline.ingestJob(id: ingestID))
            #expect(job.saved == 250)
            #expect(job.processed == 250)
            #expect(try await ingest.queue.getJob(jobs[1]).result?["savedCount"] == 100)
            #expect(try await ingest.queue.getJob(jobs[2]).result?["savedCount"] == 50)
        }
    }

    @Test("the last failed attempt marks the ingest job FAILED")
    func finalFailure() async throws {
        try await withServerStore(.sqlite) { stores in
            let ingest = Ingest(stores: stores)
            let project = try await ingest.project()
            let ingestID = UUID().uuidString
            try await stores.pipeline.createIngestJob(
                IngestJob(id: ingestID, projectID: project, total: 1, createdAt: ingest.clock.now()),
                chunks: 1
            )
            // The payload names a different project than its ingest job's, one that does not exist: the records
            // cannot be stored.
            _ = try await ingest.queue.enqueue(
                NewJob(
                    jobType: .ingestData,
                    payload: [
                        "ingestJobId": .string(ingestID), "projectId": "missing", "records": [["text": "a"]],
                    ],
                    maxAttempts: 1
                )
            )
            #expect(try await ingest.runNext() == .failed(.failed))
            let job = try #require(try await stores.pipeline.ingestJob(id: ingestID))
            #expect(job.status == .failed)
            #expect(job.error?.isEmpty == false)
        }
    }
}
