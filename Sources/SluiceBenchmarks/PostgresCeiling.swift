import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres

/// What the database itself allows, for reading Sluice's figures as a ratio: the same job lifecycle in plain
/// SQL on the same PostgreSQL and the same table, one job per statement, no Swift queue code in between.
public struct PostgresCeiling: Sendable {
    let url: String
    let options: BenchmarkOptions
    let logger: Logger
    let report: @Sendable (BenchmarkResult) -> Void

    public init(
        url: String, options: BenchmarkOptions, logger: Logger, report: @escaping @Sendable (BenchmarkResult) -> Void
    ) {
        self.url = url
        self.options = options
        self.logger = logger
        self.report = report
    }

    public func run() async throws {
        let client = PostgresClient(
            configuration: try PostgresStoreConfiguration(url: url).client, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await measure(client)
        }
    }

    private func measure(_ client: PostgresClient) async throws {
        let single = min(options.jobs, 2_000)
        var start = ContinuousClock.now
        for index in 0..<single {
            try await client.query(
                """
                INSERT INTO job_queue (id, job_type, payload)
                VALUES (\(JobID.make()), 'BENCH_RAW_INSERT', \(#"{"n": \#(index)}"#)::jsonb)
                """, logger: logger)
        }
        report(
            BenchmarkResult(
                "raw SQL: insert, one at a time", Double(single) / (ContinuousClock.now - start).timeInterval, "jobs/s")
        )

        try await client.query(
            """
            INSERT INTO job_queue (id, job_type, payload)
            SELECT gen_random_uuid()::text, 'BENCH_RAW', jsonb_build_object('n', n)
            FROM generate_series(1, \(options.jobs)) AS n
            """, logger: logger)
        let connections = 8
        start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    while true {
                        var claimed: String?
                        for try await id in try await client.query(
                            """
                            UPDATE job_queue
                            SET status = 'PROCESSING', attempts = attempts + 1, started_at = now(),
                                lease_owner = 'raw', lease_expires_at = now() + interval '5 minutes'
                            WHERE id = (
                                SELECT id FROM job_queue
                                WHERE status = 'PENDING' AND job_type = 'BENCH_RAW' AND scheduled_for <= now()
                                ORDER BY priority DESC, scheduled_for, created_at
                                LIMIT 1 FOR UPDATE SKIP LOCKED)
                            RETURNING id
                            """, logger: logger
                        ).decode(String.self) { claimed = id }
                        guard let id = claimed else { return }
                        try await client.query(
                            """
                            UPDATE job_queue
                            SET status = 'COMPLETED', payload = NULL, completed_at = now(), lease_owner = NULL,
                                lease_expires_at = NULL
                            WHERE id = \(id) AND status = 'PROCESSING' AND lease_owner = 'raw'
                            """, logger: logger)
                    }
                }
            }
            try await group.waitForAll()
        }
        report(
            BenchmarkResult(
                "raw SQL: claim + complete, \(connections) connections",
                Double(options.jobs) / (ContinuousClock.now - start).timeInterval, "jobs/s"))
    }
}
