import Foundation
import Logging
import ServiceLifecycle
import SluiceCore

/// A named piece of work and when it runs.
public struct ScheduledTask: Sendable {
    public var name: String
    public var schedule: Schedule
    public var action: @Sendable () async throws -> Void

    public init(name: String, schedule: Schedule, action: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.schedule = schedule
        self.action = action
    }
}

/// Runs scheduled tasks once per slot across every server sharing the database: before running, a server claims
/// the (task, slot) pair in `sluice_scheduled_runs`, and only the first claim wins. A slot missed while no server
/// ran (say the daily cleanup at 02:00) is run when a server next starts within that slot.
public struct Scheduler: Service {
    public let tasks: [ScheduledTask]
    /// On shutdown, how long a scheduled run in progress may go on before it is cancelled (its jobs then go back to
    /// PENDING). Default 30 s.
    public let shutdownGracePeriod: Duration
    private let store: any ScheduleStore
    private let clock: any WallClock
    private let owner: String
    private let logger: Logger

    public init(
        tasks: [ScheduledTask],
        store: any ScheduleStore,
        clock: any WallClock = SystemWallClock(),
        owner: String = QueueOptions.defaultWorkerName,
        shutdownGracePeriod: Duration = .seconds(30),
        logger: Logger = Logger(label: "sluice.scheduler")
    ) {
        self.tasks = tasks
        self.shutdownGracePeriod = shutdownGracePeriod
        self.store = store
        self.clock = clock
        self.owner = owner
        self.logger = logger
    }

    /// Claims and runs, concurrently, every task whose slot containing `now` no server has claimed yet; returns
    /// the names of the tasks this call ran.
    @discardableResult
    public func runDue(now: Date) async -> [String] {
        await withTaskGroup(of: String?.self) { group in
            for task in tasks {
                group.addTask {
                    let slot = task.schedule.slot(containing: now)
                    do {
                        guard try await store.claimScheduledRun(name: task.name, slot: slot, owner: owner, now: now)
                        else { return nil }
                        logger.debug(
                            "scheduled run",
                            metadata: [LogKey.task: "\(task.name)", LogKey.slot: "\(slot)"]
                        )
                        try await task.action()
                        return task.name
                    } catch {
                        logger.error(
                            "scheduled task failed",
                            metadata: [LogKey.task: "\(task.name)", LogKey.error: "\(error)"]
                        )
                        return nil
                    }
                }
            }
            var ran: [String] = []
            for await name in group { if let name { ran.append(name) } }
            return ran.sorted()
        }
    }

    public func run() async throws {
        logger.info(
            "scheduler started",
            metadata: [LogKey.tasks: "\(tasks.map { "\($0.name) \($0.schedule)" })"]
        )
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let now = clock.now()
            _ = await cancellingAfterGracePeriod(shutdownGracePeriod) { await runDue(now: now) }
            let next = tasks.map { $0.schedule.nextSlot(after: now) }.min() ?? now + 60
            let wait = min(max(next.timeIntervalSince(clock.now()), 0.05), 60)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }
    }
}

/// Runs `body`; once a graceful shutdown begins, lets it go on for `grace`, then cancels it.
func cancellingAfterGracePeriod<T: Sendable>(
    _ grace: Duration,
    _ body: @escaping @Sendable () async -> T
) async -> T {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            do {
                try await gracefulShutdown()  // returns when shutdown begins; throws when this child is cancelled
                try await Task.sleep(for: grace)
            } catch {}
            return nil
        }
        var result: T?
        while let next = await group.next() {
            group.cancelAll()
            if let value = next { result = value }
        }
        return result!
    }
}
