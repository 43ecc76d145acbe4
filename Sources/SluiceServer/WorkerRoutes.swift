import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceWorkers

/// The worker endpoints an external cron calls, guarded by `CRON_SECRET`.
extension SluiceApp {
    func addWorkerRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/api/workers/ingestion") { request, context -> WorkerRunResponse in
            try authorizeWorker(request, context)
            return try await workerResponse(PipelineJobs.ingestion, context)
        }
        router.get("/api/workers/vectorization") { request, context -> WorkerRunResponse in
            try authorizeWorker(request, context)
            return try await workerResponse(PipelineJobs.vectorization, context)
        }
        router.get("/api/workers/cleanup") { request, context -> CleanupResponse in
            try authorizeWorker(request, context)
            return CleanupResponse(deletedCount: try await cleanup())
        }
    }

    private func workerResponse(
        _ spec: WorkerRoutine.Spec,
        _ context: SluiceRequestContext
    ) async throws -> WorkerRunResponse {
        let report = try await routine.run(spec)
        let milliseconds = Int(report.duration.timeInterval * 1000)
        context.logger.info(
            "worker run",
            metadata: [
                LogKey.types: "\(spec.types.map(\.rawValue).joined(separator: ","))",
                LogKey.completed: "\(report.completed)", LogKey.failed: "\(report.failed)",
                LogKey.durationMS: "\(milliseconds)",
            ]
        )
        return WorkerRunResponse(processed: report.processed, duration: milliseconds)
    }

    /// The reference's rule: in production `CRON_SECRET` must be set (500 otherwise) and presented as
    /// `Authorization: Bearer …` (401 otherwise); in development it is optional, but enforced when set.
    private func authorizeWorker(_ request: Request, _ context: SluiceRequestContext) throws {
        guard let secret = configuration.cronSecret else {
            if configuration.environment == .production {
                context.logger.error("worker endpoint called but CRON_SECRET is not set")
                throw APIError(
                    .internalServerError,
                    "CRON_SECRET is not set; worker endpoints are disabled in production"
                )
            }
            // Open, but not to other sites' pages: a cross-site <img> or fetch would run the workers (review I1).
            if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], !["same-origin", "none"].contains(site) {
                throw APIError(.forbidden, "worker endpoints do not run for other sites' pages")
            }
            context.logger.warning("CRON_SECRET is not set: worker endpoints are open (development)")
            return
        }
        let header = request.headers[.authorization] ?? ""
        let presented = header.hasPrefix("Bearer ") ? String(header.dropFirst("Bearer ".count)) : ""
        guard SecretToken.constantTimeEquals(presented, secret) else {
            throw APIError(.unauthorized, "Unauthorized")
        }
    }
}

// MARK: Bodies

struct WorkerRunResponse: ResponseEncodable, Sendable {
    var success = true
    var processed: Int
    /// Milliseconds.
    var duration: Int
}

struct CleanupResponse: ResponseEncodable, Sendable {
    var success = true
    var deletedCount: Int
}
