import Foundation
import GRDB
import Logging
import PostgresNIO
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluicePostgres
import SluiceSQLite
import SluiceStores
import Testing

/// Databases made by the Sluice of commit 972397b, when one migration list held the queue's, the accounts' and the
/// pipeline's tables (`Fixtures/make-old-databases.sh` made and dumped them): today's build, with a list per
/// library, migrates them without touching what they hold.
@Suite("Databases made by older builds", .timeLimit(.minutes(5)))
struct OldDatabaseTests {
    /// The migrations added since 972397b: the only ones an old database lacks.
    static let newSince972397b: Set<String> = [
        "20261201100000_projects_generate_embeddings", "20261201110000_create_api_tokens",
        "20261201120000_records_identity_and_chunks", "20261201130000_ingest_sync",
        "20261201140000_project_chunking", "20261202090000_search_filters", "20261202100000_keyword_search",
    ]

    static func fixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Loads the PostgreSQL dump into the empty database at `url` on a connection of its own (the dump changes
    /// session settings), one statement at a time.
    static func loadPostgres(_ url: String) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try PostgresStoreConfiguration(url: url).connectionConfiguration(),
            id: 1,
            logger: quietLogger
        )
        do {
            for statement in statements(try fixture("972397b.postgres.sql")) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: quietLogger)
            }
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// pg_dump's statements: each ends with `;` at the end of a line outside a `$$` function body.
    static func statements(_ dump: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        for line in dump.split(separator: "\n", omittingEmptySubsequences: false) {
            if current.isEmpty && (line.hasPrefix("--") || line.isEmpty) { continue }
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && line.hasSuffix(";") {
                statements.append(current)
                current = ""
            }
        }
        return statements
    }

    @Test(
        "a 972397b database migrates with only the newer migrations, and keeps its users, records and jobs",
        arguments: StoreKind.sql
    )
    func oldDatabaseMigrates(kind: StoreKind) async throws {
        switch kind {
        case .postgres:
            try await TestDatabases.withEmptyPostgres { url, _ in
                try await Self.loadPostgres(url)
                try await Self.check(url)
            }
        default:
            let path = TestDatabases.sqlitePath()
            defer {
                try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
            }
            try FileManager.default.createDirectory(
                at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            // The dump's own BEGIN and COMMIT lines give way to GRDB's transaction; its tables come in name order,
            // so foreign keys are checked only once Sluice opens the file.
            let dump = try Self.fixture("972397b.sqlite.sql").split(separator: "\n")
                .filter { $0 != "BEGIN TRANSACTION;" && $0 != "COMMIT;" }.joined(separator: "\n")
            var loading = GRDB.Configuration()
            loading.foreignKeysEnabled = false
            try await GRDB.DatabaseQueue(path: path, configuration: loading).write { db in try db.execute(sql: dump) }
            try await Self.check("sqlite:\(path)")
        }
    }

    /// Every table's columns with their types, and every index and trigger, by name.
    static func schema(_ store: any QueueStore) async throws -> [String] {
        switch store {
        case let postgres as PostgresJobStore:
            var lines: [String] = []
            let columns = try await postgres.client.query(
                """
                SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
                WHERE table_schema = 'public' ORDER BY 1, 2
                """
            )
            for try await (table, column, type) in columns.decode((String, String, String).self) {
                lines.append("\(table).\(column) \(type)")
            }
            let names = try await postgres.client.query(
                """
                SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'
                UNION ALL SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1
                """
            )
            for try await name in names.decode(String.self) { lines.append(name) }
            return lines
        case let sqlite as SQLiteJobStore:
            return try await sqlite.database.pool.read { db in
                var lines: [String] = []
                for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                    let columns = try Row.fetchAll(
                        db,
                        sql: "SELECT name, type FROM pragma_table_info(?)",
                        arguments: [table]
                    )
                    for column in columns { lines.append("\(table).\(column[0] as String) \(column[1] as String)") }
                }
                lines += try String.fetchAll(
                    db,
                    sql: "SELECT type || ' ' || name FROM sqlite_master WHERE type <> 'table'"
                )
                return lines.sorted()
            }
        default:
            throw TestSetupError("not a SQL store")
        }
    }

    static func check(_ url: String) async throws {
        let fresh = try await withServerStore(url.hasPrefix("sqlite") ? .sqlite : .postgres) { stores in
            try await schema(stores.queue)
        }
        try await withStores(try StoreSettings(url: url), logger: quietLogger) { stores in
            let before = try await stores.queue.schemaStatus()
            #expect(before.unknown.isEmpty, "every name the old build recorded is one this build knows")
            #expect(Set(before.pending) == newSince972397b)
            #expect(before.applied.count == 11)
            #expect(Set(try await stores.queue.migrate()) == newSince972397b)
            #expect(try await stores.queue.schemaStatus().isCurrent)
            #expect(try await schema(stores.queue) == fresh, "the same tables, columns, indexes and triggers as new")

            // The old build's user signs in with the password it was given.
            let accounts = Accounts(
                store: stores.accounts,
                options: AccountOptions(passwordHasher: PasswordHasher(cost: 4))
            )
            let signedIn = try await accounts.signIn(email: "admin@example.com", password: "fixture password")
            #expect(signedIn?.user.role == .admin)

            // Its project, records and vectors, searchable; the backfill marked it as one that is embedded.
            let docs = try #require(try await stores.pipeline.projects().first { $0.project.name == "docs" })
            #expect(docs.recordCount == 2)
            #expect(docs.embeddedCount == 2)
            let model = try #require(docs.project.embeddingModel)
            let embedder = LocalEmbedder(dimensions: try #require(docs.project.embeddingDimensions))
            let query = try await embedder.embed(["a cat on the mat"])[0]
            let hits = try await stores.pipeline.nearest(projectID: docs.project.id, to: query, model: model, limit: 2)
            #expect(hits.map(\.externalID) == ["a", "b"])

            // Its jobs: two completed, one waiting for tomorrow; the counts table agrees with the rows.
            let queue = SluiceCore.DatabaseQueue(store: stores.queue, logger: quietLogger)
            let stats = try await queue.getQueueStats()
            #expect(stats.total == StatusCounts(pending: 1, completed: 2))
            #expect(try await queue.listJobs(JobFilter(status: .completed)).count == 2)

            // Tables added since then work.
            let token = try await accounts.createToken(name: "after-upgrade", role: .viewer, lifetime: nil)
            #expect(try await accounts.apiToken(token.token)?.name == "after-upgrade")
        }
    }
}
