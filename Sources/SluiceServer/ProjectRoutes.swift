import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline

/// Projects and ingestion: create and list projects, upload records (JSON or CSV), follow an ingest job.
extension SluiceApp {
    func addProjectRoutes(to router: Router<SluiceRequestContext>) {
        let viewers = router.group().add(middleware: RequireRole(.viewer))
        let managers = router.group().add(middleware: RequireRole(.manager))
        managers.post("/api/projects") { request, context -> Response in
            let body = try await request.jsonObject(upTo: configuration.maxBodyBytes)
            guard let name = body["name"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines),
                (1...200).contains(name.count)
            else {
                throw APIError(.badRequest, "body must be {\"name\": string of 1 to 200 characters}")
            }
            let project = Project(id: UUID().uuidString.lowercased(), name: name, createdAt: clock.now())
            try await pipeline.createProject(project)
            context.logger.info("project created", metadata: [LogKey.project: "\(project.id)"])
            let summary = ProjectSummary(project: project, recordCount: 0, embeddedCount: 0)
            return JSONResponse.make(["project": Self.projectJSON(summary)], status: .created)
        }
        managers.get("/api/projects") { _, context -> Response in
            return JSONResponse.make(["projects": .array(try await pipeline.projects().map(Self.projectJSON))])
        }
        managers.get("/api/projects/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let summary = try await pipeline.projectSummary(id: id) else {
                throw APIError(.notFound, "project \(id) does not exist")
            }
            return JSONResponse.make(["project": Self.projectJSON(summary)])
        }
        managers.post("/api/projects/{id}/ingest") { request, context -> Response in
            return try await ingest(request, context)
        }
        viewers.get("/api/projects/{id}/search") { request, context -> Response in
            let user = try context.requireUser()
            if let wait = searches.admit(user.id) {
                throw APIError(
                    .tooManyRequests,
                    "at most \(configuration.searchesPerMinute) searches a minute; try again in \(wait) s",
                    headers: [.retryAfter: "\(wait)"]
                )
            }
            return try await search(request, context, user: user)
        }
        managers.post("/api/projects/{id}/reembed") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await pipeline.project(id: id) != nil else {
                throw APIError(.notFound, "project \(id) does not exist")
            }
            let cleared = try await pipeline.clearEmbeddings(projectID: id)
            let job = try await VectorizationHandler.enqueue(projectID: id, on: queue)
            context.logger.info(
                "re-embedding project",
                metadata: [LogKey.project: "\(id)", LogKey.cleared: "\(cleared)"]
            )
            return JSONResponse.make(
                ["projectId": .string(id), "clearedCount": .int(Int64(cleared)), "jobId": .string(job.id)],
                status: .accepted
            )
        }
        managers.get("/api/ingest-jobs/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let job = try await pipeline.ingestJob(id: id) else {
                throw APIError(.notFound, "ingest job \(id) does not exist")
            }
            return JSONResponse.make(["ingestJob": Self.ingestJobJSON(job)])
        }
    }

    /// Creates the ingest job and its parts, enqueues one INGEST_DATA job per part, and answers 202 with the ids.
    /// At most ``ServerConfiguration/maxConcurrentUploads`` bodies are read at once; past that the answer is 503
    /// with `Retry-After`, before the body is read.
    private func ingest(_ request: Request, _ context: SluiceRequestContext) async throws -> Response {
        let projectID = try context.parameters.require("id")
        guard try await pipeline.project(id: projectID) != nil else {
            throw APIError(.notFound, "project \(projectID) does not exist")
        }
        guard uploads.enter() else {
            throw APIError(
                .serviceUnavailable,
                "\(configuration.maxConcurrentUploads) uploads are being read already; try again in a few seconds",
                headers: [.retryAfter: "5"]
            )
        }
        defer { uploads.leave() }
        let contentType = request.headers[.contentType]?.lowercased() ?? "application/json"
        let writer = UploadWriter(projectID: projectID, partSize: configuration.ingestPartSize)
        if contentType.hasPrefix("text/csv") {
            let query = try request.query()
            guard query["generateEmbeddings"].map({ ["true", "false"].contains($0) }) ?? true else {
                throw APIError(.badRequest, "generateEmbeddings must be true or false")
            }
            writer.generateEmbeddings = query["generateEmbeddings"] == "true"
            writer.textFields = query["textFields"].map { $0.split(separator: ",").map(String.init) } ?? []
            try Uploads.csv(try await request.text(upTo: configuration.maxIngestBytes), into: writer)
        } else if contentType.hasPrefix("application/json") {
            try Uploads.json(try await request.text(upTo: configuration.maxIngestBytes), into: writer)
        } else {
            throw APIError(.unsupportedMediaType, "send application/json or text/csv, not \(contentType)")
        }
        let total = writer.total
        let jobIDs = try await Uploads.submit(writer, store: pipeline, queue: queue, now: clock.now())
        context.logger.info(
            "ingest queued",
            metadata: [
                LogKey.ingestID: "\(writer.ingestJobID)", LogKey.records: "\(total)",
                LogKey.parts: "\(jobIDs.count)",
            ]
        )
        return JSONResponse.make(
            [
                "ingestJobId": .string(writer.ingestJobID), "jobId": .string(jobIDs[0]),
                "jobIds": .array(jobIDs.map(JSONValue.string)), "total": .int(Int64(total)),
            ],
            status: .accepted
        )
    }

    /// Embeds the query with the configured provider and returns the nearest records. Refuses to compare a query
    /// from one model with vectors from another.
    private func search(_ request: Request, _ context: SluiceRequestContext, user: User) async throws -> Response {
        let id = try context.parameters.require("id")
        let query = try request.query()
        guard let text = query["q"].map(String.init), !text.trimmingCharacters(in: .whitespaces).isEmpty,
            text.utf8.count <= 8_192
        else {
            throw APIError(.badRequest, "q must be 1 to 8192 bytes of text")
        }
        var k = 10
        if let given = query["k"] {
            guard let value = Int(given), (1...100).contains(value) else {
                throw APIError(.badRequest, "k must be a whole number from 1 to 100")
            }
            k = value
        }
        guard let project = try await pipeline.project(id: id) else {
            throw APIError(.notFound, "project \(id) does not exist")
        }
        guard let model = project.embeddingModel else {
            throw APIError(.conflict, "project \(project.name) has no embeddings yet: ingest with generateEmbeddings")
        }
        guard model == embedder.model, project.embeddingDimensions == embedder.dimensions else {
            throw APIError(
                .conflict,
                PipelineError.modelMismatch(project: project, model: embedder.model, dimensions: embedder.dimensions)
                    .message
            )
        }
        let vector: [Float]
        do {
            vector = try await embedder.embed([text])[0]
        } catch let error as EmbeddingError {
            context.logger.error("query embedding failed", metadata: [LogKey.error: "\(error.message)"])
            // The provider's words can name internal hosts or part of a key: for operators, not for every reader.
            let detail = user.role >= .manager ? ": \(error.message)" : " (the server log has the details)"
            throw APIError(
                error.code == .rateLimited ? .tooManyRequests : .badGateway,
                "the embedding provider failed\(detail)"
            )
        }
        let hits = try await pipeline.nearest(projectID: id, to: vector, model: model, limit: k)
        return JSONResponse.make([
            "projectId": .string(id), "model": .string(model),
            "results": .array(
                hits.map { hit in
                    [
                        "id": .string(hit.id), "externalId": hit.externalID.map(JSONValue.string) ?? .null,
                        "text": .string(hit.text), "record": hit.data, "distance": .double(hit.distance),
                    ]
                }
            ),
        ])
    }

    static func projectJSON(_ summary: ProjectSummary) -> JSONValue {
        [
            "id": .string(summary.project.id), "name": .string(summary.project.name),
            "embeddingModel": summary.project.embeddingModel.map(JSONValue.string) ?? .null,
            "embeddingDimensions": summary.project.embeddingDimensions.map { .int(Int64($0)) } ?? .null,
            "recordCount": .int(Int64(summary.recordCount)), "embeddedCount": .int(Int64(summary.embeddedCount)),
            "createdAt": JSONResponse.timestamp(summary.project.createdAt),
        ]
    }

    static func ingestJobJSON(_ job: IngestJob) -> JSONValue {
        [
            "id": .string(job.id), "projectId": .string(job.projectID), "status": .string(job.status.rawValue),
            "total": .int(Int64(job.total)), "processed": .int(Int64(job.processed)),
            "saved": .int(Int64(job.saved)), "skipped": .int(Int64(job.skipped)),
            "error": job.error.map(JSONValue.string) ?? .null,
            "createdAt": JSONResponse.timestamp(job.createdAt), "startedAt": JSONResponse.timestamp(job.startedAt),
            "completedAt": JSONResponse.timestamp(job.completedAt),
        ]
    }
}
