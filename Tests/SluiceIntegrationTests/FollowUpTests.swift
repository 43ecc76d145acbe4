import Foundation
import GRDB
import PostgresNIO
import SluiceCore
import SluicePipeline
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

@testable import SluicePostgres
@testable import SluiceSQLite

/// Follow-up jobs (VECTORIZE after an ingest, a VECTORIZE continuation) cannot be lost: they commit with the job's
/// completion, and the reconciler queues what a crash of an older Sluice or a race left behind.
@Suite("Follow-up jobs", .timeLimit(.minutes(5)))
struct FollowUpTests {
    /// A project with `count` stored records whose upload asked for embeddings, its ingest finished.
    private func project(_ store: any PipelineStore, records count: Int) async throws -> String {
        try await TestProjects.make(store, records: count, generateEmbeddings: true, finished: true)
    }

    private func runner(_ queue: SluiceCore.DatabaseQueue, _ store: any PipelineStore) -> JobRunner {
        var handlers = JobHandlerRegistry()
        handlers.register(
            .vectorize,
            serializeBy: "projectId",
            VectorizationHandler(store: store, provider: ScriptedProvider())
        )
        return JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
    }

    struct InjectedFault: Error {}

    @Test(
        "a crash between completing VECTORIZE and queueing its continuation still ends with every record embedded",
        arguments: StoreKind.sql
    )
    func reconcilerRecoversLostFollowUp(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            // What a Sluice that wrote the two separately did when it died between them: the job is COMPLETED, and
            // its continuation never written.
            let faults = Atomic<Int>(0)
            let faulty = InterceptingJobStore(
                stores.queue,
                completeWithFollowUps: { inner, lease, result, _, now in
                    faults.add(1, ordering: .relaxed)
                    _ = try await inner.complete(lease, result: result, now: now)
                    throw InjectedFault()
                }
            )
            let queue = SluiceCore.DatabaseQueue(store: faulty, logger: quietLogger)
            let project = try await project(stores.pipeline, records: 300)
            let first = try await VectorizationHandler.enqueue(projectID: project, on: queue)
            #expect(
                await runner(queue, stores.pipeline).run(try #require(try await queue.claimJob([.vectorize])))
                    == .unrecorded
            )
            #expect(faults.load(ordering: .relaxed) == 1, "the continuation went through the faulty path")
            #expect(try await queue.getJob(first.id).status == .completed)
            #expect(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).isEmpty)
            #expect(try await stores.pipeline.unembeddedChunks(projectID: project, limit: 100).count == 50)

            let healthy = SluiceCore.DatabaseQueue(store: stores.queue, logger: quietLogger)
            let reconciler = VectorizationReconciler(store: stores.pipeline, queue: healthy, logger: quietLogger)
            #expect(try await reconciler.run() == [project])
            #expect(try await reconciler.run().isEmpty, "one VECTORIZE waits already: nothing more is queued")
            #expect(
                await runner(healthy, stores.pipeline).run(try #require(try await healthy.claimJob([.vectorize])))
                    == .completed
            )
            #expect(try await stores.pipeline.projectSummary(id: project)?.embeddedCount == 300)
            #expect(try await reconciler.run().isEmpty, "nothing left to embed")
            #expect(try await healthy.listJobs(JobFilter(status: .pending)).isEmpty)
        }
    }

    @Test(
        "the reconciler leaves alone projects that do not embed, and projects whose ingest is still running",
        arguments: StoreKind.sql
    )
    func reconcilerScope(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let queue = SluiceCore.DatabaseQueue(store: stores.queue, logger: quietLogger)
            // Records stored by an upload without embeddings.
            let plain = UUID().uuidString.lowercased()
            try await stores.pipeline.createProject(Project(id: plain, name: "plain", createdAt: Date()))
            let ingest = UUID().uuidString.lowercased()
            try await stores.pipeline.createIngestJob(
                IngestJob(id: ingest, projectID: plain, total: 1, createdAt: Date()),
                chunks: 1
            )
            let record = try RecordReader().read(["text": "x"]).get()
            _ = try await stores.pipeline.storeBatch(
                [record],
                invalid: 0,
                handled: 1,
                ingestJobID: ingest,
                projectID: plain,
                chunk: 0,
                processedAfter: 1,
                now: Date()
            )
            _ = try await stores.pipeline.finishIngestChunk(ingestJobID: ingest, chunk: 0, now: Date())
            // An upload asking for embeddings, still running: it queues VECTORIZE itself when its last part ends.
            let running = UUID().uuidString.lowercased()
            try await stores.pipeline.createProject(Project(id: running, name: "running", createdAt: Date()))
            try await stores.pipeline.createIngestJob(
                IngestJob(id: "r", projectID: running, total: 2, createdAt: Date()),
                chunks: 2,
                generateEmbeddings: true
            )
            _ = try await stores.pipeline.storeBatch(
                [record],
                invalid: 0,
                handled: 1,
                ingestJobID: "r",
                projectID: running,
                chunk: 0,
                processedAfter: 1,
                now: Date()
            )
            let reconciler = VectorizationReconciler(store: stores.pipeline, queue: queue, logger: quietLogger)
            #expect(try await reconciler.run().isEmpty)
            _ = try await stores.pipeline.finishIngestChunk(ingestJobID: "r", chunk: 0, now: Date())
            _ = try await stores.pipeline.finishIngestChunk(ingestJobID: "r", chunk: 1, now: Date())
            #expect(try await reconciler.run() == [running])
            // A re-embed turns embedding on for a project.
            _ = try await stores.pipeline.clearEmbeddings(projectID: plain)
            #expect(try await reconciler.run() == [plain])
        }
    }

    @Test(
        "a database error in the completing transaction leaves the job unfinished and queues nothing",
        arguments: StoreKind.sql
    )
    func failedTransactionRollsBack(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            // A trigger refuses jobs of one type, so the follow-up's insert fails inside the real transaction.
            try await Self.refuseInserts(ofType: "EXPLODE", in: store)
            let clock = ManualWallClock()
            let queue = SluiceCore.DatabaseQueue(store: store, clock: clock, logger: quietLogger)
            let id = try await queue.enqueue(NewJob(jobType: .ingestData)).id
            let claimed = try #require(try await queue.claimJob([.ingestData]))
            await #expect(throws: (any Error).self) {
                try await queue.completeJob(
                    claimed.lease,
                    result: ["n": 1],
                    followUps: [NewJob(jobType: .vectorize), NewJob(jobType: "EXPLODE")]
                )
            }
            let job = try await queue.getJob(id)
            #expect(job.status == .processing, "the completion was rolled back with the failed insert")
            #expect(job.result == nil)
            #expect(try await queue.listJobs(JobFilter(jobType: .vectorize)).isEmpty, "no follow-up half-written")

            clock.advance(by: .seconds(301))
            #expect(try await queue.rescueExpiredJobs().requeued == [id])
            let again = try #require(try await queue.claimJob([.ingestData]))
            try await queue.completeJob(again.lease, result: ["n": 2], followUps: [NewJob(jobType: .vectorize)])
            #expect(try await queue.getJob(id).status == .completed)
            #expect(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).count == 1)
        }
    }

    private static func refuseInserts(ofType type: String, in store: any QueueStore) async throws {
        switch store {
        case let postgres as PostgresJobStore:
            for statement in [
                """
                CREATE FUNCTION refuse_job() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused by the test'; END $$
                """,
                """
                CREATE TRIGGER refuse_job BEFORE INSERT ON job_queue FOR EACH ROW
                WHEN (NEW.job_type = '\(type)') EXECUTE FUNCTION refuse_job()
                """,
            ] {
                try await postgres.client.query(PostgresQuery(unsafeSQL: statement), logger: quietLogger)
            }
        case let sqlite as SQLiteJobStore:
            try await sqlite.database.pool.write { db in
                try db.execute(
                    sql: """
                        CREATE TRIGGER refuse_job BEFORE INSERT ON job_queue WHEN NEW.job_type = '\(type)'
                        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                        """
                )
            }
        default:
            Issue.record("not a SQL store")
        }
    }
}
