import Foundation
import Logging
import ServiceLifecycle
import SluiceCore
import Synchronization
import Testing

@testable import SluiceWorkers

/// Schedules and the scheduler service, with the in-memory store. (Several servers sharing one SQL database are the
/// integration suite's `schedulerOncePerCluster`.)
@Suite("Scheduler", .timeLimit(.minutes(1)))
struct SchedulerTests {
    let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test("four schedulers on one store run each slot once; a missed daily slot runs on start")
    func oncePerSlot() async throws {
        let store = MemoryJobStore()
        let runs = Mutex<[String: Int]>([:])
        let tasks = ["ingestion", "cleanup"].map { name in
            ScheduledTask(name: name, schedule: name == "cleanup" ? .dailyAt(hour: 2, minute: 0) : .every(seconds: 60))
            {
                runs.withLock { $0[name, default: 0] += 1 }
            }
        }
        let servers = (0..<4).map { Scheduler(tasks: tasks, store: store, owner: "server-\($0)", logger: quietLogger) }
        let now = Date(timeIntervalSince1970: 1_795_000_000)  // 11:06:40 UTC
        func tick(_ at: Date) async -> [String] {
            await withTaskGroup(of: [String].self) { group in
                for server in servers { group.addTask { await server.runDue(now: at) } }
                return await group.reduce(into: []) { $0 += $1 }.sorted()
            }
        }
        #expect(await tick(now) == ["cleanup", "ingestion"])
        #expect(await tick(now + 5) == [])
        #expect(await tick(now + 60) == ["ingestion"])
        #expect(await tick(now + 86_400) == ["cleanup", "ingestion"])
        #expect(runs.withLock { $0 } == ["ingestion": 3, "cleanup": 2])
    }

    @Test("on shutdown a scheduled run in progress gets the grace period, then is cancelled")
    func schedulerShutdown() async throws {
        let store = MemoryJobStore()
        let started = AsyncStream<Void>.makeStream()
        let outcome = Mutex<String?>(nil)
        let task = ScheduledTask(name: "long", schedule: .every(seconds: 3600)) {
            started.continuation.yield()
            do {
                try await Task.sleep(for: .seconds(60))
                outcome.withLock { $0 = "finished" }
            } catch {
                outcome.withLock { $0 = "cancelled" }
            }
        }
        let scheduler = Scheduler(
            tasks: [task],
            store: store,
            shutdownGracePeriod: .milliseconds(200),
            logger: quietLogger
        )
        let group = ServiceGroup(services: [scheduler], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            for await _ in started.stream { break }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // The action sleeps 60 s unless cancelled: "cancelled" shows the grace period ended it.
        #expect(outcome.withLock { $0 } == "cancelled")
    }

    @Test("schedules: parsing and slots")
    func schedules() throws {
        #expect(try Schedule(parsing: "60s") == .every(seconds: 60))
        #expect(try Schedule(parsing: "5m") == .every(seconds: 300))
        #expect(try Schedule(parsing: "1h") == .every(seconds: 3600))
        #expect(try Schedule(parsing: "daily@02:00") == .dailyAt(hour: 2, minute: 0))
        for bad in ["", "0s", "-5m", "daily@24:00", "daily@2", "every minute", "10x"] {
            #expect(throws: QueueError.self, "\(bad)") { try Schedule(parsing: bad) }
        }
        let t = Date(timeIntervalSince1970: 1_795_000_000)  // 11:06:40 UTC
        #expect(Schedule.every(seconds: 60).slot(containing: t) == Date(timeIntervalSince1970: 1_794_999_960))
        #expect(Schedule.every(seconds: 60).nextSlot(after: t) == Date(timeIntervalSince1970: 1_795_000_020))
        let daily = Schedule.dailyAt(hour: 2, minute: 0)
        #expect(daily.slot(containing: t) == Date(timeIntervalSince1970: 1_794_967_200))  // 02:00 that day
        #expect(daily.nextSlot(after: t) == Date(timeIntervalSince1970: 1_795_053_600))  // 02:00 next day
        #expect(
            Schedule.dailyAt(hour: 23, minute: 30).slot(containing: t) == Date(timeIntervalSince1970: 1_794_958_200)
        )
    }
}
