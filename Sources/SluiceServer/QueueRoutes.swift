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
        managers.get("/api/admin/queue/stats") { request, _ -> QueueStatsResponse in
            try await stats(try request.query())
        }
        admins.post("/api/admin/queue/retry") { request, context -> JobActionResponse in
            let id = try Self.jobID(request)
            try await queue.retryJob(id)
            context.logger.info("job retried from the API", metadata: [LogKey.jobID: "\(id)"])
            return JobActionResponse(jobId: id)
        }
        admins.post("/api/admin/queue/cancel") { request, context -> JobActionResponse in
            let user = try context.requireUser()
            let id = try Self.jobID(request)
            try await queue.cancelJob(id, reason: "cancelled by \(user.email)")
            context.logger.info("job cancelled from the API", metadata: [LogKey.jobID: "\(id)"])
            return JobActionResponse(jobId: id)
        }
        managers.get("/api/admin/queue/throughput") { request, _ -> ThroughputResponse in
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
            return ThroughputResponse(
                minutes: buckets.map { .init(minute: $0.minute, completed: $0.completed, failed: $0.failed) },
                completed: buckets.reduce(0) { $0 + $1.completed },
                failed: buckets.reduce(0) { $0 + $1.failed }
            )
        }
        admins.get("/api/admin/queue/bulk") { request, _ -> BulkPreviewResponse in
            let query = try request.query()
            let action = try Self.bulkAction(query["action"].map(String.init))
            let filter = try Self.jobFilter(query)
            let matching = try await queue.countJobs(for: action, status: filter.status, jobType: filter.jobType)
            return BulkPreviewResponse(
                action: action.rawValue,
                matching: matching,
                limit: configuration.bulkActionLimit
            )
        }
        admins.post("/api/admin/queue/bulk") { request, context -> BulkResultResponse in
            let user = try context.requireUser()
            let body = try await request.decode(as: BulkRequest.self, context: context)
            let action = try Self.bulkAction(body.action)
            var query = FlatDictionary<Substring, Substring>()
            if let status = body.status { query["status"] = Substring(status) }
            if let jobType = body.jobType { query["jobType"] = Substring(jobType) }
            let filter = try Self.jobFilter(query)
            let result = try await queue.perform(
                action,
                status: filter.status,
                jobType: filter.jobType,
                limit: configuration.bulkActionLimit,
                reason: "cancelled by \(user.email)"
            )
            return BulkResultResponse(
                action: action.rawValue,
                changed: result.changed.count,
                jobIds: result.changed,
                skipped: result.skipped,
                remaining: result.remaining,
                limit: configuration.bulkActionLimit
            )
        }
        managers.get("/api/admin/queue/jobs/{id}") { _, context -> JobDetailResponse in
            let id = try context.pathParameter("id")
            return JobDetailResponse(try await queue.getJob(id), now: clock.now())
        }
    }

    /// Most recent jobs the stats endpoint returns: default 50, at most 500.
    static let recentJobsDefault = 50
    static let recentJobsMaximum = 500

    private func stats(_ query: FlatDictionary<Substring, Substring>) async throws -> QueueStatsResponse {
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
        return QueueStatsResponse(
            queueStats: try await stats.total,
            recentJobs: try await recent.map(JobResponse.init),
            oldestPendingJob: try await oldest.map { job in
                .init(
                    id: job.id,
                    createdAt: job.createdAt,
                    ageMinutes: Int(max(0, now.timeIntervalSince(job.createdAt)) / 60)
                )
            }
        )
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
}

// MARK: Bodies

struct JobResponse: ResponseEncodable, Sendable {
    var id: String
    var jobType: String
    var status: String
    var priority: Int
    var attempts: Int
    var maxAttempts: Int
    @NullEncoded var progress: JobProgress?
    @NullEncoded var result: JSONValue?
    var createdAt: Date
    @NullEncoded var startedAt: Date?
    @NullEncoded var completedAt: Date?

    init(_ job: Job) {
        id = job.id
        jobType = job.jobType.rawValue
        status = job.status.rawValue
        priority = job.priority
        attempts = job.attempts
        maxAttempts = job.maxAttempts
        progress = job.progress
        result = job.result
        createdAt = job.createdAt
        startedAt = job.startedAt
        completedAt = job.completedAt
    }
}

/// Everything the monitor shows about one job: ``JobResponse`` and more. The payload itself is left out (it may
/// hold personal data); its size is given instead.
struct JobDetailResponse: ResponseEncodable, Sendable {
    struct Lease: Encodable, Sendable {
        var owner: String
        @NullEncoded var expiresAt: Date?
        var expired: Bool
    }

    var job: JobResponse
    var scheduledFor: Date
    @NullEncoded var uniqueKey: String?
    @NullEncoded var payloadBytes: Int?
    var errors: [AttemptError]
    @NullEncoded var lease: Lease?

    init(_ job: Job, now: Date) {
        self.job = JobResponse(job)
        scheduledFor = job.scheduledFor
        uniqueKey = job.uniqueKey
        payloadBytes = job.payload.map { $0.jsonText.utf8.count }
        errors = job.errors
        lease = job.leaseOwner.map {
            Lease(owner: $0, expiresAt: job.leaseExpiresAt, expired: (job.leaseExpiresAt ?? now) < now)
        }
    }

    private enum CodingKeys: String, CodingKey {
        case scheduledFor, uniqueKey, payloadBytes, errors, lease
    }

    /// The job's members and the detail's side by side in one object.
    func encode(to encoder: any Encoder) throws {
        try job.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(scheduledFor, forKey: .scheduledFor)
        try container.encode(_uniqueKey, forKey: .uniqueKey)
        try container.encode(_payloadBytes, forKey: .payloadBytes)
        try container.encode(errors, forKey: .errors)
        try container.encode(_lease, forKey: .lease)
    }
}

/// `GET /api/admin/queue/stats`: the reference's shape.
struct QueueStatsResponse: ResponseEncodable, Sendable {
    struct OldestPendingJob: Encodable, Sendable {
        var id: String
        var createdAt: Date
        var ageMinutes: Int
    }

    var queueStats: StatusCounts
    var recentJobs: [JobResponse]
    @NullEncoded var oldestPendingJob: OldestPendingJob?
}

/// `POST /api/admin/queue/retry` and `cancel`.
struct JobActionResponse: ResponseEncodable, Sendable {
    var success = true
    var jobId: String
}

struct ThroughputResponse: ResponseEncodable, Sendable {
    struct Minute: Encodable, Sendable {
        var minute: Date
        var completed: Int
        var failed: Int
    }

    var minutes: [Minute]
    var completed: Int
    var failed: Int
}

/// `POST /api/admin/queue/bulk`.
struct BulkRequest: APIRequest {
    static let shape = #"{"action": "retry"|"cancel", "status"?: string, "jobType"?: string}"#
    var action: String
    var status: String?
    var jobType: String?
}

struct BulkPreviewResponse: ResponseEncodable, Sendable {
    var action: String
    var matching: Int
    var limit: Int
}

struct BulkResultResponse: ResponseEncodable, Sendable {
    var action: String
    var changed: Int
    var jobIds: [String]
    var skipped: Int
    var remaining: Int
    var limit: Int
}
