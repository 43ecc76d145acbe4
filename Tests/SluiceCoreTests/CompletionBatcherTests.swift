import Foundation
import Synchronization
import Testing

@testable import SluiceCore

@Suite("Completion batching", .timeLimit(.minutes(1)))
struct CompletionBatcherTests {
    private func completion(_ id: String) -> JobCompletion {
        JobCompletion(lease: JobLease(jobID: id, owner: "w", attempt: 1, maxAttempts: 3), result: nil)
    }

    @Test("a lone completion is written at once, alone")
    func alone() async throws {
        let batcher = CompletionBatcher()
        let writes = Mutex<[[String]]>([])
        let held = try await batcher.complete(completion("a")) { batch in
            writes.withLock { $0.append(batch.map(\.lease.jobID)) }
            return [true]
        }
        #expect(held)
        #expect(writes.withLock { $0 } == [["a"]])
    }

    @Test("concurrent completions share writes, each gets its own answer, batches stay within the limit")
    func concurrent() async throws {
        let batcher = CompletionBatcher(maxBatch: 16)
        let writes = Mutex<[[String]]>([])
        let write: @Sendable ([JobCompletion]) async throws -> [Bool] = { batch in
            writes.withLock { $0.append(batch.map(\.lease.jobID)) }
            try await Task.sleep(for: .milliseconds(5))  // a round trip, during which others arrive
            return batch.map { $0.lease.jobID.hasPrefix("held") }
        }
        let answers = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
            for index in 0..<200 {
                let id = index % 3 == 0 ? "lost-\(index)" : "held-\(index)"
                group.addTask { (id, try await batcher.complete(completion(id), write: write)) }
            }
            return try await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == 200)
        for (id, held) in answers { #expect(held == id.hasPrefix("held"), "\(id)") }
        let batches = writes.withLock { $0 }
        #expect(batches.flatMap { $0 }.sorted() == answers.keys.sorted())  // each written exactly once
        #expect(batches.allSatisfy { $0.count <= 16 })
        #expect(batches.count < 200 / 2, "\(batches.count) writes for 200 completions")
    }

    @Test("a failed write fails every completion in its batch, and the next batch still runs")
    func failure() async throws {
        struct Boom: Error {}
        let batcher = CompletionBatcher()
        let calls = Mutex(0)
        let write: @Sendable ([JobCompletion]) async throws -> [Bool] = { batch in
            let call = calls.withLock { value -> Int in
                value += 1
                return value
            }
            try await Task.sleep(for: .milliseconds(5))
            if call == 1 { throw Boom() }
            return batch.map { _ in true }
        }
        let outcomes = await withTaskGroup(of: Bool?.self) { group in
            for index in 0..<20 {
                group.addTask { try? await batcher.complete(completion("j\(index)"), write: write) }
            }
            return await group.reduce(into: [Bool?]()) { $0.append($1) }
        }
        #expect(outcomes.contains(nil))  // the first batch failed
        #expect(outcomes.contains(true))  // later batches were written
        #expect(outcomes.allSatisfy { $0 == nil || $0 == true })
    }
}
