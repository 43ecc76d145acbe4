import Foundation
import SluiceCore
import SluicePipeline
import Testing

@Suite("Batched completion", .timeLimit(.minutes(5)))
struct BatchCompletionTests {
    @Test("complete many in one call: each with its result, a lost lease answered false", arguments: StoreKind.allCases)
    func completeMany(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            _ = try await queue.enqueue(
                contentsOf: (0..<5).map { NewJob(jobType: .ingestData, payload: ["n": .int(Int64($0))]) }
            )
            let claimed = try await queue.claimJobs([.ingestData], limit: 5)
            #expect(claimed.count == 5)
            try await queue.cancelJob(claimed[2].job.id)  // its lease is gone
            var completions = claimed.map { JobCompletion(lease: $0.lease, result: ["id": .string($0.job.id)]) }
            completions[3].result = nil
            let answers = try await queue.store.complete(completions, now: clock.now())
            #expect(answers == [true, true, false, true, true])
            for (index, job) in claimed.enumerated() where index != 2 {
                let stored = try await queue.getJob(job.job.id)
                #expect(stored.status == .completed && stored.payload == nil && stored.completedAt == clock.now())
                #expect(stored.result == (index == 3 ? nil : ["id": .string(job.job.id)]))
            }
            #expect(try await queue.getJob(claimed[2].job.id).status == .failed)
            #expect(try await queue.store.complete([], now: clock.now()).isEmpty)
        }
    }

    @Test("many jobs completing at once through the queue: each completed once", arguments: StoreKind.allCases)
    func concurrentCompletions(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            _ = try await queue.enqueue(contentsOf: (0..<300).map { _ in NewJob(jobType: .vectorize) })
            let claimed = try await queue.claimJobs([.vectorize], limit: 300)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for job in claimed { group.addTask { try await queue.completeJob(job.lease, result: "ok") } }
                try await group.waitForAll()
            }
            #expect(try await queue.getQueueStats().completed == 300)
            await #expect(throws: QueueError.self) { try await queue.completeJob(claimed[0].lease) }
        }
    }
}
