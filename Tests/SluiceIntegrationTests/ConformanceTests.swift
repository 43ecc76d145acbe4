import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// One suite, every store: the behaviour of the reference's `DatabaseQueue` and its state diagram.
@Suite("Store conformance", .timeLimit(.minutes(5)))
struct ConformanceTests {
    @Test("enqueue stores a PENDING job with the documented defaults", arguments: StoreKind.allCases)
    func enqueueDefaults(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let payload: JSONValue = [
                "ingestJobId": "ingest-123", "records": [["text": "héllo \"quoted\" \n line"], ["n": 1.5]],
                "big": .int(9_007_199_254_740_993), "flag": true, "none": nil,
            ]
            let result = try await queue.enqueue(NewJob(jobType: .ingestData, payload: payload))
            #expect(result.inserted)
            let job = try await queue.getJob(result.id)
            #expect(job.status == .pending)
            #expect(job.jobType == .ingestData)
            #expect(job.priority == 0)
            #expect(job.attempts == 0)
            #expect(job.maxAttempts == 3)
            #expect(job.payload == payload)
            #expect(job.result == nil)
            #expect(job.progress == nil)
            #expect(job.errors.isEmpty)
            #expect(job.scheduledFor == clock.now())
            #expect(job.createdAt == clock.now())
            #expect(job.startedAt == nil && job.completedAt == nil && job.leaseOwner == nil)
        }
    }

    @Test("bulk enqueue inserts every job in one call and answers in order", arguments: StoreKind.allCases)
    func bulkEnqueue(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let jobs = (0..<500).map { NewJob(jobType: .vectorize, payload: ["n": .int(Int64($0))]) }
            let results = try await queue.enqueue(contentsOf: jobs)
            #expect(results.count == 500)
            #expect(Set(results.map(\.id)).count == 500)
            #expect(results.allSatisfy { $0.inserted })
            for index in [0, 123, 499] {
                #expect(try await queue.getJob(results[index].id).payload == ["n": .int(Int64(index))])
            }
            #expect(try await queue.getQueueStats().pending == 500)
        }
    }

    @Test("claim moves PENDING to PROCESSING, counts the attempt and takes a lease", arguments: StoreKind.allCases)
    func claimTakesLease(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData)).id
            let claimed = try #require(try await queue.claimJob([.ingestData]))
            #expect(claimed.job.id == id)
            #expect(claimed.job.status == .processing)
            #expect(claimed.job.attempts == 1)
            #expect(claimed.job.startedAt == clock.now())
            #expect(claimed.job.leaseExpiresAt == clock.now() + 300)
            #expect(claimed.lease.owner.hasPrefix(queue.options.workerName + "/"))
            #expect(claimed.lease.attempt == 1)
            #expect(try await queue.getJob(id).status == .processing)
            #expect(try await queue.claimJob([.ingestData]) == nil)
        }
    }

    @Test(
        "completing with follow-ups queues them in the same transaction, even under the job's own unique key",
        arguments: StoreKind.allCases
    )
    func completeWithFollowUps(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let first = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["n": 1], uniqueKey: "k"))
            let claimed = try #require(try await queue.claimJob([.vectorize]))
            #expect(claimed.job.id == first.id)
            // While the job holds its key, the same key cannot be queued again.
            #expect(try await !queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "k")).inserted)
            try await queue.completeJob(
                claimed.lease,
                result: ["done": true],
                followUps: [
                    NewJob(jobType: .vectorize, payload: ["n": 2], uniqueKey: "k"),
                    NewJob(jobType: .ingestData, payload: ["n": 3]),
                ]
            )
            #expect(try await queue.getJob(first.id).status == .completed)
            let pending = try await queue.listJobs(JobFilter(status: .pending))
            #expect(Set(pending.compactMap { $0.payload?["n"]?.intValue }) == [2, 3])
            #expect(pending.first { $0.jobType == .vectorize }?.uniqueKey == "k")

            // A lease that is no longer held completes nothing and queues nothing.
            let again = try #require(try await queue.claimJob([.vectorize]))
            try await queue.cancelJob(again.job.id, reason: "test")
            await #expect(throws: QueueError.self) {
                try await queue.completeJob(again.lease, followUps: [NewJob(jobType: .vectorize, payload: ["n": 4])])
            }
            #expect(try await queue.listJobs(JobFilter(jobType: .vectorize)).allSatisfy { $0.payload?["n"] != 4 })
            // Follow-ups are validated before anything is written.
            let third = try await queue.enqueue(NewJob(jobType: .vectorize))
            let claimedThird = try #require(try await queue.claimJob([.vectorize]))
            #expect(claimedThird.job.id == third.id)
            await #expect(throws: QueueError.self) {
                try await queue.completeJob(
                    claimedThird.lease,
                    followUps: [NewJob(jobType: .vectorize, maxAttempts: 0)]
                )
            }
            #expect(try await queue.getJob(third.id).status == .processing)
        }
    }

    @Test("claims only the requested types, up to the limit", arguments: StoreKind.allCases)
    func claimTypesAndLimit(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            try await queue.enqueue(contentsOf: (0..<5).map { _ in NewJob(jobType: .ingestData) })
            try await queue.enqueue(contentsOf: (0..<3).map { _ in NewJob(jobType: .vectorize) })
            let batch = try await queue.claimJobs([.vectorize], limit: 2)
            #expect(batch.count == 2)
            #expect(batch.allSatisfy { $0.job.jobType == .vectorize })
            #expect(try await queue.claimJobs([.vectorize], limit: 10).count == 1)
            #expect(try await queue.claimJobs([.ingestData, .vectorize], limit: 10).count == 5)
            #expect(try await queue.claimJob(["OTHER"]) == nil)
        }
    }

    @Test("claim order: priority descending, then scheduled time, then creation", arguments: StoreKind.allCases)
    func claimOrder(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let start = clock.now()
            let low = try await queue.enqueue(NewJob(jobType: .ingestData, priority: 0)).id
            clock.advance(by: .seconds(1))
            let highLate = try await queue.enqueue(NewJob(jobType: .ingestData, priority: 5)).id
            clock.advance(by: .seconds(1))
            let highEarlySchedule = try await queue.enqueue(
                NewJob(jobType: .ingestData, priority: 5, scheduledFor: start)
            ).id
            let negative = try await queue.enqueue(NewJob(jobType: .ingestData, priority: -1)).id
            clock.advance(by: .seconds(1))
            var order: [String] = []
            while let claimed = try await queue.claimJob([.ingestData]) { order.append(claimed.job.id) }
            #expect(order == [highEarlySchedule, highLate, low, negative])

            // A batch claim returns its jobs in the same order.
            let ids = try await queue.enqueue(contentsOf: (0..<4).map { NewJob(jobType: .vectorize, priority: $0) })
            let batch = try await queue.claimJobs([.vectorize], limit: 4)
            #expect(batch.map(\.job.id) == ids.reversed().map(\.id))
        }
    }

    @Test("a scheduled job is never claimed before its time", arguments: StoreKind.allCases)
    func scheduledJobs(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, scheduledFor: clock.now() + 60)).id
            #expect(try await queue.claimJob([.ingestData]) == nil)
            clock.advance(by: .seconds(59))
            #expect(try await queue.claimJob([.ingestData]) == nil)
            clock.advance(by: .seconds(1))
            #expect(try await queue.claimJob([.ingestData])?.job.id == id)
        }
    }

    @Test("complete: COMPLETED with the result, payload cleared, lease released", arguments: StoreKind.allCases)
    func complete(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["records": [1, 2, 3]])).id
            let claimed = try #require(try await queue.claimJob([.ingestData]))
            clock.advance(by: .seconds(2))
            try await queue.completeJob(claimed.lease, result: ["savedCount": 1000, "skippedCount": 5])
            let job = try await queue.getJob(id)
            #expect(job.status == .completed)
            #expect(job.result == ["savedCount": 1000, "skippedCount": 5])
            #expect(job.payload == nil)
            #expect(job.completedAt == clock.now())
            #expect(job.leaseOwner == nil && job.leaseExpiresAt == nil)
            // A second completion with the same lease is refused: the job is no longer held.
            await #expect(throws: QueueError.self) { try await queue.completeJob(claimed.lease) }
        }
    }

    @Test(
        "fail: back to PENDING after 10 s, then 20 s, then FAILED with every error kept",
        arguments: StoreKind.allCases
    )
    func failWithBackoff(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let payload: JSONValue = ["records": ["a"]]
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: payload)).id

            var claimed = try #require(try await queue.claimJob([.ingestData]))
            let first = try await queue.failJob(claimed.lease, error: "boom 1")
            #expect(first == .retryScheduled(at: clock.now() + 10))
            var job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.scheduledFor == clock.now() + 10)
            #expect(job.leaseOwner == nil)
            #expect(job.payload == payload)

            clock.advance(by: .seconds(9))
            #expect(try await queue.claimJob([.ingestData]) == nil)
            clock.advance(by: .seconds(1))
            claimed = try #require(try await queue.claimJob([.ingestData]))
            #expect(claimed.job.attempts == 2)
            #expect(try await queue.failJob(claimed.lease, error: "boom 2") == .retryScheduled(at: clock.now() + 20))

            clock.advance(by: .seconds(19))
            #expect(try await queue.claimJob([.ingestData]) == nil)
            clock.advance(by: .seconds(1))
            claimed = try #require(try await queue.claimJob([.ingestData]))
            #expect(claimed.job.attempts == 3)
            #expect(try await queue.failJob(claimed.lease, error: "boom 3") == .failed)

            job = try await queue.getJob(id)
            #expect(job.status == .failed)
            #expect(job.result == ["error": "boom 3"])
            #expect(job.completedAt == clock.now())
            #expect(job.payload == payload)
            #expect(job.errors.map(\.attempt) == [1, 2, 3])
            #expect(job.errors.map(\.message) == ["boom 1", "boom 2", "boom 3"])
            #expect(try await queue.claimJob([.ingestData]) == nil)
        }
    }

    @Test("the retry base delay is configurable and doubles", arguments: StoreKind.allCases)
    func configurableBackoff(kind: StoreKind) async throws {
        let options = QueueOptions(retry: RetryPolicy(baseDelay: .seconds(3)))
        try await withQueue(kind, options: options) { queue, clock in
            try await queue.enqueue(NewJob(jobType: .ingestData, maxAttempts: 5))
            var delays: [TimeInterval] = []
            for _ in 0..<3 {
                let claimed = try #require(try await queue.claimJob([.ingestData]))
                guard case .retryScheduled(let at) = try await queue.failJob(claimed.lease, error: "x") else {
                    Issue.record("expected a retry")
                    return
                }
                delays.append(at.timeIntervalSince(clock.now()))
                clock.advance(by: .seconds(at.timeIntervalSince(clock.now())))
            }
            #expect(delays == [3, 6, 12])
        }
    }

    @Test("progress is stored for the monitor and renews the lease", arguments: StoreKind.allCases)
    func progressRenewsLease(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .vectorize)).id
            let claimed = try #require(try await queue.claimJob([.vectorize]))
            clock.advance(by: .seconds(200))
            try await queue.updateProgress(claimed.lease, current: 500, total: 1000, message: "Processing records...")
            let job = try await queue.getJob(id)
            #expect(job.progress == JobProgress(current: 500, total: 1000, message: "Processing records..."))
            #expect(job.leaseExpiresAt == clock.now() + 300)

            // 200 s + 200 s is past the first lease but within the renewed one: nothing to rescue.
            clock.advance(by: .seconds(200))
            #expect(try await queue.rescueExpiredJobs() == RescueResult())
            try await queue.completeJob(claimed.lease)
        }
    }

    @Test(
        "an expired lease is rescued to PENDING, and the lost worker's late calls are refused",
        arguments: StoreKind.allCases
    )
    func rescue(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData)).id
            let lost = try #require(try await queue.claimJob([.ingestData]))
            clock.advance(by: .seconds(300))
            #expect(try await queue.rescueExpiredJobs() == RescueResult(), "a lease is valid up to its expiry")
            clock.advance(by: .seconds(1))
            #expect(try await queue.rescueExpiredJobs() == RescueResult(requeued: [id]))

            var job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 1)
            #expect(job.errors.count == 1)
            #expect(job.errors.first?.message.contains("worker lost") == true)
            #expect(job.errors.first?.attempt == 1)

            let rescuer = try #require(try await queue.claimJob([.ingestData]))
            #expect(rescuer.job.attempts == 2)
            let refusal = await #expect(throws: QueueError.self) { try await queue.completeJob(lost.lease) }
            #expect(refusal?.code == .leaseLost)
            #expect(refusal?.status == .processing)
            await #expect(throws: QueueError.self) { try await queue.failJob(lost.lease, error: "late") }
            await #expect(throws: QueueError.self) {
                try await queue.updateProgress(lost.lease, current: 1, total: 2)
            }
            try await queue.completeJob(rescuer.lease, result: ["ok": true])
            job = try await queue.getJob(id)
            #expect(job.status == .completed)
            #expect(job.result == ["ok": true])
        }
    }

    @Test("a job whose last attempt's worker is lost is FAILED by the rescuer", arguments: StoreKind.allCases)
    func rescueFailsExhaustedJobs(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, maxAttempts: 1)).id
            _ = try #require(try await queue.claimJob([.ingestData]))
            clock.advance(by: .seconds(301))
            #expect(try await queue.rescueExpiredJobs() == RescueResult(failed: [id]))
            let job = try await queue.getJob(id)
            #expect(job.status == .failed)
            #expect(job.result?["error"]?.stringValue?.contains("worker lost") == true)
            #expect(job.completedAt == clock.now())
        }
    }

    @Test("cancel fails PENDING and PROCESSING jobs and refuses finished ones", arguments: StoreKind.allCases)
    func cancelRules(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let pending = try await queue.enqueue(NewJob(jobType: .ingestData)).id
            try await queue.cancelJob(pending)
            var job = try await queue.getJob(pending)
            #expect(job.status == .failed)
            #expect(job.result?["cancelled"] == true)
            #expect(job.result?["error"]?.stringValue?.lowercased().contains("cancelled") == true)

            try await queue.enqueue(NewJob(jobType: .vectorize))
            let running = try #require(try await queue.claimJob([.vectorize]))
            try await queue.cancelJob(running.job.id)
            job = try await queue.getJob(running.job.id)
            #expect(job.status == .failed)
            #expect(job.leaseOwner == nil)
            // The worker learns at its next call that it should stop.
            let stale = await #expect(throws: QueueError.self) {
                try await queue.updateProgress(running.lease, current: 1, total: 10)
            }
            #expect(stale?.code == .leaseLost)
            #expect(stale?.status == .failed)
            #expect(try await queue.getJob(running.job.id).progress == nil)

            try await queue.enqueue(NewJob(jobType: .ingestData))
            let done = try #require(try await queue.claimJob([.ingestData]))
            try await queue.completeJob(done.lease)
            let refused = await #expect(throws: QueueError.self) { try await queue.cancelJob(done.job.id) }
            #expect(refused?.code == .invalidTransition)
            #expect(refused?.message.contains("already completed") == true)

            let again = await #expect(throws: QueueError.self) { try await queue.cancelJob(pending) }
            #expect(again?.message.contains("already failed") == true)

            let missing = await #expect(throws: QueueError.self) { try await queue.cancelJob("no-such-job") }
            #expect(missing?.code == .jobNotFound)
        }
    }

    @Test("retry sends FAILED jobs back to PENDING with attempts reset and history kept", arguments: StoreKind.allCases)
    func retryRules(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let id = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["a": 1], maxAttempts: 1)).id
            let claimed = try #require(try await queue.claimJob([.ingestData]))
            try await queue.failJob(claimed.lease, error: "broken input")
            clock.advance(by: .seconds(30))
            try await queue.retryJob(id)
            let job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 0)
            #expect(job.result == nil && job.completedAt == nil && job.startedAt == nil)
            #expect(job.scheduledFor == clock.now())
            #expect(job.errors.map(\.message) == ["broken input"])
            #expect(job.payload == ["a": 1])

            let pendingRefusal = await #expect(throws: QueueError.self) { try await queue.retryJob(id) }
            #expect(pendingRefusal?.code == .invalidTransition)
            #expect(pendingRefusal?.status == .pending)

            let again = try #require(try await queue.claimJob([.ingestData]))
            #expect(again.job.attempts == 1)
            let processingRefusal = await #expect(throws: QueueError.self) { try await queue.retryJob(id) }
            #expect(processingRefusal?.status == .processing)
            try await queue.completeJob(again.lease)
            let completedRefusal = await #expect(throws: QueueError.self) { try await queue.retryJob(id) }
            #expect(completedRefusal?.message.contains("already completed") == true)

            let missing = await #expect(throws: QueueError.self) { try await queue.retryJob("no-such-job") }
            #expect(missing?.code == .jobNotFound)
        }
    }

    @Test("cleanup deletes only finished jobs older than the cut-off", arguments: StoreKind.allCases)
    func cleanupCutoff(kind: StoreKind) async throws {
        try await withQueue(kind, options: QueueOptions(cleanupBatchSize: 2)) { queue, clock in
            func finish(_ type: JobType, fail: Bool) async throws -> String {
                try await queue.enqueue(NewJob(jobType: type, maxAttempts: 1))
                let claimed = try #require(try await queue.claimJob([type]))
                if fail {
                    try await queue.failJob(claimed.lease, error: "x")
                } else {
                    try await queue.completeJob(claimed.lease)
                }
                return claimed.job.id
            }
            let oldCompleted = try await (0..<3).asyncMap { _ in try await finish(.ingestData, fail: false) }
            let oldFailed = try await finish(.vectorize, fail: true)
            let oldPending = try await queue.enqueue(NewJob(jobType: "OLD_PENDING")).id
            try await queue.enqueue(NewJob(jobType: "OLD_RUNNING"))
            let oldRunning = try #require(try await queue.claimJob(["OLD_RUNNING"])).job.id
            clock.advance(by: .seconds(2 * 86_400))
            let recent = try await finish(.ingestData, fail: false)
            clock.advance(by: .seconds(5 * 86_400 + 1))  // the old ones are now 7 days + 1 s old, `recent` 5 days

            #expect(try await queue.cleanup(olderThanDays: 7) == 4)
            for id in oldCompleted + [oldFailed] {
                await #expect(throws: QueueError.self) { try await queue.getJob(id) }
            }
            #expect(try await queue.getJob(recent).status == .completed)
            #expect(try await queue.getJob(oldPending).status == .pending)
            #expect(try await queue.getJob(oldRunning).status == .processing)
            #expect(try await queue.cleanup() == 0)
        }
    }

    @Test("stats count jobs by state and by type", arguments: StoreKind.allCases)
    func stats(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            try await queue.enqueue(contentsOf: (0..<4).map { _ in NewJob(jobType: .ingestData, maxAttempts: 1) })
            try await queue.enqueue(contentsOf: (0..<2).map { _ in NewJob(jobType: .vectorize) })
            let a = try #require(try await queue.claimJob([.ingestData]))
            try await queue.completeJob(a.lease)
            let b = try #require(try await queue.claimJob([.ingestData]))
            try await queue.failJob(b.lease, error: "x")
            _ = try #require(try await queue.claimJob([.ingestData]))

            let stats = try await queue.getQueueStats()
            #expect(stats.total == StatusCounts(pending: 3, processing: 1, completed: 1, failed: 1))
            #expect(stats.byType[.ingestData] == StatusCounts(pending: 1, processing: 1, completed: 1, failed: 1))
            #expect(stats.byType[.vectorize] == StatusCounts(pending: 2))
        }
    }

    @Test("stats equal a count of the rows after every kind of change", arguments: StoreKind.allCases)
    func statsFollowEveryChange(kind: StoreKind) async throws {
        try await withQueue(kind, options: QueueOptions(cleanupBatchSize: 3)) { queue, clock in
            var step = "start"
            func check() async throws {
                let jobs = try await queue.store.jobs(matching: JobFilter(limit: 10_000))
                let groups = Dictionary(grouping: jobs) { "\($0.jobType.rawValue) \($0.status)" }.values
                let counted = QueueStats(rows: groups.map { ($0[0].jobType, $0[0].status, $0.count) })
                let stats = try await queue.getQueueStats()
                #expect(stats.total == counted.total, "after \(step)")
                #expect(stats.byType.filter { $0.value.total > 0 } == counted.byType, "after \(step)")
            }
            step = "bulk enqueue with a duplicate unique key"
            try await queue.enqueue(contentsOf: (0..<30).map { _ in NewJob(jobType: .ingestData, maxAttempts: 2) })
            try await queue.enqueue(
                contentsOf: (0..<12).map { NewJob(jobType: .vectorize, maxAttempts: 1, uniqueKey: "k\($0 % 10)") }
            )
            try await check()
            step = "claims"
            let ingest = try await queue.claimJobs([.ingestData], limit: 20)
            let vectorize = try await queue.claimJobs([.vectorize], limit: 4)
            try await check()
            step = "completions, one and batched"
            try await queue.completeJob(ingest[0].lease)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for claimed in ingest[1..<8] { group.addTask { try await queue.completeJob(claimed.lease) } }
                try await group.waitForAll()
            }
            try await check()
            step = "failures with and without a retry, a release, progress"
            _ = try await queue.failJob(ingest[8].lease, error: "retried later")
            _ = try await queue.failJob(vectorize[0].lease, error: "again")
            try await queue.releaseJob(ingest[9].lease)
            try await queue.updateProgress(ingest[10].lease, current: 1, total: 2)
            try await check()
            step = "the rescuer"
            clock.advance(by: .seconds(3_600))
            _ = try await queue.rescueExpiredJobs()
            try await check()
            step = "cancel and retry"
            let failed = try await queue.listJobs(JobFilter(status: .failed, limit: 100))
            try await queue.retryJob(try #require(failed.first).id)
            let pending = try await queue.listJobs(JobFilter(status: .pending, limit: 100))
            try await queue.cancelJob(try #require(pending.first).id)
            try await check()
            step = "bulk cancel and retry"
            _ = try await queue.perform(.cancel, jobType: .vectorize, limit: 5)
            _ = try await queue.perform(.retry, status: .failed, limit: 3)
            try await check()
            step = "cleanup"
            clock.advance(by: .seconds(8 * 86_400))
            #expect(try await queue.cleanup() > 0)
            try await check()
        }
    }

    @Test("a unique key admits one unfinished job per type", arguments: StoreKind.allCases)
    func uniqueKeys(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let first = try await queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "project-1"))
            #expect(first.inserted)
            let duplicate = try await queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "project-1"))
            #expect(duplicate == EnqueueResult(id: first.id, inserted: false))
            #expect(try await queue.enqueue(NewJob(jobType: .ingestData, uniqueKey: "project-1")).inserted)

            // In one batch: the second of two equal keys is not inserted and reports the first.
            let batch = try await queue.enqueue(contentsOf: [
                NewJob(jobType: .vectorize, uniqueKey: "project-2"),
                NewJob(jobType: .vectorize, uniqueKey: "project-2"),
                NewJob(jobType: .vectorize, uniqueKey: "project-1"), NewJob(jobType: .vectorize),
            ])
            #expect(batch.map(\.inserted) == [true, false, false, true])
            #expect(batch[1].id == batch[0].id)
            #expect(batch[2].id == first.id)

            // Still unique while PROCESSING; free again once the holder finished.
            let claimed = try #require(
                try await queue.claimJobs([.vectorize], limit: 10).first { $0.job.id == first.id }
            )
            #expect(try await queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "project-1")).inserted == false)
            try await queue.completeJob(claimed.lease)
            let next = try await queue.enqueue(NewJob(jobType: .vectorize, uniqueKey: "project-1"))
            #expect(next.inserted && next.id != first.id)

            // A failed holder can be retried only while no other unfinished job holds its key.
            let failedID = try await queue.enqueue(NewJob(jobType: "UNIQ", maxAttempts: 1, uniqueKey: "k")).id
            let holder = try #require(try await queue.claimJob(["UNIQ"]))
            try await queue.failJob(holder.lease, error: "x")
            try await queue.enqueue(NewJob(jobType: "UNIQ", uniqueKey: "k"))
            let refused = await #expect(throws: QueueError.self) { try await queue.retryJob(failedID) }
            #expect(refused?.code == .invalidTransition)
        }
    }

    @Test("jobs are listed newest first, filtered by status and type", arguments: StoreKind.allCases)
    func listJobs(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            var ids: [String] = []
            for index in 0..<6 {
                ids.append(
                    try await queue.enqueue(NewJob(jobType: index.isMultiple(of: 2) ? .ingestData : .vectorize)).id
                )
                clock.advance(by: .seconds(1))
            }
            let claimed = try #require(try await queue.claimJob([.vectorize]))
            #expect(try await queue.listJobs().map(\.id) == ids.reversed())
            #expect(try await queue.listJobs(JobFilter(limit: 2)).map(\.id) == [ids[5], ids[4]])
            #expect(try await queue.listJobs(JobFilter(jobType: .ingestData)).map(\.id) == [ids[4], ids[2], ids[0]])
            #expect(try await queue.listJobs(JobFilter(status: .processing)).map(\.id) == [claimed.job.id])
            #expect(try await queue.listJobs(JobFilter(status: .pending, jobType: .vectorize)).count == 2)
        }
    }

    @Test("invalid jobs are refused before they reach the store", arguments: [StoreKind.memory])
    func invalidJobs(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            for job in [
                NewJob(jobType: ""), NewJob(jobType: "has space"), NewJob(jobType: .ingestData, maxAttempts: 0),
                NewJob(jobType: .ingestData, uniqueKey: ""),
            ] {
                let refusal = await #expect(throws: QueueError.self) { try await queue.enqueue(job) }
                #expect(refusal?.code == .invalidJob)
            }
            let total = try await queue.getQueueStats().total.total
            #expect(total == 0)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
