import Foundation
import SluiceCore
import Testing

@Suite("Concurrency", .timeLimit(.minutes(5)))
struct ConcurrencyTests {
    @Test(
        "8 claimers in 2 OS processes drain 10,000 jobs; each job is claimed and completed exactly once",
        .timeLimit(.minutes(5)),
        arguments: StoreKind.sql
    )
    func twoProcessesDrainTenThousandJobs(kind: StoreKind) async throws {
        try await withStore(kind) { store, url in
            let url = try #require(url)
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let jobs = (0..<10_000).map { NewJob(jobType: "DRAIN", payload: ["n": .int(Int64($0))]) }
            let ids = try await queue.enqueue(contentsOf: jobs).map(\.id)

            // Each process runs 4 claimers that claim up to 5 jobs at a time.
            async let first = runProduct("SluiceTestWorker", [url, "DRAIN", "4", "5"])
            async let second = runProduct("SluiceTestWorker", [url, "DRAIN", "4", "5"])
            let results = try await [first, second]
            for result in results { #expect(result.status == 0, "worker failed: \(result.stderr)") }

            let completedByProcess = results.map { $0.stdout.split(separator: "\n").map(String.init) }
            let completed = completedByProcess.flatMap { $0 }
            #expect(completed.count == 10_000, "every job completed once, none twice")
            #expect(Set(completed) == Set(ids), "no job lost")
            #expect(completedByProcess.allSatisfy { !$0.isEmpty }, "both processes took part")

            let stats = try await queue.getQueueStats()
            #expect(stats.total == StatusCounts(completed: 10_000))
            let finished = try await queue.listJobs(JobFilter(limit: 10_000))
            #expect(finished.allSatisfy { $0.attempts == 1 && $0.payload == nil }, "claimed exactly once")
        }
    }

    @Test("16 claimers in one process share 2,000 jobs without a double claim", arguments: StoreKind.allCases)
    func inProcessClaimers(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let ids = try await queue.enqueue(contentsOf: (0..<2_000).map { _ in NewJob(jobType: "DRAIN") }).map(\.id)
            let completed = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        var done: [String] = []
                        while let claimed = try await queue.claimJob(["DRAIN"]) {
                            try await queue.completeJob(claimed.lease)
                            done.append(claimed.job.id)
                        }
                        return done
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(completed.count == 2_000)
            #expect(Set(completed) == Set(ids))
        }
    }

    @Test("the rescuer and a late worker race for a job: exactly one of them wins", arguments: StoreKind.allCases)
    func rescueRacesCompletion(kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let clock = ManualWallClock()
            let queue = DatabaseQueue(store: store, clock: clock, logger: quietLogger)
            try await queue.enqueue(contentsOf: (0..<200).map { _ in NewJob(jobType: "RACE") })
            let claimed = try await queue.claimJobs(["RACE"], limit: 200)
            clock.advance(by: .seconds(301))
            async let rescued = queue.rescueExpiredJobs()
            let completions = await withTaskGroup(of: Bool.self) { group in
                for job in claimed {
                    group.addTask { (try? await queue.completeJob(job.lease)) != nil }
                }
                return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            let rescue = try await rescued
            #expect(completions + rescue.requeued.count == 200)
            let stats = try await queue.getQueueStats()
            #expect(stats.completed == completions)
            #expect(stats.pending == rescue.requeued.count)
        }
    }
}
