import Foundation
import SluiceCore
import Testing

/// The `sluice` command, run as a process against real stores.
@Suite("sluice CLI", .timeLimit(.minutes(5)))
struct CLITests {
    /// Runs `sluice` with `--database-url url`.
    private func sluice(_ arguments: [String], url: String) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await runProduct("sluice", arguments + ["--database-url", url, "--log-level", "warning"])
    }

    private func decodeJob(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    @Test("enqueue, show, list, stats, cancel, retry and cleanup work against each store", arguments: StoreKind.sql)
    func lifecycle(kind: StoreKind) async throws {
        try await withStore(kind) { _, url in
            let url = try #require(url)
            let enqueued = try await sluice(
                ["enqueue", "--type", "INGEST_DATA", "--payload", #"{"projectId": "p1", "n": 3}"#, "--priority", "4"],
                url: url
            )
            #expect(enqueued.status == 0, "\(enqueued.stderr)")
            let id = enqueued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.count == 36)

            let shown = try await sluice(["jobs", "show", id], url: url)
            #expect(shown.status == 0)
            let job = try decodeJob(shown.stdout)
            #expect(job["status"] == "PENDING")
            #expect(job["priority"] == 4)
            #expect(job["payload"] == ["n": 3, "projectId": "p1"])

            let stats = try await sluice(["stats", "--json"], url: url)
            #expect(try JSONValue(parsing: stats.stdout)["total"]?["pending"] == 1)
            #expect(try JSONValue(parsing: stats.stdout)["byType"]?["INGEST_DATA"]?["pending"] == 1)
            let table = try await sluice(["stats"], url: url)
            #expect(table.stdout.contains("INGEST_DATA"))

            let listed = try await sluice(["jobs", "list", "--status", "pending", "--json"], url: url)
            guard case .array(let jobs) = try JSONValue(parsing: listed.stdout) else {
                Issue.record("jobs list --json did not print an array: \(listed.stdout)")
                return
            }
            #expect(jobs.map { $0["id"] } == [.string(id)])

            #expect(try await sluice(["jobs", "cancel", id], url: url).status == 0)
            #expect(try decodeJob(try await sluice(["jobs", "show", id], url: url).stdout)["status"] == "FAILED")
            let again = try await sluice(["jobs", "cancel", id], url: url)
            #expect(again.status != 0)
            #expect(again.stderr.contains("already failed"))

            #expect(try await sluice(["jobs", "retry", id], url: url).status == 0)
            #expect(try decodeJob(try await sluice(["jobs", "show", id], url: url).stdout)["status"] == "PENDING")

            let cleanup = try await sluice(["cleanup", "--days", "0"], url: url)
            #expect(cleanup.status == 0)
            #expect(cleanup.stdout.contains("deleted 0 job(s)"), "a PENDING job is never cleaned up")
        }
    }

    @Test("bad input gets a one-line message and a non-zero exit, and changes nothing", arguments: StoreKind.sql)
    func badInput(kind: StoreKind) async throws {
        try await withStore(kind) { store, url in
            let url = try #require(url)
            let cases: [([String], String)] = [
                (["enqueue", "--type", "INGEST_DATA", "--payload", "{not json"], "invalid JSON"),
                (["enqueue", "--type", "INGEST_DATA", "--payload", "[1, 2]"], "must be a JSON object"),
                (["enqueue", "--type", "NO_SUCH_TYPE"], "unknown job type 'NO_SUCH_TYPE'"),
                (["enqueue", "--type", "VECTORIZE", "--max-attempts", "0"], "maxAttempts"),
                (["jobs", "show", "no-such-id"], "job no-such-id not found"),
                (["jobs", "retry", "no-such-id"], "not found"),
                (["jobs", "list", "--status", "sleeping"], "unknown status 'sleeping'"),
                (["cleanup", "--days", "-1"], "--days"),
            ]
            for (arguments, message) in cases {
                let result = try await sluice(arguments, url: url)
                #expect(result.status != 0, "\(arguments) should fail")
                #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("Backtrac") && !result.stderr.contains("Fatal error"))
            }
            #expect(try await store.stats().total.total == 0)
        }
    }

    @Test("an unreachable PostgreSQL is one clear line, without the password")
    func unreachableDatabase() async throws {
        let result = try await runProduct(
            "sluice",
            ["stats"],
            environment: ["DATABASE_URL": "postgres://sluice:hunter2@127.0.0.1:1/sluice"]
        )
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot reach the database at postgres://sluice:***@127.0.0.1:1/sluice"))
        #expect(!result.stderr.contains("hunter2"))
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")

        // A password with an unescaped # or / does not parse as a URL; it is kept out of the message all the same
        // (review L3).
        for password in ["Sup3r#SecretPw", "1234#SecretPw", "a/b?SecretPw"] {
            let odd = try await runProduct(
                "sluice",
                ["migrate", "--database-url", "postgres://user:\(password)@127.0.0.1:1/db"]
            )
            #expect(odd.status != 0)
            #expect(!odd.stderr.contains("SecretPw"), "\(odd.stderr)")
            #expect(odd.stderr.contains("postgres://user:***@127.0.0.1:1/db"), "\(odd.stderr)")
        }

        let badScheme = try await runProduct("sluice", ["stats"], environment: ["DATABASE_URL": "mysql://a:b@c/d"])
        #expect(badScheme.status != 0)
        #expect(badScheme.stderr.contains("DATABASE_URL must start with postgres:// or sqlite:"))
    }

    @Test("DATABASE_URL defaults to sqlite:./data/sluice.sqlite, created with its folder")
    func defaultDatabase() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await runProduct("sluice", ["enqueue", "--type", "VECTORIZE"], directory: directory.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/sluice.sqlite").path))
        // Readable by their owner only: the file holds password hashes, payloads and records (review L1).
        func mode(_ path: String) throws -> Int? {
            try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(path).path)[
                .posixPermissions
            ] as? Int
        }
        #expect(try mode("data") == 0o700)
        #expect(try mode("data/sluice.sqlite") == 0o600)
        let stats = try await runProduct("sluice", ["stats", "--json"], directory: directory.path)
        #expect(try JSONValue(parsing: stats.stdout)["total"]?["pending"] == 1)
    }

    @Test("migrate applies once; --no-migrate refuses an unmigrated database")
    func migrateCommand() async throws {
        let url = "sqlite:\(TestDatabases.sqlitePath())"
        let refused = try await sluice(["stats", "--no-migrate"], url: url)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("schema out of date"))
        #expect(refused.stderr.contains("sluice migrate"))

        let first = try await sluice(["migrate"], url: url)
        #expect(first.status == 0)
        #expect(first.stdout.contains("applied 20261129000000_create_job_queue"))
        let second = try await sluice(["migrate"], url: url)
        #expect(!second.stdout.contains("applied "))
        #expect(second.stdout.contains("schema up to date"))
        #expect(try await sluice(["stats", "--no-migrate"], url: url).status == 0)
    }
}
