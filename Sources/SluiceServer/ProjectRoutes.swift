import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
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
        managers.post("/api/projects") { request, context -> EditedResponse<ProjectEnvelope> in
            let body = try await request.decode(as: ProjectCreateRequest.self, context: context)
            let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(name.count) else {
                throw APIError(.badRequest, "body must be \(ProjectCreateRequest.shape)")
            }
            let project = Project(
                id: UUID().uuidString.lowercased(),
                name: name,
                createdAt: clock.now(),
                chunkSize: body.chunkSize,
                chunkOverlap: body.chunkOverlap,
                template: body.template
            )
            try body.validateChunking()
            try await pipeline.createProject(project)
            context.logger.info("project created", metadata: [LogKey.project: "\(project.id)"])
            let summary = ProjectSummary(project: project, recordCount: 0, embeddedCount: 0)
            return EditedResponse(
                status: .created,
                response: ProjectEnvelope(project: ProjectResponse(summary, defaults: configuration.ingestion.chunker))
            )
        }
        managers.get("/api/projects") { _, _ -> ProjectsResponse in
            ProjectsResponse(
                projects: try await pipeline.projects().map {
                    ProjectResponse($0, defaults: configuration.ingestion.chunker)
                }
            )
        }
        managers.get("/api/projects/{id}") { _, context -> ProjectEnvelope in
            let id = try context.pathParameter("id")
            guard let summary = try await pipeline.projectSummary(id: id) else {
                throw APIError(.notFound, "project \(id) does not exist")
            }
            return ProjectEnvelope(project: ProjectResponse(summary, defaults: configuration.ingestion.chunker))
        }
        managers.post("/api/projects/{id}/ingest") { request, context -> Response in
            return try await ingest(request, context)
        }
        viewers.get("/api/projects/{id}/search") { request, context -> SearchResponse in
            let user = try admitSearch(context)
            return try await search(try SearchRequest(query: try request.query()), context, user: user)
        }
        viewers.post("/api/projects/{id}/search") { request, context -> SearchResponse in
            let user = try admitSearch(context)
            let text = try await request.jsonObjectText(upTo: SearchRequest.maximumBodyBytes)
            return try await search(try SearchRequest(body: try JSONValue(parsing: text)), context, user: user)
        }
        managers.post("/api/projects/{id}/reembed") { _, context -> EditedResponse<ReembedResponse> in
            let id = try context.pathParameter("id")
            guard try await pipeline.project(id: id) != nil else {
                throw APIError(.notFound, "project \(id) does not exist")
            }
            let cleared = try await pipeline.clearEmbeddings(projectID: id)
            let job = try await VectorizationHandler.enqueue(projectID: id, on: queue)
            context.logger.info(
                "re-embedding project",
                metadata: [LogKey.project: "\(id)", LogKey.cleared: "\(cleared)"]
            )
            return EditedResponse(
                status: .accepted,
                response: ReembedResponse(projectId: id, clearedCount: cleared, jobId: job.id)
            )
        }
        managers.delete("/api/projects/{id}/records/{externalId}") { _, context -> DeletedRecordsResponse in
            let id = try context.pathParameter("id")
            let externalID = try context.pathParameter("externalId")
            let deleted = try await deleteRecords(id, [externalID], context)
            guard !deleted.deletedIds.isEmpty else {
                throw APIError(.notFound, "project \(id) has no record with id \(externalID)")
            }
            return deleted
        }
        managers.post("/api/projects/{id}/delete-records") { request, context -> DeletedRecordsResponse in
            let body = try await request.decode(as: DeleteRecordsRequest.self, context: context)
            guard (1...DeleteRecordsRequest.maximum).contains(body.ids.count), body.ids.allSatisfy({ !$0.isEmpty })
            else {
                throw APIError(
                    .badRequest,
                    "ids must hold 1 to \(DeleteRecordsRequest.maximum) non-empty record ids"
                )
            }
            return try await deleteRecords(try context.pathParameter("id"), body.ids, context)
        }
        managers.get("/api/ingest-jobs/{id}") { _, context -> IngestJobEnvelope in
            let id = try context.pathParameter("id")
            guard let job = try await pipeline.ingestJob(id: id) else {
                throw APIError(.notFound, "ingest job \(id) does not exist")
            }
            return IngestJobEnvelope(ingestJob: IngestJobResponse(job))
        }
    }

    /// Deletes the project's records with `externalIDs` (404 when the project does not exist).
    private func deleteRecords(
        _ projectID: String,
        _ externalIDs: [String],
        _ context: SluiceRequestContext
    ) async throws -> DeletedRecordsResponse {
        guard try await pipeline.project(id: projectID) != nil else {
            throw APIError(.notFound, "project \(projectID) does not exist")
        }
        let deleted = try await pipeline.deleteRecords(projectID: projectID, externalIDs: externalIDs)
        context.logger.info(
            "records deleted",
            metadata: [LogKey.project: "\(projectID)", LogKey.records: "\(deleted.count)"]
        )
        let found = Set(deleted)
        var missing: [String] = []
        for id in externalIDs where !found.contains(id) && !missing.contains(id) { missing.append(id) }
        return DeletedRecordsResponse(
            projectId: projectID,
            deletedCount: deleted.count,
            deletedIds: deleted,
            notFound: missing
        )
    }

    /// Creates the ingest job and its parts, enqueues one INGEST_DATA job per part, and answers 202 with the ids.
    /// At most ``ServerConfiguration/maxConcurrentUploads`` bodies are read at once; past that the answer is 503
    /// with `Retry-After`, before the body is read.
    private func ingest(_ request: Request, _ context: SluiceRequestContext) async throws -> Response {
        let projectID = try context.pathParameter("id")
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
            guard query["sync"].map({ ["true", "false"].contains($0) }) ?? true else {
                throw APIError(.badRequest, "sync must be true or false")
            }
            writer.sync = query["sync"] == "true"
            writer.dryRun = query["dryRun"] == "true"
            if let field = query["idField"] {
                guard !field.isEmpty else { throw APIError(.badRequest, "idField must be a column name") }
                writer.idField = String(field)
            }
            try Uploads.csv(try await request.text(upTo: configuration.maxIngestBytes), into: writer)
        } else if contentType.hasPrefix("application/json") {
            try Uploads.json(try await request.text(upTo: configuration.maxIngestBytes), into: writer)
        } else {
            throw APIError(.unsupportedMediaType, "send application/json or text/csv, not \(contentType)")
        }
        switch try request.query()["dryRun"] {
        case nil, "false": break
        case "true": writer.dryRun = true
        default: throw APIError(.badRequest, "dryRun must be true or false")
        }
        if writer.dryRun {
            let preview = try await Uploads.preview(writer, store: pipeline, options: configuration.ingestion)
            return try IngestPreviewResponse(preview).response(from: request, context: context)
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
        return try EditedResponse(
            status: .accepted,
            response: IngestAcceptedResponse(
                ingestJobId: writer.ingestJobID,
                jobId: jobIDs[0],
                jobIds: jobIDs,
                total: total
            )
        ).response(from: request, context: context)
    }

    /// The signed-in user, unless they are over their searches a minute (429 with Retry-After).
    private func admitSearch(_ context: SluiceRequestContext) throws -> User {
        let user = try context.requireUser()
        if let wait = searches.admit(user.id) {
            throw APIError(
                .tooManyRequests,
                "at most \(configuration.searchesPerMinute) searches a minute; try again in \(wait) s",
                headers: [.retryAfter: "\(wait)"]
            )
        }
        return user
    }

    /// Embeds the query with the configured provider and returns the nearest records that match the filter.
    /// Refuses to compare a query from one model with vectors from another.
    private func search(
        _ request: SearchRequest,
        _ context: SluiceRequestContext,
        user: User
    ) async throws -> SearchResponse {
        let id = try context.pathParameter("id")
        let (text, k) = (request.query, request.k)
        guard let project = try await pipeline.project(id: id) else {
            throw APIError(.notFound, "project \(id) does not exist")
        }
        // Keyword search reads words only: no embeddings needed, no provider called.
        var vector: [Float]?
        if request.mode != .keyword {
            guard let model = project.embeddingModel else {
                throw APIError(
                    .conflict,
                    "project \(project.name) has no embeddings yet: ingest with generateEmbeddings, or search with mode keyword"
                )
            }
            guard model == embedder.model, project.embeddingDimensions == embedder.dimensions else {
                throw APIError(
                    .conflict,
                    PipelineError.modelMismatch(
                        project: project,
                        model: embedder.model,
                        dimensions: embedder.dimensions
                    )
                    .message
                )
            }
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
        }
        let found = try await pipeline.search(
            projectID: id,
            text: text,
            vector: vector,
            model: project.embeddingModel,
            limit: k,
            filter: request.filter,
            mode: request.mode,
            weights: request.weights
        )
        return SearchResponse(
            projectId: id,
            model: request.mode == .keyword ? nil : project.embeddingModel,
            mode: request.mode.rawValue,
            search: found.search?.rawValue,
            results: found.records.map(SearchResponse.Result.init)
        )
    }
}

// MARK: Bodies

struct ProjectCreateRequest: APIRequest {
    static let shape =
        #"{"name": string of 1 to 200 characters, "chunkSize"?: integer, "chunkOverlap"?: integer, "template"?: string}"#
    var name: String
    var chunkSize: Int?
    var chunkOverlap: Int?
    var template: String?

    /// 400 for a chunk size outside 64 to 100,000 characters, an overlap over half a chunk, or a template that is
    /// no template.
    func validateChunking() throws {
        if let chunkSize, !(64...100_000).contains(chunkSize) {
            throw APIError(.badRequest, "chunkSize must be a whole number of characters from 64 to 100000")
        }
        if let chunkOverlap {
            let limit = (chunkSize ?? 100_000) / 2
            guard (0...limit).contains(chunkOverlap) else {
                throw APIError(.badRequest, "chunkOverlap must be from 0 to half of chunkSize (\(limit))")
            }
        }
        if let template {
            guard template.count <= 4_096 else {
                throw APIError(.badRequest, "template must be at most 4096 characters")
            }
            do {
                _ = try RecordTemplate(template)
            } catch let error as PipelineError {
                throw APIError(.badRequest, error.message)
            }
        }
    }
}

struct ProjectResponse: Encodable, Sendable {
    var id: String
    var name: String
    @NullEncoded var embeddingModel: String?
    @NullEncoded var embeddingDimensions: Int?
    var recordCount: Int
    var embeddedCount: Int
    var createdAt: Date
    /// The chunking the project's uploads get (its own, or the server's defaults).
    var chunkSize: Int
    var chunkOverlap: Int
    @NullEncoded var template: String?

    init(_ summary: ProjectSummary, defaults: Chunker) {
        let chunker = summary.project.chunker(defaults: defaults)
        chunkSize = chunker.size
        chunkOverlap = chunker.overlap
        template = summary.project.template
        id = summary.project.id
        name = summary.project.name
        embeddingModel = summary.project.embeddingModel
        embeddingDimensions = summary.project.embeddingDimensions
        recordCount = summary.recordCount
        embeddedCount = summary.embeddedCount
        createdAt = summary.project.createdAt
    }
}

struct ProjectEnvelope: ResponseEncodable, Sendable {
    var project: ProjectResponse
}

struct ProjectsResponse: ResponseEncodable, Sendable {
    var projects: [ProjectResponse]
}

struct ReembedResponse: ResponseEncodable, Sendable {
    var projectId: String
    var clearedCount: Int
    var jobId: String
}

struct IngestAcceptedResponse: ResponseEncodable, Sendable {
    var ingestJobId: String
    var jobId: String
    var jobIds: [String]
    var total: Int
}

struct IngestJobResponse: Encodable, Sendable {
    var id: String
    var projectId: String
    var status: String
    var total: Int
    var processed: Int
    var saved: Int
    var skipped: Int
    var updated: Int
    var unchanged: Int
    var sync: Bool
    var deleted: Int
    @NullEncoded var error: String?
    var createdAt: Date
    @NullEncoded var startedAt: Date?
    @NullEncoded var completedAt: Date?

    init(_ job: IngestJob) {
        id = job.id
        projectId = job.projectID
        status = job.status.rawValue
        total = job.total
        processed = job.processed
        saved = job.saved
        skipped = job.skipped
        updated = job.updated
        unchanged = job.unchanged
        sync = job.sync
        deleted = job.deleted
        error = job.error
        createdAt = job.createdAt
        startedAt = job.startedAt
        completedAt = job.completedAt
    }
}

struct IngestJobEnvelope: ResponseEncodable, Sendable {
    var ingestJob: IngestJobResponse
}

struct SearchResponse: ResponseEncodable, Sendable {
    struct Result: Encodable, Sendable {
        var id: String
        @NullEncoded var externalId: String?
        var text: String
        var chunk: Int
        var record: JSONValue
        /// Cosine distance of the nearest chunk; null when the vector list did not hold the record.
        @NullEncoded var distance: Double?
        /// Positions in the vector and keyword lists, from 1; null where the record is not in that list.
        @NullEncoded var vectorRank: Int?
        @NullEncoded var keywordRank: Int?
        /// The keyword list's relevance (higher is better); null when it did not hold the record.
        @NullEncoded var keywordScore: Double?
        /// The fused score of hybrid search; null in the other modes.
        @NullEncoded var score: Double?

        init(_ record: RankedRecord) {
            id = record.id
            externalId = record.externalID
            text = record.text
            chunk = record.chunk
            self.record = record.data
            distance = record.distance
            vectorRank = record.vectorRank
            keywordRank = record.keywordRank
            keywordScore = record.keywordScore
            score = record.score
        }
    }

    var projectId: String
    /// The model of the vectors compared; null in keyword mode.
    @NullEncoded var model: String?
    var mode: String
    /// `exact` (every vector compared: SQLite, or PostgreSQL before its approximate index is built) or
    /// `approximate`; null in keyword mode.
    @NullEncoded var search: String?
    var results: [Result]
}

/// A search, from `GET ?q=&k=&filter=` or a `POST` body `{"query", "k", "filter", "mode"}`; 400 naming what is wrong.
struct SearchRequest: Sendable {
    static let shape =
        #"{"query": string, "k"?: 1 to 100, "filter"?: object, "mode"?: "vector" | "keyword" | "hybrid", "weights"?: {"vector"?: number, "keyword"?: number}}"#
    /// Largest search body.
    static let maximumBodyBytes = 256 << 10

    var query: String
    var k = 10
    var filter: SearchFilter?
    var mode = SearchMode.vector
    var weights = HybridWeights()

    init(query parameters: FlatDictionary<Substring, Substring>) throws {
        var k: Int?
        if let given = parameters["k"] {
            guard let value = Int(given) else { throw APIError(.badRequest, "k must be a whole number from 1 to 100") }
            k = value
        }
        var filter: JSONValue?
        if let text = parameters["filter"] {
            do {
                filter = try JSONValue(parsing: String(text))
            } catch {
                throw APIError(.badRequest, "filter must be a JSON object: \(error)")
            }
        }
        try self.init(
            query: parameters["q"].map(String.init),
            k: k,
            filter: filter,
            mode: parameters["mode"].map(String.init),
            queryName: "q"
        )
    }

    init(body: JSONValue) throws {
        guard case .object(let members) = body else { throw APIError(.badRequest, "body must be \(Self.shape)") }
        let known: Set = ["query", "k", "filter", "mode", "weights"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError(.badRequest, "unknown field \(unknown.prefix(100)); body must be \(Self.shape)")
        }
        let query: String?
        switch members["query"] {
        case .string(let text)?: query = text
        case nil, .null?: query = nil
        default: throw APIError(.badRequest, "query must be a string")
        }
        var k: Int?
        if let given = members["k"], given != .null {
            guard let value = given.intValue else {
                throw APIError(.badRequest, "k must be a whole number from 1 to 100")
            }
            k = value
        }
        var mode: String?
        switch members["mode"] {
        case .string(let text)?: mode = text
        case nil, .null?: mode = nil
        default: throw APIError(.badRequest, "mode must be a string")
        }
        try self.init(query: query, k: k, filter: members["filter"], mode: mode, queryName: "query")
        if let weights = members["weights"], weights != .null {
            guard case .object(let given) = weights,
                given.keys.allSatisfy({ $0 == "vector" || $0 == "keyword" })
            else {
                throw APIError(.badRequest, #"weights must be {"vector": number, "keyword": number}"#)
            }
            func weight(_ name: String) throws -> Double {
                switch given[name] {
                case nil: return 1
                case .int(let value)?:
                    guard value >= 0 else { break }
                    return Double(value)
                case .double(let value)?:
                    guard value >= 0 else { break }
                    return value
                default: break
                }
                throw APIError(.badRequest, "weights.\(name) must be a number of 0 or more")
            }
            self.weights = HybridWeights(vector: try weight("vector"), keyword: try weight("keyword"))
            guard self.weights.vector + self.weights.keyword > 0 else {
                throw APIError(.badRequest, "weights must not both be 0")
            }
        }
    }

    private init(query: String?, k: Int?, filter: JSONValue?, mode: String?, queryName: String) throws {
        guard let query, !query.trimmingCharacters(in: .whitespaces).isEmpty, query.utf8.count <= 8_192 else {
            throw APIError(.badRequest, "\(queryName) must be 1 to 8192 bytes of text")
        }
        self.query = query
        if let k {
            guard (1...100).contains(k) else { throw APIError(.badRequest, "k must be a whole number from 1 to 100") }
            self.k = k
        }
        if let filter, filter != .null {
            do {
                self.filter = try SearchFilter(parsing: filter)
            } catch {
                throw APIError(.badRequest, error.description)
            }
        }
        if let mode {
            guard let known = SearchMode(rawValue: mode) else {
                throw APIError(
                    .badRequest,
                    "mode must be vector, keyword or hybrid, not \(mode.prefix(40).debugDescription)"
                )
            }
            self.mode = known
        }
    }
}

/// `POST /api/projects/{id}/delete-records`.
struct DeleteRecordsRequest: APIRequest {
    static let shape = #"{"ids": [string, …]}"#
    /// Most ids one request deletes.
    static let maximum = 10_000
    var ids: [String]
}

struct DeletedRecordsResponse: ResponseEncodable, Sendable {
    var projectId: String
    var deletedCount: Int
    var deletedIds: [String]
    var notFound: [String]
}

/// `POST /api/projects/{id}/ingest?dryRun=true`: what the upload would change, nothing changed.
struct IngestPreviewResponse: ResponseEncodable, Sendable {
    var dryRun = true
    var total: Int
    var toInsert: Int
    var toUpdate: Int
    var unchanged: Int
    var invalid: Int
    var toDelete: Int
    var chunksToEmbed: Int
    var estimatedTokens: Int

    init(_ preview: UploadPreview) {
        total = preview.total
        toInsert = preview.toInsert
        toUpdate = preview.toUpdate
        unchanged = preview.unchanged
        invalid = preview.invalid
        toDelete = preview.toDelete
        chunksToEmbed = preview.chunksToEmbed
        estimatedTokens = preview.estimatedTokens
    }
}
