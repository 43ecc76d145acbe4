import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// What the queue monitor asks of every store: throughput per minute and bulk retry/cancel.
@Suite("Monitor queries", .timeLimit(.minutes(5)))
struct MonitorQueueTests {
    /// Claims the next job of `type` and completes it (or fails it for good when `fail`).
    private func finish(_ queue: DatabaseQueue, _ type: JobType, fail: Bool = false) async throws {
        let claimed = try #require(try await queue.claimJob([type]))
        if fail {
            _ = try await queue.failJob(claimed.lease, error: "boom")
        } else {
            try await queue.completeJob(claimed.lease)
        }
    }

    @Test("throughput counts completed and failed jobs per minute, zeros included", arguments: StoreKind.allCases)
    func throughputPerMinute(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            // Start 10 s into a minute, so that the minutes below are predictable.
            let second = Int(clock.now().timeIntervalSince1970) % 60
            clock.advance(by: .seconds((70 - second) % 60))
            _ = try await queue.enqueue(NewJob(jobType: .ingestData))
            try await finish(queue, .ingestData)  // two hours before the window
            clock.advance(by: .seconds(7_200))
            let minute = Date(timeIntervalSince1970: (clock.now().timeIntervalSince1970 / 60).rounded(.down) * 60)

            _ = try await queue.enqueue(
                contentsOf: [
                    NewJob(jobType: .ingestData), NewJob(jobType: .ingestData),
                    NewJob(jobType: "FAILS", maxAttempts: 1),
                    NewJob(jobType: "RETRIES"), NewJob(jobType: "LATER"),
                ])
            try await finish(queue, .ingestData)
            try await finish(queue, .ingestData)
            try await finish(queue, "FAILS", fail: true)  // FAILED: no attempts left
            try await finish(queue, "RETRIES", fail: true)  // back to PENDING: not finished, not counted
            clock.advance(by: .seconds(120))
            try await finish(queue, "LATER")

            let buckets = try await queue.throughput(lastMinutes: 5)
            #expect(buckets.count == 5)
            #expect(buckets.map(\.minute) == (0..<5).map { minute.addingTimeInterval(Double($0 - 2) * 60) })
            #expect(buckets[2] == ThroughputMinute(minute: minute, completed: 2, failed: 1))
            #expect(buckets[4] == ThroughputMinute(minute: minute.addingTimeInterval(120), completed: 1, failed: 0))
            for index in [0, 1, 3] { #expect(buckets[index].completed == 0 && buckets[index].failed == 0) }
            #expect(try await queue.throughput(lastMinutes: 1_000).reduce(0) { $0 + $1.completed } == 4)
        }
    }

    @Test(
        "bulk retry and cancel: counts, oldest first, the cap, and jobs that changed first",
        arguments: StoreKind.allCases
    )
    func bulkActions(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            var failed: [String] = []
            for type in [JobType.vectorize, .vectorize, .vectorize, .ingestData] {
                let id = try await queue.enqueue(NewJob(jobType: type, maxAttempts: 1)).id
                clock.advance(by: .seconds(1))
                try await finish(queue, type, fail: true)
                failed.append(id)
            }
            let pending = try await queue.enqueue(
                contentsOf: [NewJob(jobType: .vectorize), NewJob(jobType: .vectorize)]
            ).map(\.id)
            let processing = try await queue.enqueue(NewJob(jobType: "CUSTOM")).id
            let lease = try #require(try await queue.claimJob(["CUSTOM"])).lease
            _ = try await queue.enqueue(NewJob(jobType: "DONE"))
            try await finish(queue, "DONE")

            #expect(try await queue.countJobs(for: .retry) == 4)
            #expect(try await queue.countJobs(for: .retry, jobType: .vectorize) == 3)
            #expect(try await queue.countJobs(for: .retry, status: .pending) == 0)
            #expect(try await queue.countJobs(for: .cancel) == 3)
            #expect(try await queue.countJobs(for: .cancel, status: .pending) == 2)

            let retried = try await queue.perform(.retry, jobType: .vectorize, limit: 2)
            #expect(retried.changed == Array(failed.prefix(2)))  // oldest first, capped
            #expect(retried.skipped == 0 && retried.remaining == 1)
            for id in retried.changed {
                let job = try await queue.getJob(id)
                #expect(job.status == .pending && job.attempts == 0)
            }

            let cancelled = try await queue.perform(.cancel, status: .processing, limit: 10, reason: "by a test")
            #expect(cancelled.changed == [processing])
            #expect(try await queue.getJob(processing).result?["error"] == "Job cancelled: by a test")
            await #expect(throws: QueueError.self) { try await queue.completeJob(lease) }

            let rest = try await queue.perform(.cancel, limit: 10)
            #expect(Set(rest.changed) == Set(pending + retried.changed))
            #expect(rest.remaining == 0)
            #expect(try await queue.getQueueStats().pending == 0)
        }
    }

    @Test("bulk retry skips a job whose unique key an unfinished job holds", arguments: StoreKind.allCases)
    func bulkRetrySkips(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let first = try await queue.enqueue(NewJob(jobType: .vectorize, maxAttempts: 1, uniqueKey: "p1")).id
            try await finish(queue, .vectorize, fail: true)
            _ = try await queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "p1"))
            let result = try await queue.perform(.retry, limit: 10)
            #expect(result.changed.isEmpty && result.skipped == 1 && result.remaining == 1)
            #expect(try await queue.getJob(first).status == .failed)
        }
    }
}
