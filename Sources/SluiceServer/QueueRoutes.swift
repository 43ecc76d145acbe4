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
        router.get("/api/admin/queue/stats") { request, context -> Response in
            _ = try context.requireRole(.manager)
            return JSONResponse.make(try await statsJSON(request.uri.queryParameters))
        }
        router.post("/api/admin/queue/retry") { request, context -> Response in
            _ = try context.requireRole(.admin)
            let id = try Self.jobID(request)
            try await queue.retryJob(id)
            context.logger.info("job retried from the API", metadata: [LogKey.jobID: "\(id)"])
            return JSONResponse.make(["success": true, "jobId": .string(id)])
        }
        router.post("/api/admin/queue/cancel") { request, context -> Response in
            let user = try context.requireRole(.admin)
            let id = try Self.jobID(request)
            try await queue.cancelJob(id, reason: "cancelled by \(user.email)")
            context.logger.info("job cancelled from the API", metadata: [LogKey.jobID: "\(id)"])
            return JSONResponse.make(["success": true, "jobId": .string(id)])
        }
        router.get("/api/admin/queue/jobs/{id}") { _, context -> Response in
            _ = try context.requireRole(.manager)
            let id = try context.parameters.require("id")
            return JSONResponse.make(Self.jobDetailJSON(try await queue.getJob(id), now: clock.now()))
        }
    }

    /// Most recent jobs the stats endpoint returns: default 50, at most 500.
    static let recentJobsDefault = 50
    static let recentJobsMaximum = 500

    private func statsJSON(_ query: FlatDictionary<Substring, Substring>) async throws -> JSONValue {
        var filter = JobFilter(limit: Self.recentJobsDefault)
        if let text = query["limit"] {
            guard let limit = Int(text), (1...Self.recentJobsMaximum).contains(limit) else {
                throw APIError(.badRequest, "limit must be a whole number from 1 to \(Self.recentJobsMaximum)")
            }
            filter.limit = limit
        }
        if let text = query["status"] {
            guard let status = JobStatus(parsing: String(text)) else {
                throw APIError(.badRequest, "status must be one of PENDING, PROCESSING, COMPLETED, FAILED")
            }
            filter.status = status
        }
        if let text = query["jobType"] {
            let type = JobType(rawValue: String(text))
            do { try type.validate() } catch { throw APIError(.badRequest, "jobType '\(text)' is not a job type name") }
            filter.jobType = type
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

    private static func jobID(_ request: Request) throws -> String {
        guard let id = request.uri.queryParameters["jobId"].map(String.init), !id.isEmpty else {
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
            })
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
