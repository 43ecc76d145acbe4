import ArgumentParser
import Foundation
import SluiceCore
import SluicePipeline

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the database migrations this build knows.")

    @OptionGroup var settings: QueueSettings

    func run() async throws {
        try await settings.withQueue(checkSchema: false) { queue in
            let applied = try await queue.store.migrate()
            let status = try await queue.store.schemaStatus()
            for name in applied { print("applied \(name)") }
            print("schema up to date at \(queue.store.location): \(status.applied.count) migration(s)")
        }
    }
}

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add a job to the queue and print its id.")

    @Option(
        name: .customLong("type"),
        help: "Job type: \(PipelineJobs.types.map(\.rawValue).joined(separator: " or "))."
    )
    var type: String

    @Option(help: "The job's payload, a JSON object.")
    var payload: String = "{}"

    @Option(help: "Higher is claimed first.")
    var priority: Int = 0

    @Option(name: .customLong("max-attempts"), help: "Attempts before the job fails for good.")
    var maxAttempts: Int = 3

    @Option(help: "Seconds to wait before the job may be claimed.")
    var delay: Double = 0

    @Option(name: .customLong("unique-key"), help: "At most one unfinished job of this type holds this key.")
    var uniqueKey: String?

    @OptionGroup var settings: QueueSettings

    func validate() throws {
        guard PipelineJobs.types.map(\.rawValue).contains(type) else {
            throw ValidationError(
                "unknown job type '\(type)'; known types: \(PipelineJobs.types.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard delay >= 0, delay.isFinite else { throw ValidationError("--delay must be 0 or more seconds") }
    }

    func run() async throws {
        let payload = try JSONValue(parsing: self.payload)
        guard case .object = payload else { throw ValidationError("--payload must be a JSON object, like {\"a\": 1}") }
        let job = NewJob(
            jobType: JobType(rawValue: type),
            payload: payload,
            priority: priority,
            maxAttempts: maxAttempts,
            scheduledFor: delay > 0 ? Date() + delay : nil,
            uniqueKey: uniqueKey
        )
        let result = try await settings.withQueue { queue in try await queue.enqueue(job) }
        print(result.id)
        if !result.inserted {
            printError("an unfinished \(type) job with unique key '\(uniqueKey ?? "")' already exists: \(result.id)")
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show how many jobs are in each state.")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var settings: QueueSettings

    func run() async throws {
        let stats = try await settings.withQueue { queue in try await queue.getQueueStats() }
        if json {
            var byType: [String: JSONValue] = [:]
            for (type, counts) in stats.byType { byType[type.rawValue] = counts.json }
            let document: JSONValue = ["total": stats.total.json, "byType": .object(byType)]
            print(document.jsonText)
            return
        }
        var rows = [["TYPE", "PENDING", "PROCESSING", "COMPLETED", "FAILED"]]
        for type in stats.byType.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            rows.append([type.rawValue] + stats.byType[type]!.columns)
        }
        rows.append(["total"] + stats.total.columns)
        print(Table.render(rows))
    }
}

struct Cleanup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete COMPLETED and FAILED jobs that finished more than N days ago."
    )

    @Option(help: "Age in days.")
    var days: Int = 7

    @OptionGroup var settings: QueueSettings

    func validate() throws {
        guard days >= 0 else { throw ValidationError("--days must be 0 or more") }
    }

    func run() async throws {
        let days = days
        let deleted = try await settings.withQueue { queue in try await queue.cleanup(olderThanDays: days) }
        print("deleted \(deleted) job(s) finished more than \(days) day(s) ago")
    }
}

struct Rescue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Return PROCESSING jobs whose worker was lost (lease expired) to PENDING, or fail them."
    )

    @OptionGroup var settings: QueueSettings

    func run() async throws {
        let result = try await settings.withQueue { queue in try await queue.rescueExpiredJobs() }
        print("requeued \(result.requeued.count) job(s), failed \(result.failed.count) job(s) with no attempts left")
    }
}

extension StatusCounts {
    var json: JSONValue {
        [
            "pending": .int(Int64(pending)), "processing": .int(Int64(processing)),
            "completed": .int(Int64(completed)), "failed": .int(Int64(failed)),
        ]
    }

    var columns: [String] { [pending, processing, completed, failed].map(String.init) }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Left-aligned text columns.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
