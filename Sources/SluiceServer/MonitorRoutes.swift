import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SluiceAccounts
import SluiceCore
import SluicePipeline

/// The queue monitor: server-rendered pages for MANAGER and ADMIN users, refreshed in place by a small script
/// that fetches the live fragment every few seconds. Retry and cancel go through the JSON API, which checks the
/// role again whatever the page showed.
extension SluiceApp {
    static let monitorPath = "/admin/queue-monitor"
    /// How often the page refreshes itself.
    static let monitorRefreshSeconds = 5
    /// The oldest pending job's age is flagged from this many minutes (workers run every minute), and marked
    /// as an alert from `oldestPendingAlertMinutes`.
    static let oldestPendingWarnMinutes = 5
    static let oldestPendingAlertMinutes = 60

    func addMonitorRoutes(to router: Router<SluiceRequestContext>) {
        let managers = router.group().add(middleware: RequireRole(.manager))
        router.get("/login") { request, context -> Response in
            let next = Self.safeNext(try request.query()["next"].map(String.init))
            if let user = context.user, user.role >= .manager { return HTMLResponse.redirect(to: next) }
            var values: [String: Any] = ["title": "Sign in", "next": next]
            if let user = context.user { values["signedInAs"] = Self.userView(user) }
            return try renderPage("login", values)
        }
        router.post("/login") { request, context -> Response in
            try await loginForm(request, context)
        }
        router.post("/logout") { request, _ -> Response in
            if let token = request.cookies[SessionCookie.name]?.value, !token.isEmpty {
                try await accounts.signOut(token: token)
            }
            var response = HTMLResponse.redirect(to: "/login")
            response.setCookie(SessionCookie.expired(secure: configuration.environment == .production))
            return response
        }
        router.get("/admin/queue-monitor") { request, context -> Response in
            try await page(request, context) { user in
                let filter = try Self.jobFilter(try request.query())
                let live = try await liveValues(filter, user: user)
                var values = live.values
                values["title"] = "Queue monitor"
                values["statusOptions"] = ([nil] + JobStatus.allCases).map { status in
                    [
                        "value": status?.rawValue ?? "", "label": status?.rawValue ?? "Any status",
                        "selected": status == filter.status,
                    ] as [String: Any]
                }
                let types = Set(PipelineJobs.types).union(live.stats.byType.keys).union(
                    filter.jobType.map { [$0] } ?? []
                )
                values["typeOptions"] =
                    [["value": "", "label": "Any type", "selected": filter.jobType == nil]]
                    + types.sorted { $0.rawValue < $1.rawValue }.map { type in
                        ["value": type.rawValue, "label": type.rawValue, "selected": type == filter.jobType]
                    }
                values["refreshSeconds"] = Self.monitorRefreshSeconds
                values["bulkLimit"] = configuration.bulkActionLimit
                return try renderPage("monitor", values)
            }
        }
        managers.get("/admin/queue-monitor/live") { request, context -> Response in
            let user = try context.requireUser()
            let filter = try Self.jobFilter(try request.query())
            return HTMLResponse.make(try web().render("live", try await liveValues(filter, user: user).values))
        }
        router.get("/admin/queue-monitor/find") { request, context -> Response in
            try await page(request, context) { _ in
                let id = try request.query()["id"].map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard !id.isEmpty else { return HTMLResponse.redirect(to: Self.monitorPath) }
                let escaped = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? ""
                return HTMLResponse.redirect(to: "\(Self.monitorPath)/jobs/\(escaped)")
            }
        }
        router.get("/admin/queue-monitor/jobs/{id}") { request, context -> Response in
            try await page(request, context) { user in
                let id = try context.parameters.require("id")
                let job = try await queue.getJob(id)
                return try renderPage(
                    "job",
                    [
                        "title": "Job \(job.id)", "user": Self.userView(user),
                        "job": Self.jobDetailView(job, now: clock.now(), canAct: user.role >= .admin),
                    ]
                )
            }
        }
        router.get("/assets/{name}") { request, context -> Response in
            let name = try context.parameters.require("name")
            guard let asset = try web().assets[name] else { throw APIError(.notFound, "no asset named \(name)") }
            var headers: HTTPFields = [
                .contentType: asset.contentType, .eTag: asset.etag, .cacheControl: "no-cache",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ]
            if request.headers[.ifNoneMatch] == asset.etag {
                headers[.contentType] = nil
                return Response(status: .notModified, headers: headers)
            }
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.body))
        }
    }

    // MARK: Pages

    private func web() throws -> WebUI {
        switch WebUI.bundled {
        case .success(let web): return web
        case .failure(let error):
            logger.error("the monitor's templates could not be loaded", metadata: [LogKey.error: "\(error)"])
            throw APIError(.internalServerError, "the monitor's files are missing from this installation")
        }
    }

    private func renderPage(_ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) throws
        -> Response
    {
        HTMLResponse.make(try web().render(name, values), status: status)
    }

    /// A page for MANAGER and ADMIN users: anyone else signed out goes to the sign-in page (and comes back),
    /// a VIEWER gets a page saying they have no access, and a missing job or bad filter gets an error page.
    private func page(
        _ request: Request,
        _ context: SluiceRequestContext,
        _ build: (User) async throws -> Response
    ) async throws -> Response {
        guard let user = context.user else {
            var target = request.uri.path
            if let query = request.uri.query, !query.isEmpty { target += "?\(query)" }
            let next = target.addingPercentEncoding(withAllowedCharacters: Self.plainURLCharacters)
            return HTMLResponse.redirect(to: "/login?next=\(next ?? "")")
        }
        guard user.role >= .manager else {
            return try renderPage(
                "no-access",
                ["title": "No access", "user": Self.userView(user)],
                status: .forbidden
            )
        }
        do {
            return try await build(user)
        } catch let error as QueueError where error.code == .jobNotFound {
            return try errorPage(user, .notFound, error.message)
        } catch let error as APIError where error.status.code < 500 {
            return try errorPage(user, error.status, error.message)
        }
    }

    private func errorPage(_ user: User, _ status: HTTPResponse.Status, _ message: String) throws -> Response {
        try renderPage(
            "error",
            ["title": status.reasonPhrase, "user": Self.userView(user), "status": status.code, "message": message],
            status: status
        )
    }

    /// The sign-in form's post: a session cookie and back to where the visitor was going, or the form again
    /// with the reason.
    private func loginForm(_ request: Request, _ context: SluiceRequestContext) async throws -> Response {
        struct Form: Decodable {
            var email: String?
            var password: String?
            var next: String?
        }
        let text = try await request.text(upTo: 16 << 10)
        let form = (try? URLEncodedFormDecoder().decode(Form.self, from: text)) ?? Form()
        let next = Self.safeNext(form.next)
        let email = form.email ?? ""
        do {
            let (_, _, cookie) = try await signIn(email: email, password: form.password ?? "", request, context)
            var response = HTMLResponse.redirect(to: next)
            response.setCookie(cookie)
            return response
        } catch let error as APIError {
            var response = try renderPage(
                "login",
                ["title": "Sign in", "next": next, "email": email, "error": error.message],
                status: error.status
            )
            response.headers.append(contentsOf: error.headers)
            return response
        }
    }

    /// ASCII letters, digits and `/-_.`: what a `next` parameter keeps unencoded.
    private static let plainURLCharacters = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-_."
    )

    /// Where to go after signing in: a path on this server, never another site (`//host`, `/\host`).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"),
            !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return monitorPath }
        return next
    }

    // MARK: Values for the templates

    /// The `status` and `jobType` filters of the stats endpoint, the monitor and the bulk actions (empty means
    /// any), over the default number of recent jobs.
    static func jobFilter(_ query: FlatDictionary<Substring, Substring>) throws -> JobFilter {
        var filter = JobFilter(limit: recentJobsDefault)
        if let text = query["status"], !text.isEmpty {
            guard let status = JobStatus(parsing: String(text)) else {
                throw APIError(.badRequest, "status must be one of PENDING, PROCESSING, COMPLETED, FAILED")
            }
            filter.status = status
        }
        if let text = query["jobType"], !text.isEmpty {
            let type = JobType(rawValue: String(text))
            do { try type.validate() } catch { throw APIError(.badRequest, "jobType '\(text)' is not a job type name") }
            filter.jobType = type
        }
        return filter
    }

    /// The stat cards and the recent jobs, as the live fragment and the page show them, and the statistics they
    /// were drawn from.
    private func liveValues(_ filter: JobFilter, user: User) async throws -> (values: [String: Any], stats: QueueStats)
    {
        async let stats = queue.getQueueStats()
        async let recent = queue.listJobs(filter)
        async let oldest = queue.oldestPendingJob()
        let now = clock.now()
        let statistics = try await stats
        let counts = statistics.total
        let canAct = user.role >= .admin
        var values: [String: Any] = [
            "user": Self.userView(user), "canAct": canAct,
            "stats": [
                "pending": counts.pending, "processing": counts.processing, "completed": counts.completed,
                "failed": counts.failed,
            ],
            "jobs": try await recent.map { Self.jobView($0, now: now, canAct: canAct) },
            "filtered": filter.status != nil || filter.jobType != nil,
            "generatedAt": APITime.text(now),
        ]
        if let job = try await oldest {
            let minutes = Int(max(0, now.timeIntervalSince(job.createdAt)) / 60)
            let level =
                minutes >= Self.oldestPendingAlertMinutes
                ? "alert" : minutes >= Self.oldestPendingWarnMinutes ? "warn" : "ok"
            values["oldest"] = [
                "id": job.id, "shortID": Self.shortID(job.id), "level": level, "behind": level != "ok",
                "age": Display.duration(Int(max(0, now.timeIntervalSince(job.createdAt)))),
                "created": Display.time(job.createdAt, now: now),
            ]
        }
        return (values, statistics)
    }

    static func userView(_ user: User) -> [String: Any] {
        ["email": user.email, "role": user.role.rawValue, "isAdmin": user.role >= .admin]
    }

    /// The last eight characters of a job id: the random part of a UUIDv7 (its start is the creation time,
    /// shared by jobs made together).
    static func shortID(_ id: String) -> String {
        id.count > 12 ? "…" + id.suffix(8) : id
    }

    /// One row of the jobs table.
    static func jobView(_ job: Job, now: Date, canAct: Bool) -> [String: Any] {
        var view: [String: Any] = [
            "id": job.id, "shortID": shortID(job.id), "jobType": job.jobType.rawValue, "status": job.status.rawValue,
            "statusClass": job.status.rawValue.lowercased(), "processing": job.status == .processing,
            "attempts": job.attempts, "maxAttempts": job.maxAttempts, "priority": job.priority,
            "created": Display.time(job.createdAt, now: now),
            "canRetry": canAct && job.status == .failed, "canCancel": canAct && !job.status.isFinished,
        ]
        if let started = job.startedAt { view["started"] = Display.time(started, now: now) }
        if let completed = job.completedAt { view["completed"] = Display.time(completed, now: now) }
        if job.status == .pending, job.scheduledFor > now {
            view["scheduled"] = Display.time(job.scheduledFor, now: now)
        }
        if let progress = job.progress {
            let total = max(progress.total, 0)
            view["progress"] = [
                "current": min(max(progress.current, 0), max(total, 1)), "total": max(total, 1),
                "percent": total > 0 ? min(100, max(progress.current, 0) * 100 / total) : 0,
                "message": progress.message, "hasMessage": !progress.message.isEmpty,
            ]
        }
        switch job.status {
        case .failed:
            let error = job.result?["error"]?.stringValue ?? job.errors.last?.message ?? "failed"
            view["error"] = Display.truncated(error, to: 300)
        case .completed:
            if let result = job.result, result != .null {
                view["summary"] = Display.truncated(result.jsonText, to: 160)
            }
        case .pending, .processing:
            if let last = job.errors.last {
                view["error"] = Display.truncated("attempt \(last.attempt) failed: \(last.message)", to: 300)
            }
        }
        return view
    }

    /// Everything the detail page shows: the row's values, plus result, every attempt's error, lease and payload.
    static func jobDetailView(_ job: Job, now: Date, canAct: Bool) -> [String: Any] {
        var view = jobView(job, now: now, canAct: canAct)
        view["scheduledFor"] = Display.time(job.scheduledFor, now: now)
        if let key = job.uniqueKey { view["uniqueKey"] = key }
        if let result = job.result, result != .null { view["resultJSON"] = Display.prettyJSON(result) }
        view["errors"] = job.errors.map { error in
            ["attempt": error.attempt, "at": Display.time(error.at, now: now), "message": error.message]
                as [String: Any]
        }
        view["hasErrors"] = !job.errors.isEmpty
        if let owner = job.leaseOwner {
            var lease: [String: Any] = ["owner": owner]
            if let expires = job.leaseExpiresAt {
                lease["expires"] = Display.time(expires, now: now)
                lease["expired"] = expires < now
            }
            view["lease"] = lease
        }
        if let payload = job.payload {
            let text = Display.prettyJSON(payload)
            let bytes = text.utf8.count
            view["payload"] = [
                "text": bytes > payloadShownBytes
                    ? String(decoding: text.utf8.prefix(payloadShownBytes), as: UTF8.self) : text,
                "truncated": bytes > payloadShownBytes, "bytes": bytes, "shownBytes": payloadShownBytes,
            ]
        } else {
            view["payloadCleared"] = job.status == .completed
        }
        return view
    }

    /// The detail page shows at most this much of a payload (an ingestion part can hold megabytes).
    static let payloadShownBytes = 64 << 10
}
