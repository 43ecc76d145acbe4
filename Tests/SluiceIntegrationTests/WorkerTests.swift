import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

@testable import SluiceCLI

@Suite("Workers, scheduler and worker endpoints", .timeLimit(.minutes(5)))
struct WorkerTests {
    /// The reference's Security section, in both modes.
    @Test(
        "CRON_SECRET: required in production, optional but enforced in development",
        arguments: [AppEnvironment.development, .production]
    )
    func cronSecretMatrix(environment: AppEnvironment) async throws {
        let secret = "s3cret-\(UUID().uuidString)"
        let headers: [(String, HTTPFields, Bool)] = [
            ("no header", [:], false),
            ("wrong secret", [.authorization: "Bearer nope"], false),
            ("secret without Bearer", [.authorization: secret], false),
            ("secret with a suffix", [.authorization: "Bearer \(secret)x"], false),
            ("right secret", [.authorization: "Bearer \(secret)"], true),
        ]
        for path in ["/api/workers/ingestion", "/api/workers/vectorization", "/api/workers/cleanup"] {
            // Secret set: only the right bearer passes, in both modes.
            try await withServer(.memory, configuration: .testing(environment, cronSecret: secret)) { server in
                for (name, header, passes) in headers {
                    let exchange = try await server.request(.get, path, headers: header)
                    #expect(exchange.status == (passes ? .ok : .unauthorized), "\(environment) \(path) \(name)")
                    #expect(exchange.json?["success"] == (passes ? true : nil))
                    if !passes { #expect(exchange.error == "Unauthorized") }
                    #expect(!exchange.text.contains(secret))
                }
            }
            // Secret unset: production refuses with 500 and says why; development runs (and logs a warning).
            try await withServer(.memory, configuration: .testing(environment, cronSecret: nil)) { server in
                let exchange = try await server.request(.get, path, headers: [.authorization: "Bearer anything"])
                if environment == .production {
                    #expect(exchange.status == .internalServerError)
                    #expect(exchange.error?.contains("CRON_SECRET is not set") == true)
                } else {
                    #expect(exchange.status == .ok, "\(path): \(exchange.text)")
                    #expect(exchange.json?["success"] == true)
                }
            }
        }
    }

    @Test(
        "worker endpoints run handlers: 3 ingestion jobs per call, results kept, payloads cleared",
        arguments: StoreKind.sql
    )
    func ingestionEndpoint(kind: StoreKind) async throws {
        var handlers = JobHandlerRegistry()
        handlers.register(.ingestData) { context in
            let n = context.payload["n"]?.intValue ?? 0
            if n == 4 { throw TestSetupError("record 4 is malformed") }
            try await context.reportProgress(current: 1, total: 1, message: "stored")
            return ["savedCount": .int(Int64(n * 10))]
        }
        try await withServer(kind, handlers: handlers) { server in
            let queue = server.app.queue
            let ids = try await queue.enqueue(
                contentsOf: (1...5).map { NewJob(jobType: .ingestData, payload: ["n": .int(Int64($0))]) }
            ).map(\.id)
            let vectorize = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": "p"])).id

            let first = try await server.request(.get, "/api/workers/ingestion")
            #expect(first.json?["processed"] == 3)
            #expect(first.json?["success"] == true)
            #expect(first.json?["duration"]?.intValue.map { $0 >= 0 } == true)
            let second = try await server.request(.get, "/api/workers/ingestion")
            #expect(second.json?["processed"] == 2)
            let third = try await server.request(.get, "/api/workers/ingestion")
            #expect(third.json?["processed"] == 0)

            for (index, id) in ids.enumerated() {
                let job = try await queue.getJob(id)
                if index == 3 {
                    #expect(job.status == .pending, "failed attempt scheduled for retry")
                    #expect(job.errors.first?.message.contains("record 4 is malformed") == true)
                } else {
                    #expect(job.status == .completed)
                    #expect(job.result == ["savedCount": .int(Int64((index + 1) * 10))])
                    #expect(job.payload == nil)
                    #expect(job.progress?.message == "stored")
                }
            }
            // No handler for VECTORIZE in this process: the attempt fails with a clear error.
            let vectorization = try await server.request(.get, "/api/workers/vectorization")
            #expect(vectorization.json?["processed"] == 1)
            let unhandled = try await queue.getJob(vectorize)
            #expect(
                unhandled.errors.first?.message == "no handler is registered for job type VECTORIZE in this process"
            )

            // Metrics saw it all.
            let metrics = try await server.request(.get, "/metrics")
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains(#"sluice_jobs_completed_total{job_type="INGEST_DATA"} 4"#))
            #expect(metrics.text.contains(#"sluice_job_attempts_failed_total{job_type="INGEST_DATA"} 1"#))
            #expect(metrics.text.contains(#"sluice_job_attempts_failed_total{job_type="VECTORIZE"} 1"#))
            #expect(metrics.text.contains(#"sluice_job_duration_seconds_count{job_type="INGEST_DATA"} 5"#))
            #expect(metrics.text.contains(#"sluice_queue_jobs{job_type="INGEST_DATA",status="COMPLETED"} 4"#))
            #expect(metrics.text.contains(#"sluice_queue_jobs{job_type="VECTORIZE",status="PENDING"} 1"#))
            server.clock.advance(by: .seconds(90))
            let later = try await server.request(.get, "/metrics")
            let age = later.text.split(separator: "\n").first {
                $0.hasPrefix("sluice_queue_oldest_pending_age_seconds ")
            }
            let seconds = try #require(age.flatMap { Double($0.split(separator: " ")[1]) })
            #expect(seconds >= 90 && seconds < 200)
        }
    }

    @Test("cleanup endpoint deletes finished jobs older than 7 days", arguments: StoreKind.sql)
    func cleanupEndpoint(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let queue = server.app.queue
            let old = try await queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            try await queue.cancelJob(old)
            server.clock.advance(by: .seconds(7 * 86_400 + 1))
            let recent = try await queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            try await queue.cancelJob(recent)
            let pending = try await queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            let exchange = try await server.request(.get, "/api/workers/cleanup")
            #expect(exchange.json == ["success": true, "deletedCount": 1])
            await #expect(throws: QueueError.self) { try await queue.getJob(old) }
            #expect(try await queue.getJob(recent).status == .failed)
            #expect(try await queue.getJob(pending).status == .pending)
        }
    }

    @Test("a job past the time budget fails its attempt; the endpoint answers within the budget")
    func timeBudget() async throws {
        var handlers = JobHandlerRegistry()
        handlers.register(.ingestData) { _ in
            try await Task.sleep(for: .seconds(30))
            return nil
        }
        var configuration = ServerConfiguration.testing()
        configuration.workerBudget = .milliseconds(300)
        try await withServer(.memory, configuration: configuration, handlers: handlers) { server in
            let id = try await server.app.queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            let exchange = try await server.request(.get, "/api/workers/ingestion")
            #expect(exchange.json?["processed"] == 1)
            let duration = try #require(exchange.json?["duration"]?.intValue)
            #expect(duration < 10_000, "answered after \(duration) ms")
            let job = try await server.app.queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.errors.first?.message.hasPrefix("time limit of 0.") == true, "\(job.errors)")
            #expect(job.errors.first?.message.hasSuffix(" s exceeded") == true)
        }
    }

    @Test("VECTORIZE runs one job at a time per project", arguments: StoreKind.sql)
    func vectorizationPerProject(kind: StoreKind) async throws {
        let tracker = ConcurrencyTracker()
        var handlers = JobHandlerRegistry()
        handlers.register(.vectorize, serializeBy: "projectId") { context in
            let project = context.payload["projectId"]?.stringValue ?? "?"
            tracker.enter(project)
            if project == "a" {
                try await Task.sleep(for: .milliseconds(150))
            } else {
                // Projects b and c wait for each other: they finish only if they run side by side (or after 10 s).
                let deadline = ContinuousClock.now + .seconds(10)
                while tracker.maximumOverall() < 2 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            tracker.leave(project)
            return nil
        }
        try await withServer(kind, handlers: handlers) { server in
            let queue = server.app.queue
            _ = try await queue.enqueue(contentsOf: [
                NewJob(jobType: .vectorize, payload: ["projectId": "a"]),
                NewJob(jobType: .vectorize, payload: ["projectId": "a"]),
            ])
            let exchange = try await server.request(.get, "/api/workers/vectorization")
            #expect(exchange.json?["processed"] == 2)
            #expect(tracker.maximum("a") == 1)
            #expect(try #require(exchange.json?["duration"]?.intValue) >= 300, "the two ran one after the other")

            _ = try await queue.enqueue(contentsOf: [
                NewJob(jobType: .vectorize, payload: ["projectId": "b"]),
                NewJob(jobType: .vectorize, payload: ["projectId": "c"]),
            ])
            _ = try await server.request(.get, "/api/workers/vectorization")
            #expect(tracker.maximumOverall() == 2, "different projects run side by side")
        }
    }

    @Test(
        "VECTORIZE is one job per project across processes: a second worker defers, then runs it",
        arguments: StoreKind.allCases
    )
    func vectorizationAcrossProcesses(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            let started = AsyncStream<String>.makeStream()
            let finish = AsyncStream<Void>.makeStream()
            var handlers = JobHandlerRegistry()
            handlers.register(.vectorize, serializeBy: "projectId") { context in
                started.continuation.yield(context.job.id)
                if context.payload["wait"] == true { for await _ in finish.stream { break } }
                return "done"
            }
            // Two runners stand for two worker processes: each has its own in-process serialiser.
            let first = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let second = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let slow = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": "p", "wait": true]))
                .id
            let other = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": "p"])).id
            let elsewhere = try await queue.enqueue(NewJob(jobType: .vectorize, payload: ["projectId": "q"])).id
            let jobs = try await queue.claimJobs([.vectorize], limit: 3)
            let byID = Dictionary(uniqueKeysWithValues: jobs.map { ($0.job.id, $0) })

            await withTaskGroup(of: JobRunner.Outcome.self) { group in
                group.addTask { await first.run(byID[slow]!) }
                for await id in started.stream where id == slow { break }
                // While the first process runs project p, the second defers p's other job and runs project q.
                #expect(await second.run(byID[other]!) == .deferred)
                #expect(await second.run(byID[elsewhere]!) == .completed)
                finish.continuation.yield()
                #expect(await group.next() == .completed)
            }
            let deferred = try await queue.getJob(other)
            #expect(deferred.status == .pending)
            #expect(deferred.attempts == 0, "a deferral is not an attempt")
            #expect(deferred.errors.isEmpty)
            #expect(deferred.scheduledFor == clock.now() + 5)
            #expect(try await queue.claimJob([.vectorize]) == nil, "not before its delay")
            clock.advance(by: .seconds(5))
            let again = try #require(try await queue.claimJob([.vectorize]))
            #expect(again.job.id == other)
            #expect(await second.run(again) == .completed, "the first process let go of project p")
        }
    }

    @Test(
        "a handler's RetryLater hands the job back for the delay without spending an attempt",
        arguments: StoreKind.allCases
    )
    func retryLater(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, clock in
            var handlers = JobHandlerRegistry()
            handlers.register(.vectorize) { context in
                if context.job.scheduledFor == context.job.createdAt {
                    throw RetryLater(after: .seconds(30), reason: "provider asked to slow down")
                }
                return "done"
            }
            let runner = JobRunner(queue: queue, handlers: handlers, logger: quietLogger)
            let id = try await queue.enqueue(NewJob(jobType: .vectorize, payload: [:], maxAttempts: 1)).id
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .deferred)
            let job = try await queue.getJob(id)
            #expect(job.status == .pending)
            #expect(job.attempts == 0)
            #expect(job.errors.isEmpty)
            #expect(job.scheduledFor == clock.now() + 30)
            clock.advance(by: .seconds(30))
            #expect(await runner.run(try #require(try await queue.claimJob([.vectorize]))) == .completed)
            #expect(try await queue.getJob(id).result == "done", "one attempt allowed, and it was still there")
        }
    }

    @Test("a concurrency-key lock left by a crashed worker expires", arguments: StoreKind.sql)
    func expiredKeyLock(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let now = ManualWallClock().now()
            let key = "VECTORIZE/p"
            #expect(try await stores.queue.acquireKeyLock(key, owner: "crashed", now: now, expiresAt: now + 300))
            #expect(try await !stores.queue.acquireKeyLock(key, owner: "me", now: now + 299, expiresAt: now + 600))
            #expect(try await !stores.queue.renewKeyLock(key, owner: "me", expiresAt: now + 900))
            #expect(try await stores.queue.renewKeyLock(key, owner: "crashed", expiresAt: now + 310))
            #expect(try await !stores.queue.acquireKeyLock(key, owner: "me", now: now + 305, expiresAt: now + 600))
            #expect(try await stores.queue.acquireKeyLock(key, owner: "me", now: now + 311, expiresAt: now + 600))
            // No longer the crashed worker's lock: its late release changes nothing.
            try await stores.queue.releaseKeyLock(key, owner: "crashed")
            #expect(try await !stores.queue.acquireKeyLock(key, owner: "third", now: now + 312, expiresAt: now + 600))
            try await stores.queue.releaseKeyLock(key, owner: "me")
            #expect(try await stores.queue.acquireKeyLock(key, owner: "third", now: now + 313, expiresAt: now + 600))
        }
    }

    @Test(
        "graceful shutdown: a job that finishes in the grace period completes, one that does not goes back to PENDING",
        arguments: StoreKind.sql
    )
    func gracefulShutdown(kind: StoreKind) async throws {
        try await withQueue(kind) { queue, _ in
            let started = AsyncStream<String>.makeStream()
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData) { context in
                started.continuation.yield(context.job.id)
                if context.payload["quick"] == true {
                    // Finishes within the grace period.
                    try? await Task.sleep(for: .milliseconds(100))
                    return "done"
                }
                try await Task.sleep(for: .seconds(60))  // only cancellation ends this one
                return "never"
            }
            let quick = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["quick": true])).id
            let slow = try await queue.enqueue(NewJob(jobType: .ingestData, payload: ["quick": false])).id
            let worker = ContinuousWorker(
                runner: JobRunner(queue: queue, handlers: handlers, logger: quietLogger),
                options: ContinuousWorkerOptions(
                    types: [.ingestData],
                    concurrency: 2,
                    pollInterval: .milliseconds(50),
                    shutdownGracePeriod: .seconds(2)
                ),
                logger: quietLogger
            )
            let group = ServiceGroup(services: [worker], logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var seen: Set<String> = []
                for await id in started.stream {
                    seen.insert(id)
                    if seen.count == 2 { break }
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let finished = try await queue.getJob(quick)
            #expect(finished.status == .completed)
            #expect(finished.result == "done")
            let released = try await queue.getJob(slow)
            #expect(released.status == .pending)
            #expect(released.attempts == 0, "a released job's attempt is not counted")
            #expect(released.leaseOwner == nil)
            #expect(released.errors.isEmpty)
            #expect(try await queue.claimJob([.ingestData])?.job.id == slow)
        }
    }

    @Test("continuous workers pick up new jobs within the poll interval and respect the concurrency")
    func continuousWorker() async throws {
        try await withQueue(.sqlite) { queue, _ in
            let tracker = ConcurrencyTracker()
            let done = AsyncStream<Void>.makeStream()
            var handlers = JobHandlerRegistry()
            handlers.register(.ingestData) { _ in
                tracker.enter("all")
                // Until two have run side by side, wait for a partner (at most 5 s), so that the overlap shows
                // however slow the machine is.
                let deadline = ContinuousClock.now + .seconds(5)
                while tracker.maximum("all") < 2 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                try await Task.sleep(for: .milliseconds(20))
                tracker.leave("all")
                done.continuation.yield()
                return nil
            }
            let worker = ContinuousWorker(
                runner: JobRunner(queue: queue, handlers: handlers, logger: quietLogger),
                options: ContinuousWorkerOptions(
                    types: [.ingestData],
                    concurrency: 3,
                    pollInterval: .milliseconds(100)
                ),
                logger: quietLogger
            )
            let group = ServiceGroup(services: [worker], logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await Task.sleep(for: .milliseconds(150))  // the worker is idle and polling
                _ = try await queue.enqueue(
                    contentsOf: (0..<12).map { _ in NewJob(jobType: .ingestData, payload: [:]) }
                )
                var count = 0
                for await _ in done.stream {
                    count += 1
                    if count == 12 { break }
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(try await queue.getQueueStats().completed == 12)
            #expect(tracker.maximum("all") <= 3)
            #expect(tracker.maximum("all") >= 2)
        }
    }

    @Test("scheduled runs happen once per slot across servers sharing a database", arguments: StoreKind.sql)
    func schedulerOncePerCluster(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let runs = Mutex<[String: Int]>([:])
            let tasks = ["ingestion", "cleanup"].map { name in
                ScheduledTask(
                    name: name,
                    schedule: name == "cleanup" ? .dailyAt(hour: 2, minute: 0) : .every(seconds: 60)
                ) {
                    runs.withLock { $0[name, default: 0] += 1 }
                }
            }
            let servers = (0..<4).map { index in
                Scheduler(tasks: tasks, store: stores.queue, owner: "server-\(index)", logger: quietLogger)
            }
            let now = Date(timeIntervalSince1970: 1_795_000_000)  // Wednesday 18 November 2026, 11:06:40 UTC
            func tick(_ at: Date) async -> [String] {
                await withTaskGroup(of: [String].self) { group in
                    for server in servers { group.addTask { await server.runDue(now: at) } }
                    var ran: [String] = []
                    for await names in group { ran += names }
                    return ran.sorted()
                }
            }
            #expect(await tick(now) == ["cleanup", "ingestion"], "the missed 02:00 cleanup runs once on start")
            #expect(await tick(now + 5) == [], "same minute, same day: nothing new")
            #expect(await tick(now + 60) == ["ingestion"])
            #expect(await tick(now + 3600) == ["ingestion"])
            #expect(await tick(now + 86_400) == ["cleanup", "ingestion"])
            #expect(runs.withLock { $0 } == ["ingestion": 4, "cleanup": 2])
        }
    }

    @Test("server settings from the environment; bad values are named")
    func configurationFromEnvironment() throws {
        let defaults = try SettingsReader([:]).serverConfiguration()
        #expect(defaults.port == 3000)
        #expect(defaults.environment == .development)
        #expect(defaults.cronSecret == nil)
        #expect(defaults.cleanupSchedule == .dailyAt(hour: 2, minute: 0))
        #expect(defaults.workerBudget == .seconds(60))
        #expect(defaults.bulkActionLimit == 1_000)
        let set = try SettingsReader([
            "APP_ENV": "Production", "PORT": "8080", "CRON_SECRET": "x", "SLUICE_SCHEDULE_CLEANUP": "daily@03:15",
            "SLUICE_WORKER_CONCURRENCY": "8", "SLUICE_SHUTDOWN_GRACE_SECONDS": "5", "SLUICE_BULK_ACTION_LIMIT": "250",
        ]).serverConfiguration()
        #expect(set.bulkActionLimit == 250)
        #expect(set.environment == .production)
        #expect(set.port == 8080)
        #expect(set.cronSecret == "x")
        #expect(set.cleanupSchedule == .dailyAt(hour: 3, minute: 15))
        #expect(set.workers.concurrency == 8)
        #expect(set.workers.shutdownGracePeriod == .seconds(5))
        for (name, value) in [
            ("APP_ENV", "staging"), ("PORT", "http"), ("PORT", "70000"), ("SLUICE_SCHEDULE_INGESTION", "often"),
            ("SLUICE_WORKER_BUDGET_SECONDS", "0"), ("SLUICE_BULK_ACTION_LIMIT", "-1"),
        ] {
            #expect(throws: QueueError.self) { try SettingsReader([name: value]).serverConfiguration() }
            do {
                _ = try SettingsReader([name: value]).serverConfiguration()
            } catch let refusal as QueueError {
                #expect(refusal.message.contains(name), "\(refusal.message)")
            }
        }
    }
}

/// Counts how many handlers run at once, per key.
final class ConcurrencyTracker: Sendable {
    private struct State {
        var current: [String: Int] = [:]
        var peak: [String: Int] = [:]
        var overall = 0
        var peakOverall = 0
    }
    private let state = Mutex(State())

    func enter(_ key: String) {
        state.withLock { state in
            state.current[key, default: 0] += 1
            state.peak[key] = max(state.peak[key] ?? 0, state.current[key]!)
            state.overall += 1
            state.peakOverall = max(state.peakOverall, state.overall)
        }
    }

    func leave(_ key: String) {
        state.withLock { state in
            state.current[key, default: 0] -= 1
            state.overall -= 1
        }
    }

    func maximum(_ key: String) -> Int { state.withLock { $0.peak[key] ?? 0 } }
    func maximumOverall() -> Int { state.withLock { $0.peakOverall } }
}
