import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import SluiceAccounts
import SluiceCore

/// The admin queue API, with the reference's response shapes.
extension SluiceApp {
    func addQueueRoutes(to router: Router<SluiceRequestContext>) {
        let managers = router.group().add(middleware: RequireRole(.manager))
        let admins = router.group().add(middleware: RequireRole(.admin))
        managers.get("/api/admin/queue/stats") { request, context -> Response in
            return JSONResponse.make(try await statsJSON(try request.query()))
        }
        admins.post("/api/admin/queue/retry") { request, context -> Response in
            let id = try Self.jobID(request)
            try await queue.retryJob(id)
            context.logger.info("job retried from the API", metadata: [LogKey.jobID: "\(id)"])
            return JSONResponse.make(["success": true, "jobId": .string(id)])
        }
        admins.post("/api/admin/queue/cancel") { request, context -> Response in
            let user = try context.requireUser()
            let id = try Self.jobID(request)
            try await queue.cancelJob(id, reason: "cancelled by \(user.email)")
            context.logger.info("job cancelled from the API", metadata: [LogKey.jobID: "\(id)"])
            return JSONResponse.make(["success": true, "jobId": .string(id)])
        }
        managers.get("/api/admin/queue/throughput") { request, context -> Response in
            var minutes = 60
            if let text = try request.query()["minutes"] {
                guard let value = Int(text), (1...Self.throughputMaximumMinutes).contains(value) else {
                    throw APIError(
                        .badRequest,
                        "minutes must be a whole number from 1 to \(Self.throughputMaximumMinutes)"
                    )
                }
                minutes = value
            }
            let buckets = try await queue.throughput(lastMinutes: minutes)
            return JSONResponse.make([
                "minutes": .array(
                    buckets.map {
                        [
                            "minute": JSONResponse.timestamp($0.minute), "completed": .int(Int64($0.completed)),
                            "failed": .int(Int64($0.failed)),
                        ]
                    }
                ),
                "completed": .int(Int64(buckets.reduce(0) { $0 + $1.completed })),
                "failed": .int(Int64(buckets.reduce(0) { $0 + $1.failed })),
            ])
        }
        admins.get("/api/admin/queue/bulk") { request, context -> Response in
            let query = try request.query()
            let action = try Self.bulkAction(query["action"].map(String.init))
            let filter = try Self.jobFilter(query)
            let matching = try await queue.countJobs(for: action, status: filter.status, jobType: filter.jobType)
            return JSONResponse.make([
                "action": .string(action.rawValue), "matching": .int(Int64(matching)),
                "limit": .int(Int64(configuration.bulkActionLimit)),
            ])
        }
        admins.post("/api/admin/queue/bulk") { request, context -> Response in
            let user = try context.requireUser()
            let body = try await request.jsonObject(upTo: configuration.maxBodyBytes)
            let action = try Self.bulkAction(body["action"]?.stringValue)
            var query = FlatDictionary<Substring, Substring>()
            for key in ["status", "jobType"] {
                switch body[key] {
                case nil, .null?: break
                case .string(let text)?: query[Substring(key)] = Substring(text)
                default: throw APIError(.badRequest, "\(key) must be a string")
                }
            }
            let filter = try Self.jobFilter(query)
            let result = try await queue.perform(
                action,
                status: filter.status,
                jobType: filter.jobType,
                limit: configuration.bulkActionLimit,
                reason: "cancelled by \(user.email)"
            )
            return JSONResponse.make([
                "action": .string(action.rawValue), "changed": .int(Int64(result.changed.count)),
                "jobIds": .array(result.changed.map(JSONValue.string)), "skipped": .int(Int64(result.skipped)),
                "remaining": .int(Int64(result.remaining)), "limit": .int(Int64(configuration.bulkActionLimit)),
            ])
        }
        managers.get("/api/admin/queue/jobs/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            return JSONResponse.make(Self.jobDetailJSON(try await queue.getJob(id), now: clock.now()))
        }
    }

    /// Most recent jobs the stats endpoint returns: default 50, at most 500.
    static let recentJobsDefault = 50
    static let recentJobsMaximum = 500

    private func statsJSON(_ query: FlatDictionary<Substring, Substring>) async throws -> JSONValue {
        var filter = try Self.jobFilter(query)
        if let text = query["limit"] {
            guard let limit = Int(text), (1...Self.recentJobsMaximum).contains(limit) else {
                throw APIError(.badRequest, "limit must be a whole number from 1 to \(Self.recentJobsMaximum)")
            }
            filter.limit = limit
        }
        async let stats = queue.getQueueStats()
        async let recent = queue.listJobs(filter)
        async let oldest = queue.oldestPendingJob()
        let now = clock.now()
        let counts = try await stats.total
        return [
            "queueStats": [
                "pending": .int(Int64(counts.pending)), "processing": .int(Int64(counts.processing)),
                "completed": .int(Int64(counts.completed)), "failed": .int(Int64(counts.failed)),
            ],
            "recentJobs": .array(try await recent.map(Self.jobJSON)),
            "oldestPendingJob": try await oldest.map { job in
                [
                    "id": .string(job.id), "createdAt": JSONResponse.timestamp(job.createdAt),
                    "ageMinutes": .int(Int64(max(0, now.timeIntervalSince(job.createdAt)) / 60)),
                ]
            } ?? .null,
        ]
    }

    /// The throughput endpoint looks back at most a day.
    static let throughputMaximumMinutes = 1_440

    private static func bulkAction(_ text: String?) throws -> BulkAction {
        guard let text, let action = BulkAction(rawValue: text.lowercased()) else {
            throw APIError(.badRequest, "action must be retry or cancel")
        }
        return action
    }

    private static func jobID(_ request: Request) throws -> String {
        guard let id = try request.query()["jobId"].map(String.init), !id.isEmpty else {
            throw APIError(.badRequest, "Missing jobId parameter")
        }
        guard id.count <= 200 else { throw APIError(.badRequest, "jobId is too long") }
        return id
    }

    /// One job as `recentJobs` lists it.
    static func jobJSON(_ job: Job) -> JSONValue {
        [
            "id": .string(job.id),
            "jobType": .string(job.jobType.rawValue),
            "status": .string(job.status.rawValue),
            "priority": .int(Int64(job.priority)),
            "attempts": .int(Int64(job.attempts)),
            "maxAttempts": .int(Int64(job.maxAttempts)),
            "progress": job.progress.map(progressJSON) ?? .null,
            "result": job.result ?? .null,
            "createdAt": JSONResponse.timestamp(job.createdAt),
            "startedAt": JSONResponse.timestamp(job.startedAt),
            "completedAt": JSONResponse.timestamp(job.completedAt),
        ]
    }

    /// Everything the monitor shows about one job. The payload itself is left out (it may hold personal data);
    /// its size is given instead.
    static func jobDetailJSON(_ job: Job, now: Date) -> JSONValue {
        guard case .object(var object) = jobJSON(job) else { return jobJSON(job) }
        object["scheduledFor"] = JSONResponse.timestamp(job.scheduledFor)
        object["uniqueKey"] = job.uniqueKey.map(JSONValue.string) ?? .null
        object["payloadBytes"] = job.payload.map { .int(Int64($0.jsonText.utf8.count)) } ?? .null
        object["errors"] = .array(
            job.errors.map {
                [
                    "attempt": .int(Int64($0.attempt)), "at": JSONResponse.timestamp($0.at),
                    "message": .string($0.message),
                ]
            }
        )
        object["lease"] =
            job.leaseOwner.map { owner in
                [
                    "owner": .string(owner), "expiresAt": JSONResponse.timestamp(job.leaseExpiresAt),
                    "expired": .bool((job.leaseExpiresAt ?? now) < now),
                ]
            } ?? .null
        return .object(object)
    }

    private static func progressJSON(_ progress: JobProgress) -> JSONValue {
        [
            "current": .int(Int64(progress.current)), "total": .int(Int64(progress.total)),
            "message": .string(progress.message),
        ]
    }
}
