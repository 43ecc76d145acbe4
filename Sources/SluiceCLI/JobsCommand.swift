import ArgumentParser
import Foundation
import SluiceCore

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, retry and cancel jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")

        @Option(help: "pending, processing, completed or failed.")
        var status: String?

        @Option(name: .customLong("type"), help: "Only jobs of this type.")
        var type: String?

        @Option(help: "At most this many jobs (1 to 10000).")
        var limit: Int = 20

        @Flag(help: "Print JSON.")
        var json = false

        @OptionGroup var settings: QueueSettings

        func validate() throws {
            if let status, JobStatus(parsing: status) == nil {
                throw ValidationError("unknown status '\(status)'; use pending, processing, completed or failed")
            }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            let filter = JobFilter(
                status: status.flatMap(JobStatus.init(parsing:)),
                jobType: type.map(JobType.init(rawValue:)),
                limit: limit
            )
            let jobs = try await settings.withQueue { queue in try await queue.listJobs(filter) }
            if json {
                print(try JobJSON.encode(jobs))
                return
            }
            var rows = [["ID", "TYPE", "STATUS", "ATTEMPTS", "PRIORITY", "CREATED", "PROGRESS"]]
            for job in jobs {
                let progress = job.progress.map { "\($0.current)/\($0.total) \($0.message)" } ?? ""
                rows.append([
                    job.id, job.jobType.rawValue, job.status.rawValue, "\(job.attempts)/\(job.maxAttempts)",
                    "\(job.priority)", job.createdAt.formatted(.iso8601), progress,
                ])
            }
            print(Table.render(rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one job as JSON.")

        @Argument(help: "The job's id.")
        var id: String

        @OptionGroup var settings: QueueSettings

        func run() async throws {
            let id = id
            let job = try await settings.withQueue { queue in try await queue.getJob(id) }
            print(try JobJSON.encode(job))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a FAILED job back to PENDING.")

        @Argument(help: "The job's id.")
        var id: String

        @OptionGroup var settings: QueueSettings

        func run() async throws {
            let id = id
            try await settings.withQueue { queue in try await queue.retryJob(id) }
            print("job \(id) is PENDING again")
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fail a PENDING or PROCESSING job now.")

        @Argument(help: "The job's id.")
        var id: String

        @OptionGroup var settings: QueueSettings

        func run() async throws {
            let id = id
            try await settings.withQueue { queue in try await queue.cancelJob(id) }
            print("job \(id) cancelled")
        }
    }
}

/// Jobs as JSON: camelCase fields and ISO-8601 times, as the HTTP API will answer them.
enum JobJSON {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
