import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluicePostgres

/// What the database itself allows, for reading Sluice's figures as a ratio: the same job lifecycle in plain
/// SQL on the same PostgreSQL and the same table, with the same batching, no Swift queue code in between.
///
/// ``QueueBenchmark`` runs these in rounds alternating with its own measurement of the same work, so that both
/// see the same table and the same load on a shared machine.
public struct PostgresCeiling: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// Runs `body` with a ceiling on its own connection pool to the database at `url`.
    public static func with<T: Sendable>(
        url: String,
        logger: Logger,
        _ body: @Sendable (PostgresCeiling) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(
            configuration: try PostgresStoreConfiguration(url: url).client,
            backgroundLogger: logger
        )
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(PostgresCeiling(client: client, logger: logger))
        }
    }

    /// Single-row `INSERT`s, one after another: jobs/s.
    func insertOneAtATime(_ count: Int) async throws -> Double {
        let start = ContinuousClock.now
        for index in 0..<count {
            try await client.query(
                """
                INSERT INTO job_queue (id, job_type, payload)
                VALUES (\(JobID.make()), 'BENCH_RAW_INSERT', \(#"{"n": \#(index)}"#)::jsonb)
                """,
                logger: logger
            )
        }
        return Double(count) / (ContinuousClock.now - start).timeInterval
    }

    /// `jobs` jobs of a type of their own, claimed (`SKIP LOCKED`, up to `batch` per statement) and completed
    /// (those claimed, in one statement) over `connections` connections: jobs/s, the insert not timed.
    func claimAndComplete(_ jobs: Int, batch: Int = 1, connections: Int) async throws -> Double {
        let type = "BENCH_RAW_\(UUID().uuidString.prefix(8))"
        try await client.query(
            """
            INSERT INTO job_queue (id, job_type, payload)
            SELECT gen_random_uuid()::text, \(type), jsonb_build_object('n', n)
            FROM generate_series(1, \(jobs)) AS n
            """,
            logger: logger
        )
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    while true {
                        var claimed: [String] = []
                        for try await id in try await client.query(
                            """
                            UPDATE job_queue
                            SET status = 'PROCESSING', attempts = attempts + 1, started_at = now(),
                                lease_owner = 'raw', lease_expires_at = now() + interval '5 minutes'
                            WHERE id IN (
                                SELECT id FROM job_queue
                                WHERE status = 'PENDING' AND job_type = \(type) AND scheduled_for <= now()
                                ORDER BY priority DESC, scheduled_for, created_at
                                LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                            RETURNING id
                            """,
                            logger: logger
                        ).decode(String.self) { claimed.append(id) }
                        guard !claimed.isEmpty else { return }
                        try await client.query(
                            """
                            UPDATE job_queue
                            SET status = 'COMPLETED', payload = NULL, completed_at = now(), lease_owner = NULL,
                                lease_expires_at = NULL
                            WHERE id = ANY(\(claimed)) AND status = 'PROCESSING' AND lease_owner = 'raw'
                            """,
                            logger: logger
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(jobs) / (ContinuousClock.now - start).timeInterval
    }
}
