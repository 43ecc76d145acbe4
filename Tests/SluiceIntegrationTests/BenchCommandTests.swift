import Foundation
import SluiceCore
import Testing

/// `sluice bench` in its short mode, so that the benchmark the README quotes keeps running.
@Suite("Benchmark command", .timeLimit(.minutes(5)))
struct BenchCommandTests {
    static let expected =
        [
            "enqueue, one at a time", "enqueue, 1,000 per call", "no-op jobs worked, concurrency 1",
            "no-op jobs worked, concurrency 8", "no-op jobs worked, concurrency 32",
            "no-op jobs worked, concurrency 8, batching off", "pickup latency p50",
            "pickup latency p99", "claim latency p50, 1,000 pending", "claim latency p50, 2,000 pending, 2,000 done",
            "server memory, idle", "ingestion", "vectorization (zero-latency server, 384-dimension vectors per text)",
            "server memory, peak during 300-record ingest", "vectorization, last 10% ÷ first 10%",
            "server memory, peak over the first 10%", "server memory, peak over the last 10%",
            "search before the index (exact)",
        ] + (0..<10).map { "vectorization, chunks \($0 * 10)–\($0 * 10 + 10)%" }

    @Test("a short run on a fresh database prints every measurement, each a positive number", arguments: StoreKind.sql)
    func shortRun(kind: StoreKind) async throws {
        var arguments = [
            "bench", "--store", kind.rawValue, "--jobs", "200", "--pending", "2000", "--samples", "5", "--records",
            "300", "--json",
        ]
        if kind == .postgres { arguments += ["--database-url", try TestDatabases.postgresAdminURL()] }
        let run = try await runProduct("sluice", arguments)
        try #require(run.status == 0, "sluice bench failed: \(run.stderr)")
        guard case .array(let rows) = try JSONValue(parsing: run.stdout) else {
            Issue.record("not a JSON array: \(run.stdout)")
            return
        }
        var names =
            Self.expected + [
                "stats endpoint p50", "stats endpoint p99", "search p50 (", "search p99 (",
                "search with a 1% filter p50 (", "search with a 1% filter p99 (",
            ]
        if kind == .postgres {
            names += [
                "raw SQL: insert, one at a time", "enqueue one at a time / raw SQL",
                "raw SQL: claim + complete, 8 connections", "batching off / raw SQL",
                "raw SQL: claim + complete, 32 per statement", "concurrency 32 / raw SQL",
                "approximate index build (HNSW, 300 chunks)", "search after the index (",
                "vectorization of 1,000 new chunks into the indexed project", "search recall@10 against exact (",
                "search with a 1% filter recall@10 against exact (",
            ]
        }
        for name in names {
            let row = rows.first { $0["name"]?.stringValue?.hasPrefix(name) == true }
            #expect(row != nil, "missing \(name)")
            let value: Double? =
                switch row?["value"] {
                case .double(let number)?: number
                case .int(let number)?: Double(number)
                default: nil
                }
            #expect((value ?? 0) > 0, "\(name) = \(String(describing: row?["value"]))")
            #expect(row?["store"]?.stringValue == kind.rawValue)
        }
        #expect(rows.count == names.count)
    }

    @Test("the stats sweep fills the table to each size and reports the endpoint's median there")
    func statsSweep() async throws {
        let run = try await runProduct("sluice", ["bench", "--store", "sqlite", "--stats-sweep", "500,100", "--json"])
        try #require(run.status == 0, "sluice bench failed: \(run.stderr)")
        guard case .array(let rows) = try JSONValue(parsing: run.stdout) else {
            Issue.record("not a JSON array: \(run.stdout)")
            return
        }
        let names = rows.compactMap { $0["name"]?.stringValue }
        #expect(
            names == [
                "bcrypt, cost 4", "bcrypt, cost 10", "bcrypt, cost 12", "stats endpoint p50, 100 jobs",
                "stats p50 / at 100 jobs", "stats endpoint p50, 500 jobs", "stats p50 / at 100 jobs",
            ],
            "sizes are measured smallest first"
        )
        #expect(rows[4]["value"] == .double(1), "the first size is the baseline")
        let bad = try await runProduct("sluice", ["bench", "--stats-sweep", "10,x"])
        #expect(bad.status != 0 && bad.stderr.contains("--stats-sweep"))
    }

    @Test("bad arguments: one line, non-zero exit")
    func refusals() async throws {
        let noServer = try await runProduct(
            "sluice",
            ["bench", "--store", "postgres"],
            environment: ["TEST_DATABASE_URL": "", "DATABASE_URL": ""]
        )
        #expect(noServer.status != 0 && noServer.stderr.contains("--database-url"))
        let tiny = try await runProduct("sluice", ["bench", "--pending", "10"])
        #expect(tiny.status != 0 && tiny.stderr.contains("--pending"))
    }
}
