import Foundation
import GRDB
import PostgresNIO
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluicePostgres
import SluiceSQLite
import SluiceStores
import Testing

/// Records that stay in sync with their source: identity by external id (or content), updates in place that
/// re-embed only changed chunks, deletes, and search over chunks. Every case on every store.
@Suite("Record sync", .timeLimit(.minutes(5)))
struct RecordSyncTests {
    /// Chunks of at most 40 characters, so that a short test text has several.
    static let reader = RecordReader(chunker: Chunker(size: 40, overlap: 0))
    static let embedder = LocalEmbedder(dimensions: 32)

    /// One project, and a way to store batches into it and embed what waits.
    struct Project {
        let store: any PipelineStore
        let id = UUID().uuidString.lowercased()

        init(_ store: any PipelineStore) async throws {
            self.store = store
            try await store.createProject(
                SluicePipeline.Project(id: id, name: "sync-\(id.prefix(6))", createdAt: Date())
            )
        }

        /// Stores `records` as one upload of one part; returns what it did.
        func upload(_ records: [JSONValue]) async throws -> BatchOutcome {
            let ingest = UUID().uuidString.lowercased()
            try await store.createIngestJob(
                IngestJob(id: ingest, projectID: id, total: records.count, createdAt: Date()),
                chunks: 1
            )
            let read = try records.map { try RecordSyncTests.reader.read($0).get() }
            return try await store.storeBatch(
                read,
                invalid: 0,
                handled: records.count,
                ingestJobID: ingest,
                projectID: id,
                chunk: 0,
                processedAfter: records.count,
                now: Date()
            )
        }

        /// Embeds every chunk that waits; returns their texts.
        @discardableResult
        func embedPending() async throws -> [String] {
            let pending = try await store.unembeddedChunks(projectID: id, limit: 1_000)
            guard !pending.isEmpty else { return [] }
            let vectors = try await RecordSyncTests.embedder.embed(pending.map(\.text))
            try await store.saveEmbeddings(
                zip(pending, vectors).map { (id: $0.id, vector: $1) },
                projectID: id,
                model: RecordSyncTests.embedder.model,
                dimensions: RecordSyncTests.embedder.dimensions,
                now: Date()
            )
            return pending.map(\.text).sorted()
        }

        func search(_ text: String, k: Int = 10) async throws -> [SearchHit] {
            let query = try await RecordSyncTests.embedder.embed([text])[0]
            return try await store.nearest(projectID: id, to: query, model: RecordSyncTests.embedder.model, limit: k)
        }
    }

    static let longText = "The first sentence is here. The second one follows it. The third closes the record."

    @Test(
        "same id and content: unchanged; new content: updated in place, only changed chunks embedded again",
        arguments: StoreKind.allCases
    )
    func updates(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await Project(stores.pipeline)
            let first = try await project.upload([
                ["id": "a", "text": .string(Self.longText)], ["id": "b", "text": "a short one"],
            ])
            #expect(first == BatchOutcome(inserted: 2))
            let chunksOfA = Self.reader.chunker.chunks(Self.longText)
            #expect(chunksOfA.count == 3)
            #expect(try await project.embedPending().count == chunksOfA.count + 1)

            // The same upload again: nothing changes, nothing waits for a vector.
            let again = try await project.upload([
                ["id": "a", "text": .string(Self.longText)], ["id": "b", "text": "a short one"],
            ])
            #expect(again == BatchOutcome(unchanged: 2))
            #expect(try await project.embedPending().isEmpty)

            // Record a changes its last sentence: it is updated, and only its last chunk is embedded again.
            let edited = Self.longText.replacingOccurrences(of: "The third closes", with: "A new third ends")
            let update = try await project.upload([["id": "a", "text": .string(edited)]])
            #expect(update == BatchOutcome(updated: 1))
            #expect(try await project.embedPending() == [Self.reader.chunker.chunks(edited).last!])
            let summary = try #require(try await stores.pipeline.projectSummary(id: project.id))
            #expect(summary.recordCount == 2, "updated in place, not a second row")
            #expect(summary.embeddedCount == 2)

            // Search sees the new text, not the old one, and each record once.
            let hits = try await project.search("A new third ends the record.")
            #expect(hits.first?.externalID == "a")
            #expect(hits.first?.text == Self.reader.chunker.chunks(edited).last)
            #expect(hits.first?.chunk == 2)
            #expect(Set(hits.map(\.id)).count == hits.count, "no record twice")
            #expect(hits.count == 2)
            #expect(hits.first?.data["text"] == .string(edited))

            // A shorter text drops the chunks past its end.
            #expect(try await project.upload([["id": "a", "text": "now short"]]) == BatchOutcome(updated: 1))
            #expect(try await project.embedPending() == ["now short"])
            #expect(try await project.search("The second one follows it.").allSatisfy { $0.chunk == 0 })
        }
    }

    @Test(
        "without an id the content is the identity; with ids two records may hold the same text",
        arguments: StoreKind.allCases
    )
    func identity(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await Project(stores.pipeline)
            #expect(
                try await project.upload([["text": "same"], ["text": "same"]])
                    == BatchOutcome(inserted: 1, unchanged: 1)
            )
            #expect(try await project.upload([["text": "same"]]) == BatchOutcome(unchanged: 1))
            #expect(
                try await project.upload([["id": 1, "text": "same"], ["id": 2, "text": "same"]])
                    == BatchOutcome(inserted: 2)
            )
            #expect(try await stores.pipeline.projectSummary(id: project.id)?.recordCount == 3)
            // A repeated id within one upload counts once, as its first occurrence.
            #expect(
                try await project.upload([["id": 3, "text": "first"], ["id": 3, "text": "second"]])
                    == BatchOutcome(inserted: 1, unchanged: 1)
            )
            try await project.embedPending()
            #expect(try await project.search("first").first?.text == "first")
        }
    }

    @Test("deleted records leave search at once; unknown ids are not reported deleted", arguments: StoreKind.allCases)
    func deletes(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await Project(stores.pipeline)
            _ = try await project.upload([
                ["id": "keep", "text": "alpha beta"], ["id": "drop", "text": "alpha gamma"],
                ["id": "long", "text": .string(Self.longText)],
            ])
            try await project.embedPending()
            #expect(try await project.search("alpha gamma").first?.externalID == "drop")
            let deleted = try await stores.pipeline.deleteRecords(
                projectID: project.id,
                externalIDs: ["drop", "long", "never-was", "drop"]
            )
            #expect(deleted == ["drop", "long"])
            #expect(try await project.search("alpha gamma").map(\.externalID) == ["keep"])
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project.id, limit: 10).isEmpty)
            #expect(try await stores.pipeline.projectSummary(id: project.id)?.recordCount == 1)
            // Another project's record with the same id is its own.
            let other = try await Project(stores.pipeline)
            _ = try await other.upload([["id": "keep", "text": "elsewhere"]])
            #expect(try await stores.pipeline.deleteRecords(projectID: project.id, externalIDs: ["keep"]) == ["keep"])
            #expect(try await stores.pipeline.projectSummary(id: other.id)?.recordCount == 1)
            // Deleted, then uploaded again: a new record.
            #expect(try await project.upload([["id": "drop", "text": "alpha gamma"]]) == BatchOutcome(inserted: 1))
        }
    }

    @Test(
        "a sync upload deletes what it did not carry only when its last part completes, and never when it fails",
        arguments: StoreKind.allCases
    )
    func sync(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await Project(stores.pipeline)
            _ = try await project.upload([
                ["id": "a", "text": "one"], ["id": "b", "text": "two"], ["id": "c", "text": "three"],
                ["text": "no id at all"],
            ])
            let store = stores.pipeline
            func syncUpload(_ parts: [[JSONValue]], finish: Bool) async throws -> IngestJob {
                let ingest = UUID().uuidString.lowercased()
                try await store.createIngestJob(
                    IngestJob(
                        id: ingest,
                        projectID: project.id,
                        total: parts.joined().count,
                        sync: true,
                        createdAt: Date()
                    ),
                    chunks: parts.count
                )
                for (index, part) in parts.enumerated() {
                    _ = try await store.storeBatch(
                        try part.map { try RecordSyncTests.reader.read($0).get() },
                        invalid: 0,
                        handled: part.count,
                        ingestJobID: ingest,
                        projectID: project.id,
                        chunk: index,
                        processedAfter: part.count,
                        now: Date()
                    )
                    guard finish || index < parts.count - 1 else { break }
                    let (_, complete) = try await store.finishIngestChunk(
                        ingestJobID: ingest,
                        chunk: index,
                        now: Date()
                    )
                    #expect(complete == (index == parts.count - 1))
                    if !complete {
                        #expect(try await store.projectSummary(id: project.id)?.recordCount == 4, "nothing goes early")
                    }
                }
                if !finish { try await store.failIngestJob(id: ingest, error: "the upload broke", now: Date()) }
                return try #require(try await store.ingestJob(id: ingest))
            }
            // Failed after its first part: nothing is deleted.
            let failed = try await syncUpload(
                [[["id": "a", "text": "one"]], [["id": "b", "text": "two"]]],
                finish: false
            )
            #expect(failed.status == .failed && failed.deleted == 0)
            #expect(try await store.projectSummary(id: project.id)?.recordCount == 4)

            // Complete, in two parts: c and the record without an id are not carried, and go at the end.
            let done = try await syncUpload(
                [[["id": "a", "text": "one"]], [["id": "b", "text": "two, changed"], ["id": "d", "text": "four"]]],
                finish: true
            )
            #expect(done.status == .completed)
            #expect(done.deleted == 2)
            #expect(done.updated == 1 && done.unchanged == 1 && done.saved == 2)
            #expect(try await store.projectSummary(id: project.id)?.recordCount == 3)
            #expect(try await store.deleteRecords(projectID: project.id, externalIDs: ["c"]).isEmpty, "c is gone")
            // Finishing the last part again (a retry) deletes nothing more.
            _ = try await store.finishIngestChunk(ingestJobID: done.id, chunk: 1, now: Date())
            #expect(try await store.projectSummary(id: project.id)?.recordCount == 3)
        }
    }

    /// Makes the database refuse chunks whose text starts with EXPLODE, as a crash in the middle of a write would.
    static func refuseChunks(_ store: any QueueStore, _ on: Bool) async throws {
        switch store {
        case let postgres as PostgresJobStore:
            let statements =
                on
                ? [
                    """
                    CREATE OR REPLACE FUNCTION refuse_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'refused by the test'; END $$
                    """,
                    """
                    CREATE TRIGGER refuse_chunk BEFORE INSERT ON chunks FOR EACH ROW
                    WHEN (NEW.text LIKE 'EXPLODE%') EXECUTE FUNCTION refuse_chunk()
                    """,
                ] : ["DROP TRIGGER refuse_chunk ON chunks"]
            for statement in statements {
                try await postgres.client.query(PostgresQuery(unsafeSQL: statement), logger: quietLogger)
            }
        case let sqlite as SQLiteJobStore:
            try await sqlite.database.pool.write { db in
                try db.execute(
                    sql: on
                        ? """
                        CREATE TRIGGER refuse_chunk BEFORE INSERT ON chunks WHEN NEW.text LIKE 'EXPLODE%'
                        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                        """
                        : "DROP TRIGGER refuse_chunk"
                )
            }
        default:
            throw TestSetupError("not a SQL store")
        }
    }

    @Test(
        "an update that fails half-way leaves the record in its old version with its vectors",
        arguments: StoreKind.sql
    )
    func failedUpdate(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await Project(stores.pipeline)
            let old = "First part stays the same here. Second part is old."
            _ = try await project.upload([["id": "a", "text": .string(old)]])
            #expect(try await project.embedPending().count == 2)
            let key = try Self.reader.read(["id": "a", "text": .string(old)]).get().key
            let before = try #require(
                try await stores.pipeline.existingRecords(projectID: project.id, keys: [key])[key]
            )

            try await Self.refuseChunks(stores.queue, true)
            let edited = "First part stays the same here. EXPLODE now."
            await #expect(throws: (any Error).self) {
                _ = try await project.upload([["id": "a", "text": .string(edited)]])
            }
            let after = try #require(try await stores.pipeline.existingRecords(projectID: project.id, keys: [key])[key])
            #expect(after.contentHash == before.contentHash, "the old version")
            #expect(after.chunks.map(\.id) == before.chunks.map(\.id), "its chunks, with their vectors")
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project.id, limit: 10).isEmpty)
            #expect(try await project.search("Second part is old.").first?.text == "Second part is old.")

            // Once the database takes it, the same upload (a retried part) finishes the update.
            try await Self.refuseChunks(stores.queue, false)
            #expect(try await project.upload([["id": "a", "text": .string(edited)]]) == BatchOutcome(updated: 1))
            #expect(try await project.embedPending() == ["EXPLODE now."])
        }
    }
}
