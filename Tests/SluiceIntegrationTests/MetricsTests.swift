import Foundation
import HTTPTypes
import PostgresNIO
import Prometheus
import SluiceAccounts
import SluiceCore
import SluiceServer
import Testing

@testable import SluicePostgres

/// swift-metrics takes one backend per process: the tests that look at HTTP metrics share this registry.
enum SharedMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        ServerMetrics(registry: registry).bootstrapSwiftMetrics()
        return registry
    }()
}

@Suite("Metrics", .timeLimit(.minutes(5)))
struct MetricsTests {
    /// `name{labels} value` lines of an exposition, by their series.
    private func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test("a scrape before the first job already shows every job series at zero, and the process's own metrics")
    func zeroSeriesFromTheStart() async throws {
        try await withServer(.memory) { server in
            let text = try await server.request(.get, "/metrics").text
            let series = samples(text)
            for type in ["INGEST_DATA", "VECTORIZE"] {
                #expect(series["sluice_jobs_completed_total{job_type=\"\(type)\"}"] == 0, "\(type)")
                #expect(series["sluice_job_attempts_failed_total{job_type=\"\(type)\"}"] == 0, "\(type)")
                #expect(series["sluice_job_duration_seconds_count{job_type=\"\(type)\"}"] == 0, "\(type)")
                #expect(series["sluice_job_duration_seconds_bucket{job_type=\"\(type)\",le=\"+Inf\"}"] == 0, "\(type)")
            }
            #expect(text.contains("# TYPE sluice_job_attempts_failed_total counter"))
            #expect((series["process_resident_memory_bytes"] ?? 0) > 1_048_576)
            #expect((series["process_open_fds"] ?? 0) > 2)
            #expect((series["process_max_fds"] ?? 0) >= series["process_open_fds"] ?? 0)
            let cpu = try #require(series["process_cpu_seconds_total"])
            #expect(cpu > 0)
            let started = try #require(series["process_start_time_seconds"])
            #expect(abs(started - Date().timeIntervalSince1970) < 24 * 3_600)
            // CPU only grows between scrapes.
            _ = (0..<200_000).reduce(0, &+)
            let again = samples(try await server.request(.get, "/metrics").text)
            #expect((again["process_cpu_seconds_total"] ?? 0) >= cpu)
        }
    }

    @Test("HTTP requests are counted and timed by route template, method and status")
    func httpMetrics() async throws {
        try await withServer(.memory, metrics: ServerMetrics(registry: SharedMetrics.registry)) { server in
            let manager = try await server.login(.manager)
            for _ in 0..<3 { try await server.request(.get, "/api/admin/queue/jobs/nope-\(UUID())", cookie: manager) }
            try await server.request(.get, "/api/admin/queue/stats", cookie: manager)
            try await server.request(.get, "/api/admin/queue/stats")
            let exposition = try await server.request(.get, "/metrics").text
            let series = samples(exposition)
            let job = #"route="/api/admin/queue/jobs/{id}",method="GET",status="404""#
            #expect((series["sluice_http_requests_total{\(job)}"] ?? 0) >= 3, "\(exposition.prefix(3_000))")
            let stats = #"route="/api/admin/queue/stats",method="GET",status"#
            #expect((series["sluice_http_requests_total{\(stats)=\"200\"}"] ?? 0) >= 1)
            #expect((series["sluice_http_requests_total{\(stats)=\"401\"}"] ?? 0) >= 1)
            #expect((series["sluice_http_request_duration_seconds_count{\(stats)=\"200\"}"] ?? 0) >= 1)
            #expect(exposition.contains("# TYPE sluice_http_request_duration_seconds histogram"))
            // Routes are templates: one series for every job id.
            #expect(!series.keys.contains { $0.contains("nope-") })
        }
    }

    @Test("a PostgreSQL client error is logged with its code and the server's message, not postgres-nio's fixed text")
    func postgresErrorsSayWhatFailed() async throws {
        try await withStore(.postgres) { store, _ in
            let postgres = try #require(store as? PostgresJobStore)
            do {
                try await postgres.client.query("SELECT * FROM no_such_table_here", logger: quietLogger)
                Issue.record("the query should fail")
            } catch let error as PSQLError {
                let summary = PostgresErrors.summary(error)
                #expect(summary.contains("42P01"), "\(summary)")
                #expect(summary.contains("no_such_table_here"), "\(summary)")
                #expect(!"\(error)".contains("42P01"), "postgres-nio's own text stays generic")
                #expect(PostgresErrors.loggable(error) == summary)
            }
            do {
                try await postgres.client.query(
                    "SELECT \("secret-bound-value")::int",
                    logger: quietLogger
                )
                Issue.record("the query should fail")
            } catch let error as PSQLError {
                let summary = PostgresErrors.summary(error)
                #expect(summary.contains("22P02"), "\(summary)")
                let mapped = "\(PostgresErrors.describe(error, location: "test"))"
                #expect(mapped.contains("SQLSTATE 22P02"), "\(mapped)")
                #expect(!mapped.contains("Generic description"))
            }
        }
    }
}
