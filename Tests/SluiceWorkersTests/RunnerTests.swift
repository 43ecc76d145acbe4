import Foundation
import Logging
import SluiceCore
import Synchronization
import Testing

@testable import SluiceWorkers

/// The job runner against the in-memory store: what each way a handler ends does to the job. No SQL: the stores'
/// own behaviour is the conformance suite's concern.
@Suite("Job runner", .timeLimit(.minutes(1)))
struct RunnerTests {
    static let work: JobType = "TEST_WORK"
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A queue on a fresh memory store with a manual clock, and a runner with `handlers`.
    static func setUp(
        _ register: (inout JobHandlerRegistry) -> Void
    ) -> (queue: DatabaseQueue, runner: JobRunner, clock: ManualWallClock) {
        let clock = ManualWallClock()
        let queue = DatabaseQueue(store: MemoryJobStore(), clock: clock, logger: logger)
        var handlers = JobHandlerRegistry()
        register(&handlers)
        return (queue, JobRunner(queue: queue, handlers: handlers, logger: logger), clock)
    }

    @Test("a handler's value becomes the result; the payload is cleared, follow-ups are queued with it")
    func completes() async throws {
        let (queue, runner, _) = Self.setUp { handlers in
            handlers.register(Self.work) { context in
                try await context.reportProgress(current: 1, total: 2, message: "half")
                context.enqueueOnCompletion(
                    NewJob(jobType: "TEST_NEXT", payload: ["after": context.payload["n"] ?? .null])
                )
                return ["doubled": .int(Int64((context.payload["n"]?.intValue ?? 0) * 2))]
            }
        }
        let id = try await queue.enqueue(NewJob(jobType: Self.work, payload: ["n": 21])).id
        #expect(await runner.run(try #require(try await queue.claimJob([Self.work]))) == .completed)
        let job = try await queue.getJob(id)
        #expect(job.status == .completed)
        #expect(job.result == ["doubled": 42])
        #expect(job.payload == nil)
        #expect(job.progress == JobProgress(current: 1, total: 2, message: "half"))
        let next = try #require(try await queue.claimJob(["TEST_NEXT"]))
        #expect(next.job.payload == ["after": 21])
    }

    @Test("a thrown error fails the attempt with its description: retried after the backoff, then FAILED")
    func failures() async throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "the disk is full" } }
        let (queue, runner, clock) = Self.setUp { handlers in
            handlers.register(Self.work) { _ in throw Broken() }
        }
        let id = try await queue.enqueue(NewJob(jobType: Self.work, maxAttempts: 2)).id
        let first = await runner.run(try #require(try await queue.claimJob([Self.work])))
        #expect(first == .failed(.retryScheduled(at: clock.now() + 10)))
        #expect(try await queue.claimJob([Self.work]) == nil, "not before the backoff")
        clock.advance(by: .seconds(10))
        #expect(await runner.run(try #require(try await queue.claimJob([Self.work]))) == .failed(.failed))
        let job = try await queue.getJob(id)
        #expect(job.status == .failed)
        #expect(job.errors.map(\.message) == ["the disk is full", "the disk is full"])
        #expect(job.errors.map(\.attempt) == [1, 2])
    }

    @Test("a handler past its time limit is cancelled and its attempt fails, saying so")
    func timeLimit() async throws {
        let cancelled = Atomic<Bool>(false)
        let (queue, runner, _) = Self.setUp { handlers in
            handlers.register(Self.work) { _ in
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.store(true, ordering: .relaxed)
                    throw error
                }
                return nil
            }
        }
        let id = try await queue.enqueue(NewJob(jobType: Self.work, maxAttempts: 1)).id
        let claimed = try #require(try await queue.claimJob([Self.work]))
        #expect(await runner.run(claimed, timeLimit: .milliseconds(50)) == .failed(.failed))
        #expect(cancelled.load(ordering: .relaxed) == true)
        #expect(try await queue.getJob(id).errors.first?.message == "time limit of 0.05 s exceeded")
    }

    @Test("a job of a type with no handler here fails with a message naming the type")
    func noHandler() async throws {
        let (queue, runner, _) = Self.setUp { _ in }
        let id = try await queue.enqueue(NewJob(jobType: "TEST_UNKNOWN", maxAttempts: 1)).id
        #expect(await runner.run(try #require(try await queue.claimJob(["TEST_UNKNOWN"]))) == .failed(.failed))
        let message = try await queue.getJob(id).errors.first?.message ?? ""
        #expect(message.contains("no handler") && message.contains("TEST_UNKNOWN"), "\(message)")
    }

    @Test("jobs with one concurrency key run one at a time in a process, in arrival order; other keys run beside")
    func serializedByKey() async throws {
        let running = Mutex<(now: [String: Int], peak: [String: Int], order: [Int])>(([:], [:], []))
        let (queue, runner, _) = Self.setUp { handlers in
            handlers.register(Self.work, serializeBy: "key") { context in
                let key = context.payload["key"]?.stringValue ?? ""
                running.withLock { state in
                    state.now[key, default: 0] += 1
                    state.peak[key] = max(state.peak[key] ?? 0, state.now[key]!)
                    if key == "a" { state.order.append(context.payload["n"]?.intValue ?? -1) }
                }
                try await Task.sleep(for: .milliseconds(20))
                running.withLock { $0.now[key, default: 0] -= 1 }
                return nil
            }
        }
        for n in 0..<4 {
            try await queue.enqueue(NewJob(jobType: Self.work, payload: ["key": "a", "n": .int(Int64(n))]))
        }
        try await queue.enqueue(NewJob(jobType: Self.work, payload: ["key": "b", "n": 9]))
        let claimed = try await queue.claimJobs([Self.work], limit: 5)
        #expect(claimed.count == 5)
        let outcomes = await withTaskGroup(of: JobRunner.Outcome.self) { group in
            for job in claimed {
                group.addTask { await runner.run(job) }
                try? await Task.sleep(for: .milliseconds(2))  // arrival order
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0 == .completed })
        let state = running.withLock { $0 }
        #expect(state.peak == ["a": 1, "b": 1])
        #expect(state.order == [0, 1, 2, 3])
    }
}
