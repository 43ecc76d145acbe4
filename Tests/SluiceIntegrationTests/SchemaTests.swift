import Foundation
import GRDB
import PostgresNIO
import SluiceCore
import SluicePipeline
import SluicePostgres
import Testing

@testable import SluiceSQLite
@testable import SluiceStores

@Suite("Schema and migrations", .timeLimit(.minutes(5)))
struct SchemaTests {
    @Test("migrations are recorded, idempotent, and named alike on every SQL store", arguments: StoreKind.sql)
    func migrationsAreIdempotent(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            #expect(try await store.migrate().isEmpty, "withStore migrated already; a second run applies nothing")
            let status = try await store.schemaStatus()
            #expect(status.isCurrent)
            #expect(status.applied.contains("20261129000000_create_job_queue"))
            #expect(status.applied.contains("20260206000000_enable_pgvector_and_fix_embedding_type"))
            // Applied in list order, not name order: the reference's 20260206… migration needs the tables of the
            // 20261129… ones, so it comes after them.
            let pgvector = status.applied.firstIndex(of: "20260206000000_enable_pgvector_and_fix_embedding_type")
            let records = status.applied.firstIndex(of: "20261129110000_create_projects_and_records")
            #expect(pgvector != nil && records != nil && pgvector! > records!)
        }
        // Both stores know the same migrations, in the same order.
        let sqlite = try await withStore(.sqlite) { store, _ in try await store.schemaStatus().applied }
        let postgres = try await withStore(.postgres) { store, _ in try await store.schemaStatus().applied }
        #expect(sqlite == postgres)
    }

    @Test(
        "a fresh database reports its pending migrations and refuses queue work until migrated",
        arguments: StoreKind.sql
    )
    func freshDatabase(kind: StoreKind) async throws {
        func check(_ url: String) async throws {
            try await withJobStore(try StoreSettings(url: url), logger: quietLogger) { store in
                let status = try await store.schemaStatus()
                #expect(status.applied.isEmpty)
                #expect(!status.pending.isEmpty)
                let outdated = #expect(throws: QueueError.self) { try status.requireCurrent() }
                #expect(outdated?.code == .schemaOutOfDate)
                #expect(outdated?.message.contains("sluice migrate") == true)

                let unmigrated = await #expect(throws: QueueError.self) { try await store.stats() }
                #expect(unmigrated?.code == .schemaOutOfDate)

                #expect(try await store.migrate() == status.pending)
                #expect(try await store.schemaStatus().isCurrent)
            }
        }
        switch kind {
        case .sqlite: try await check("sqlite:\(TestDatabases.sqlitePath())")
        default: try await TestDatabases.withEmptyPostgres { url, _ in try await check(url) }
        }
    }

    @Test("a database migrated by a newer Sluice is reported, not silently used")
    func unknownMigration() async throws {
        let status = SchemaStatus(
            known: [Migration("20261129000000_create_job_queue", [])],
            applied: ["20261129000000_create_job_queue", "20990101000000_from_the_future"]
        )
        #expect(status.unknown == ["20990101000000_from_the_future"])
        let error = #expect(throws: QueueError.self) { try status.requireCurrent() }
        #expect(error?.message.contains("upgrade Sluice") == true)
    }

    @Test("PostgreSQL migrated by a newer Sluice: migrate and the CLI refuse with a clear message")
    func newerSchemaOnPostgres() async throws {
        try await withStore(.postgres) { store, url in
            let postgres = try #require(store as? PostgresJobStore)
            try await postgres.client.query(
                "INSERT INTO sluice_migrations (name) VALUES (\("20990101000000_from_the_future"))"
            )
            let refused = await #expect(throws: QueueError.self) { try await store.migrate() }
            #expect(refused?.code == .schemaOutOfDate)
            #expect(refused?.message.contains("20990101000000_from_the_future") == true)

            let cli = try await runProduct("sluice", ["stats", "--database-url", try #require(url)])
            #expect(cli.status == 1)
            #expect(cli.stderr.contains("upgrade Sluice"), "\(cli.stderr)")
        }
    }

    @Test("the pgvector migration turns a double precision[] column into vector, and the chunks migration keeps it")
    func pgvectorMigration() async throws {
        try await TestDatabases.withEmptyPostgres { url, _ in
            let configuration = try PostgresStoreConfiguration(url: url)
            let all = PostgresSchema.migrations
            let pgvector = try #require(
                all.firstIndex { $0.name == "20260206000000_enable_pgvector_and_fix_embedding_type" }
            )
            // A database migrated up to just before the reference's migration.
            func withStore<T: Sendable>(_ count: Int, _ body: (PostgresJobStore) async throws -> T) async throws -> T {
                let store = PostgresJobStore(configuration: configuration, migrations: Array(all.prefix(count)))
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await store.run() }
                    defer { group.cancelAll() }
                    return try await body(store)
                }
            }
            try await withStore(pgvector) { store in
                _ = try await store.migrate()
                // A column in the old system's type, with data.
                try await store.client.query("ALTER TABLE records ADD COLUMN embedding double precision[]")
                try await store.client.query("INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', now())")
                try await store.client.query(
                    """
                    INSERT INTO records (id, project_id, text, data, content_hash, created_at, embedding)
                    VALUES ('r', 'p', 'hello', '{}', 'h', now(), ARRAY[0.25, -0.5, 1.0]::double precision[])
                    """
                )
            }
            try await withStore(pgvector + 1) { store in
                #expect(try await store.migrate() == ["20260206000000_enable_pgvector_and_fix_embedding_type"])
                let rows = try await store.client.query(
                    """
                    SELECT format_type(atttypid, atttypmod), (SELECT embedding::text FROM records WHERE id = 'r')
                    FROM pg_attribute WHERE attrelid = 'records'::regclass AND attname = 'embedding'
                    """
                ).collect()
                let (type, value) = try #require(rows.first).decode((String, String).self)
                #expect(type == "vector")
                #expect(value == "[0.25,-0.5,1]")
            }
            try await withStore(all.count) { store in
                _ = try await store.migrate()
                let rows = try await store.client.query(
                    "SELECT embedding::text, position, text FROM chunks WHERE record_id = 'r'"
                ).collect()
                let (vector, position, text) = try #require(rows.first).decode((String, Int, String).self)
                #expect(vector == "[0.25,-0.5,1]", "the record's vector is its first chunk's")
                #expect(position == 0 && text == "hello")
            }
        }
    }

    @Test("a PostgreSQL without pgvector stops migration with the reference's fix in the message")
    func missingPgvector() async throws {
        try await TestDatabases.withEmptyPostgres { url, name in
            // PostgreSQL 18 looks for extensions along extension_control_path: pointing it nowhere hides pgvector from
            // this database only.
            try await withJobStore(try StoreSettings(url: url), logger: quietLogger) { store in
                let client = try #require(store as? PostgresJobStore).client
                try await client.query(
                    PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) SET extension_control_path = '/nonexistent'")
                )
            }
            let refusal = try await withJobStore(try StoreSettings(url: url), logger: quietLogger) { store in
                do {
                    _ = try await store.migrate()
                    return "migrated"
                } catch {
                    return "\(error)"
                }
            }
            #expect(refusal.contains("pgvector is not installed"), "\(refusal)")
            #expect(refusal.contains("CREATE EXTENSION IF NOT EXISTS vector;"))
            // Nothing of the failed migration stayed behind (it ran in one transaction).
            let status = try await withJobStore(try StoreSettings(url: url), logger: quietLogger) { store in
                try await store.schemaStatus()
            }
            #expect(status.applied.isEmpty)
        }
    }

    @Test("the job counts migration counts the jobs already in the table", arguments: StoreKind.sql)
    func countsMigrationBackfills(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let queue = SluiceCore.DatabaseQueue(store: store, logger: quietLogger)
            try await queue.enqueue(contentsOf: (0..<7).map { _ in NewJob(jobType: .ingestData) })
            try await queue.enqueue(contentsOf: (0..<2).map { _ in NewJob(jobType: .vectorize) })
            let claimed = try await queue.claimJobs([.ingestData], limit: 3)
            try await queue.completeJob(claimed[0].lease)
            let expected = StatusCounts(pending: 6, processing: 2, completed: 1)
            #expect(try await queue.getQueueStats().total == expected)

            // Back to the schema before the migration, with the jobs still there and their counts gone.
            let migration = "20261129120000_count_jobs_by_type_and_state"
            let undo = [
                "DROP TRIGGER job_queue_count_inserts\(kind == .postgres ? " ON job_queue" : "")",
                "DROP TRIGGER job_queue_count_updates\(kind == .postgres ? " ON job_queue" : "")",
                "DROP TRIGGER job_queue_count_deletes\(kind == .postgres ? " ON job_queue" : "")",
                "DROP TABLE job_queue_counts",
                "DELETE FROM sluice_migrations WHERE name = '\(migration)'",
            ]
            switch store {
            case let postgres as PostgresJobStore:
                for statement in ["DROP TRIGGER job_queue_count_truncates ON job_queue"] + undo
                    + [
                        "DROP FUNCTION job_queue_count_statement()",
                        "DROP FUNCTION IF EXISTS job_queue_count_row()",
                        "DROP FUNCTION IF EXISTS job_queue_count_update_statement()",
                        "DELETE FROM sluice_migrations WHERE name = '20261129120200_count_state_changes_per_statement'",
                    ]
                {
                    try await postgres.client.query(PostgresQuery(unsafeSQL: statement), logger: quietLogger)
                }
            case let sqlite as SQLiteJobStore:
                try await sqlite.database.pool.write { db in for statement in undo { try db.execute(sql: statement) } }
            default:
                Issue.record("not a SQL store")
            }
            // PostgreSQL also re-applies the later migration that replaced the row trigger for updates.
            let pending =
                kind == .postgres ? [migration, "20261129120200_count_state_changes_per_statement"] : [migration]
            #expect(try await store.schemaStatus().pending == pending)

            #expect(try await store.migrate() == pending)
            #expect(try await queue.getQueueStats().total == expected)
            #expect(try await queue.getQueueStats().byType[.vectorize] == StatusCounts(pending: 2))
            try await queue.completeJob(claimed[1].lease)
            #expect(try await queue.getQueueStats().total.completed == 2, "and keeps counting after it")
        }
    }

    @Test("PostgreSQL counts per connection: stats fold the slots of ended connections into one, losing nothing")
    func countsOfEndedConnectionsAreFolded() async throws {
        try await withStore(.postgres) { store, url in
            let postgres = try #require(store as? PostgresJobStore)
            func slots() async throws -> Set<Int> {
                var slots: Set<Int> = []
                for try await slot in try await postgres.client.query(
                    "SELECT DISTINCT slot FROM job_queue_counts",
                    logger: quietLogger
                ).decode(Int.self) {
                    slots.insert(slot)
                }
                return slots
            }
            let queue = SluiceCore.DatabaseQueue(store: store, logger: quietLogger)
            try await queue.enqueue(contentsOf: (0..<5).map { _ in NewJob(jobType: .ingestData) })
            let ours = try await slots()
            // Another process's pool: its connections add to slots of their own, then end.
            try await withJobStore(try StoreSettings(url: try #require(url)), logger: quietLogger) { other in
                let queue = SluiceCore.DatabaseQueue(store: other, logger: quietLogger)
                try await queue.enqueue(contentsOf: (0..<4).map { _ in NewJob(jobType: .vectorize) })
                let claimed = try await queue.claimJobs([.ingestData, .vectorize], limit: 3)
                for job in claimed { try await queue.completeJob(job.lease) }
            }
            let theirs = try await slots().subtracting(ours)
            #expect(!theirs.isEmpty && !theirs.contains(0))
            var stats = try await queue.getQueueStats()
            let deadline = ContinuousClock.now + .seconds(10)
            // A backend leaves pg_stat_activity shortly after its client disconnects.
            while try await !slots().isDisjoint(with: theirs), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                stats = try await queue.getQueueStats()
            }
            let after = try await slots()
            #expect(after.isDisjoint(with: theirs) && after.contains(0), "ended connections' slots folded: \(after)")
            #expect(stats.total == StatusCounts(pending: 6, completed: 3))
        }
    }

    @Test("PostgreSQL vacuums job_queue once 1% of it has changed, not the default fifth")
    func jobQueueIsVacuumedSooner() async throws {
        try await withStore(.postgres) { store, _ in
            let postgres = try #require(store as? PostgresJobStore)
            var options: [String] = []
            for try await option in try await postgres.client.query(
                "SELECT unnest(reloptions) FROM pg_class WHERE oid = 'job_queue'::regclass ORDER BY 1",
                logger: quietLogger
            ).decode(String.self) {
                options.append(option)
            }
            #expect(
                options == [
                    "autovacuum_analyze_scale_factor=0.02", "autovacuum_vacuum_scale_factor=0.01",
                    "autovacuum_vacuum_threshold=1000",
                ]
            )
        }
    }

    @Test("concurrent migrations from several clients apply each migration once")
    func concurrentMigrations() async throws {
        try await TestDatabases.withEmptyPostgres { url, _ in
            let applied = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await withJobStore(try StoreSettings(url: url), logger: quietLogger) {
                            try await $0.migrate()
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            let known = try await withJobStore(try StoreSettings(url: url), logger: quietLogger) {
                try await $0.schemaStatus().applied
            }
            #expect(known.contains("20261129000000_create_job_queue"))
            #expect(applied.sorted() == known.sorted(), "each migration applied by exactly one of the four clients")
        }
    }

    /// The three "Database Queries" of the reference, verbatim.
    static let referenceQueries = [
        """
        SELECT job_type, status, COUNT(*)
        FROM job_queue
        GROUP BY job_type, status;
        """,
        """
        SELECT
          job_type,
          AVG(EXTRACT(EPOCH FROM (completed_at - started_at))) as avg_seconds
        FROM job_queue
        WHERE status = 'COMPLETED'
        GROUP BY job_type;
        """,
        """
        SELECT id, job_type, result->>'error' as error, attempts
        FROM job_queue
        WHERE status = 'FAILED'
        ORDER BY created_at DESC
        LIMIT 10;
        """,
    ]

    @Test("the reference's monitoring SQL runs unchanged on the PostgreSQL schema and gives the right answers")
    func referenceMonitoringQueries() async throws {
        try await withStore(.postgres) { store, _ in
            let postgres = try #require(store as? PostgresJobStore)
            let clock = ManualWallClock()
            let queue = SluiceCore.DatabaseQueue(store: store, clock: clock, logger: quietLogger)
            try await queue.enqueue(contentsOf: (0..<3).map { _ in NewJob(jobType: .ingestData, maxAttempts: 1) })
            try await queue.enqueue(NewJob(jobType: .vectorize))
            for seconds in [2, 4] {
                let claimed = try #require(try await queue.claimJob([.ingestData]))
                clock.advance(by: .seconds(seconds))
                try await queue.completeJob(claimed.lease)
            }
            let failing = try #require(try await queue.claimJob([.ingestData]))
            try await queue.failJob(failing.lease, error: "embedding provider said no")

            let client = postgres.client
            var depth: [String: Int] = [:]
            for try await (type, status, count) in try await client.query(
                PostgresQuery(unsafeSQL: Self.referenceQueries[0])
            ).decode((String, String, Int).self) {
                depth["\(type) \(status)"] = count
            }
            #expect(depth == ["INGEST_DATA COMPLETED": 2, "INGEST_DATA FAILED": 1, "VECTORIZE PENDING": 1])

            let averages = try await client.query(PostgresQuery(unsafeSQL: Self.referenceQueries[1])).collect()
            #expect(averages.count == 1)
            let (type, average) = try #require(averages.first).decode((String, Decimal).self)  // numeric
            #expect(type == "INGEST_DATA")
            #expect(abs(NSDecimalNumber(decimal: average).doubleValue - 3.0) < 0.001)

            let failed = try await client.query(PostgresQuery(unsafeSQL: Self.referenceQueries[2])).collect()
            #expect(failed.count == 1)
            let (id, failedType, error, attempts) = try #require(failed.first).decode(
                (String, String, String, Int).self
            )
            #expect(id == failing.job.id)
            #expect(failedType == "INGEST_DATA")
            #expect(error == "embedding provider said no")
            #expect(attempts == 1)
        }
    }
}
