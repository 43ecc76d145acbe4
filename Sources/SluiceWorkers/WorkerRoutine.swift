import Logging
import SluiceCore

/// One invocation of a worker: what the worker endpoints and the scheduler run. It rescues jobs whose worker was
/// lost, claims a batch, and runs it within a time budget.
public struct WorkerRoutine: Sendable {
    /// Which jobs an invocation takes.
    public struct Spec: Sendable, Hashable {
        public var types: [JobType]
        public var batchSize: Int

        public init(types: [JobType], batchSize: Int) {
            self.types = types
            self.batchSize = batchSize
        }
    }

    /// What an invocation did.
    public struct Report: Sendable, Hashable {
        /// Jobs run to an outcome: completed, failed or timed out.
        public var processed: Int
        public var completed: Int
        public var failed: Int
        /// Wall time of the invocation, rescue included.
        public var duration: Duration
    }

    public let runner: JobRunner
    /// The longest an invocation runs; a job still running at the end fails its attempt. Default 60 s, the
    /// reference's function limit (`SLUICE_WORKER_BUDGET_SECONDS`).
    public var budget: Duration

    public init(runner: JobRunner, budget: Duration = .seconds(60)) {
        self.runner = runner
        self.budget = budget
    }

    public func run(_ spec: Spec) async throws -> Report {
        let started = ContinuousClock.now
        try await runner.queue.rescueExpiredJobs()
        let claimed = try await runner.queue.claimJobs(spec.types, limit: spec.batchSize)
        let remaining = budget - (ContinuousClock.now - started)
        let outcomes = await withTaskGroup(of: JobRunner.Outcome.self) { group in
            for job in claimed {
                group.addTask { await runner.run(job, timeLimit: max(remaining, .milliseconds(1))) }
            }
            var outcomes: [JobRunner.Outcome] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        var report = Report(processed: 0, completed: 0, failed: 0, duration: .zero)
        for outcome in outcomes {
            switch outcome {
            case .completed:
                report.completed += 1
                report.processed += 1
            case .failed:
                report.failed += 1
                report.processed += 1
            case .released, .deferred, .leaseLost, .unrecorded:
                break
            }
        }
        report.duration = ContinuousClock.now - started
        return report
    }
}
