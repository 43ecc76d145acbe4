import ArgumentParser
import Foundation
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores

#if canImport(Glibc)
    import Glibc
#endif

struct Projects: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and list projects (collections of records to ingest, embed and search).",
        subcommands: [Create.self, List.self, Reembed.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project; prints its id.")
        @OptionGroup var settings: QueueSettings
        @Argument(help: "The project's name (unique).") var name: String
        @Option(help: "Longest chunk of a record's text, in characters (64 to 100000; default SLUICE_CHUNK_SIZE).")
        var chunkSize: Int?
        @Option(help: "Characters consecutive chunks share (at most half a chunk; default SLUICE_CHUNK_OVERLAP).")
        var chunkOverlap: Int?
        @Option(help: "What is embedded for each chunk, with {{field}} and {{chunk}}, e.g. '{{title}}\\n\\n{{chunk}}'.")
        var template: String?

        func run() async throws {
            let name = self.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(name.count) else { throw ValidationError("the name must be 1 to 200 characters") }
            if let chunkSize, !(64...100_000).contains(chunkSize) {
                throw ValidationError("--chunk-size must be from 64 to 100000")
            }
            if let chunkOverlap, !(0...((chunkSize ?? 100_000) / 2)).contains(chunkOverlap) {
                throw ValidationError("--chunk-overlap must be from 0 to half of the chunk size")
            }
            // `\n` typed on a command line arrives as two characters: the template means a new line.
            let template = self.template?.replacingOccurrences(of: "\\n", with: "\n")
            if let template { _ = try RecordTemplate(template) }
            let project = Project(
                id: UUID().uuidString.lowercased(),
                name: name,
                createdAt: Date(),
                chunkSize: chunkSize,
                chunkOverlap: chunkOverlap,
                template: template
            )
            try await settings.withStores { stores, _, _ in try await stores.pipeline.createProject(project) }
            print(project.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List projects with their counts.")
        @OptionGroup var settings: QueueSettings
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let projects = try await settings.withStores { stores, _, _ in try await stores.pipeline.projects() }
            if json {
                print(JSONValue.array(projects.map(Self.json)).jsonText)
                return
            }
            let rows = projects.map {
                [
                    $0.project.name, $0.project.id, String($0.recordCount), String($0.embeddedCount),
                    $0.project.embeddingModel ?? "-",
                ]
            }
            print(Table.render([["NAME", "ID", "RECORDS", "EMBEDDED", "MODEL"]] + rows))
        }

        static func json(_ summary: ProjectSummary) -> JSONValue {
            [
                "id": .string(summary.project.id), "name": .string(summary.project.name),
                "recordCount": .int(Int64(summary.recordCount)), "embeddedCount": .int(Int64(summary.embeddedCount)),
            ]
        }
    }
}

extension Projects {
    struct Reembed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a project's vectors and queue its records to be embedded again (after a model change)."
        )
        @OptionGroup var settings: QueueSettings
        @Argument(help: "The project's name or id.") var project: String

        func run() async throws {
            let name = project
            let (cleared, job) = try await settings.withStores { stores, queueOptions, logger in
                let target = try await ProjectLookup.find(name, in: stores.pipeline)
                let cleared = try await stores.pipeline.clearEmbeddings(projectID: target.project.id)
                let job = try await VectorizationHandler.enqueue(
                    projectID: target.project.id,
                    on: DatabaseQueue(store: stores.queue, options: queueOptions, logger: logger)
                )
                return (cleared, job.id)
            }
            print("cleared \(cleared) vector(s); queued VECTORIZE job \(job)")
        }
    }
}

/// Finds a project by id, else by name.
enum ProjectLookup {
    static func find(_ nameOrID: String, in store: any PipelineStore) async throws -> ProjectSummary {
        let summaries = try await store.projects()
        guard
            let found = summaries.first(where: { $0.project.id == nameOrID })
                ?? summaries.first(where: { $0.project.name == nameOrID })
        else { throw PipelineError(code: .projectNotFound, message: "no project is named or numbered '\(nameOrID)'") }
        return found
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find a project's records nearest to a text (cosine distance of embeddings)."
    )
    @OptionGroup var settings: QueueSettings
    @Argument(help: "The project's name or id.") var project: String
    @Argument(help: "The text to search for.") var text: String
    @Option(name: .short, help: "How many records (1 to 100; default 10).") var k = 10
    @Option(
        help: ArgumentHelp(
            "Only records whose fields match this JSON filter.",
            discussion: #"For example '{"category": "news", "year": {"$gte": 2020}}'; the README lists the operators."#,
            valueName: "json"
        )
    )
    var filter: String?
    @Option(help: "vector (by meaning, the default), keyword (by words) or hybrid (both, fused by rank).")
    var mode = "vector"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        guard (1...100).contains(k) else { throw ValidationError("-k must be from 1 to 100") }
        var searchFilter: SearchFilter?
        if let filter {
            let value: JSONValue
            do {
                value = try JSONValue(parsing: filter)
            } catch {
                throw ValidationError("--filter is not JSON: \(error)")
            }
            do {
                searchFilter = try SearchFilter(parsing: value)
            } catch {
                throw ValidationError("--filter: \(error.description)")
            }
        }
        guard let searchMode = SearchMode(rawValue: mode) else {
            throw ValidationError("--mode must be vector, keyword or hybrid")
        }
        let embedder = try BuiltInHandlers.embedder(SettingsReader())
        let (name, text, k, filter) = (project, text, k, searchFilter)
        let found = try await settings.withStores { stores, _, _ in
            let target = try await ProjectLookup.find(name, in: stores.pipeline)
            var vector: [Float]?
            if searchMode != .keyword {
                guard let model = target.project.embeddingModel else {
                    throw PipelineError(
                        code: .invalidInput,
                        message:
                            "project \(target.project.name) has no embeddings yet (ingest with --embed, or search with --mode keyword)"
                    )
                }
                guard model == embedder.model, target.project.embeddingDimensions == embedder.dimensions else {
                    throw PipelineError.modelMismatch(
                        project: target.project,
                        model: embedder.model,
                        dimensions: embedder.dimensions
                    )
                }
                vector = try await embedder.embed([text])[0]
            }
            return try await stores.pipeline.search(
                projectID: target.project.id,
                text: text,
                vector: vector,
                model: target.project.embeddingModel,
                limit: k,
                filter: filter,
                mode: searchMode
            )
        }
        func number(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }
        func number(_ value: Int?) -> JSONValue { value.map { .int(Int64($0)) } ?? .null }
        if json {
            print(
                JSONValue.array(
                    found.records.map {
                        [
                            "id": .string($0.id), "externalId": $0.externalID.map(JSONValue.string) ?? .null,
                            "text": .string($0.text), "record": $0.data, "distance": number($0.distance),
                            "vectorRank": number($0.vectorRank), "keywordRank": number($0.keywordRank),
                            "keywordScore": number($0.keywordScore), "score": number($0.score),
                        ]
                    }
                ).jsonText
            )
            return
        }
        let rows = found.records.map { record -> [String] in
            let measure: Double? =
                switch searchMode {
                case .vector: record.distance
                case .keyword: record.keywordScore
                case .hybrid: record.score
                }
            return [measure.map { String(format: "%.4f", $0) } ?? "", String(record.text.prefix(80))]
        }
        let heading = ["vector": "DISTANCE", "keyword": "SCORE", "hybrid": "FUSED"][mode] ?? "SCORE"
        print(Table.render([[heading, "TEXT"]] + rows))
    }
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload a CSV (header row) or JSON Lines file into a project, and follow it to the end.",
        discussion: """
            The records are queued as INGEST_DATA jobs; a running `sluice serve` or `sluice work` processes them. \
            The command waits and shows progress (a bar on a terminal) unless --no-wait.
            """
    )

    @OptionGroup var settings: QueueSettings
    @Argument(help: "The project's name or id.") var project: String
    @Argument(help: "A .csv file, or JSON Lines (.jsonl, .ndjson); - reads standard input as JSON Lines.")
    var file: String
    @Flag(help: "Embed the records once stored (VECTORIZE).") var embed = false
    @Option(help: "Fields whose text is embedded, comma-separated (default: text, else every string field).")
    var textFields: String?
    @Option(
        name: .customLong("id-field"),
        help:
            "The field or column holding each record's id (default: id, when present); a record with an id is updated in place by a later upload."
    )
    var idField: String?
    @Flag(
        help: "Delete the project's records this file does not carry, once every record is stored (never if it fails)."
    )
    var sync = false
    @Option(help: "csv or jsonl (default: from the file's extension).") var format: String?
    @Flag(name: .customLong("no-wait"), help: "Queue the records and exit.") var noWait = false
    @Flag(
        name: .customLong("dry-run"),
        help:
            "Print what the upload would insert, update, leave and (--sync) delete, and the chunks to embed; change nothing."
    )
    var dryRun = false

    func run() async throws {
        let text = try Terminal.readText(file)
        let kind = format?.lowercased() ?? (file.lowercased().hasSuffix(".csv") ? "csv" : "jsonl")
        guard ["csv", "jsonl", "ndjson"].contains(kind) else {
            throw ValidationError("--format must be csv or jsonl, not '\(kind)'")
        }
        // The same part size the server uses (SLUICE_INGEST_JOB_RECORDS).
        let partSize = try SettingsReader().integer(Settings.ingestJobRecords) ?? ServerConfiguration().ingestPartSize
        if let idField, idField.isEmpty { throw ValidationError("--id-field needs a field name") }
        let (projectName, wait, embed, idField, sync) = (project, !noWait, self.embed, self.idField, self.sync)
        let (dryRun, ingestion) = (self.dryRun, try SettingsReader().ingestionOptions())
        let fields = textFields.map { $0.split(separator: ",").map(String.init) } ?? []
        let outcome = try await settings.withStores { stores, queueOptions, logger in
            let target = try await ProjectLookup.find(projectName, in: stores.pipeline)
            let queue = DatabaseQueue(store: stores.queue, options: queueOptions, logger: logger)
            let writer = UploadWriter(projectID: target.project.id, partSize: partSize)
            writer.generateEmbeddings = embed
            writer.textFields = fields
            writer.idField = idField
            writer.sync = sync
            if kind == "csv" { try Uploads.csv(text, into: writer) } else { try Uploads.jsonLines(text, into: writer) }
            if dryRun {
                let preview = try await Uploads.preview(writer, store: stores.pipeline, options: ingestion)
                print(
                    "dry run: \(preview.total) records: \(preview.toInsert) to insert, \(preview.toUpdate) to update, "
                        + "\(preview.unchanged) unchanged, \(preview.invalid) invalid"
                        + (sync ? ", \(preview.toDelete) to delete" : "")
                )
                print(
                    "\(preview.chunksToEmbed) chunks to embed, about \(preview.estimatedTokens) tokens; nothing changed"
                )
                return ("", nil as IngestJob?)
            }
            let total = writer.total
            let jobIDs = try await Uploads.submit(writer, store: stores.pipeline, queue: queue, now: Date())
            printError("queued ingest job \(writer.ingestJobID): \(total) records in \(jobIDs.count) job(s)")
            guard wait else { return (writer.ingestJobID, nil as IngestJob?) }
            return (writer.ingestJobID, try await Self.follow(writer.ingestJobID, store: stores.pipeline))
        }
        if dryRun { return }
        print(outcome.0)
        guard let job = outcome.1 else { return }
        print(
            "\(job.status.rawValue): saved \(job.saved) (\(job.saved - job.updated) new, \(job.updated) updated), "
                + "skipped \(job.skipped) (\(job.unchanged) unchanged) of \(job.total)"
                + (job.sync ? "; deleted \(job.deleted) not in the file" : "")
        )
        if job.status == .failed { throw PipelineError(code: .invalidInput, message: job.error ?? "ingestion failed") }
    }

    /// Polls the ingest job until it ends, drawing progress on standard error.
    private static func follow(_ id: String, store: any PipelineStore) async throws -> IngestJob {
        let terminal = isatty(STDERR_FILENO) == 1
        let started = ContinuousClock.now
        var hinted = false
        var last = ""
        while true {
            guard let job = try await store.ingestJob(id: id) else {
                throw PipelineError(code: .ingestJobNotFound, message: "ingest job \(id) disappeared")
            }
            let line = progressLine(job, bar: terminal)
            if line != last {
                if terminal { printErrorInline("\r" + line) } else { printError(line) }
                last = line
            }
            if job.status == .completed || job.status == .failed {
                if terminal { printError("") }
                return job
            }
            if !hinted && job.processed == 0 && ContinuousClock.now - started > .seconds(10) {
                hinted = true
                let hint =
                    "no worker has started on it yet: is `sluice serve` or `sluice work` running on this database?"
                if terminal { printError("\n" + hint) } else { printError(hint) }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    static func progressLine(_ job: IngestJob, bar: Bool) -> String {
        let fraction = job.total == 0 ? 1 : Double(job.processed) / Double(job.total)
        let counts = "\(job.processed)/\(job.total) (saved \(job.saved), skipped \(job.skipped))"
        guard bar else { return "\(job.status.rawValue.lowercased()) \(counts)" }
        let width = 30
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            + String(format: "%3d%% ", Int(fraction * 100)) + counts
    }
}

func printErrorInline(_ message: String) {
    FileHandle.standardError.write(Data(message.utf8))
}

/// `sluice records`: the records of a project.
struct Records: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage a project's records.",
        subcommands: [Delete.self]
    )

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete records by their ids, with their chunks and vectors (gone from search at once).",
            discussion: "Ids come from the arguments, or one per line from --from (- for standard input)."
        )

        @OptionGroup var settings: QueueSettings
        @Argument(help: "The project's name or id.") var project: String
        @Argument(help: "The records' ids (their idField values).") var ids: [String] = []
        @Option(help: "A file of ids, one per line; - reads standard input.") var from: String?

        func run() async throws {
            var ids = self.ids
            if let from {
                let text = try Terminal.readText(from)
                ids += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            }
            guard !ids.isEmpty else { throw ValidationError("name the ids to delete, or --from a file of ids") }
            let (projectName, wanted) = (project, ids)
            let deleted = try await settings.withStores { stores, _, _ in
                let target = try await ProjectLookup.find(projectName, in: stores.pipeline)
                return try await stores.pipeline.deleteRecords(projectID: target.project.id, externalIDs: wanted)
            }
            for id in deleted { print(id) }
            let missing = Set(wanted).subtracting(deleted)
            printError("deleted \(deleted.count) record(s)" + (missing.isEmpty ? "" : "; \(missing.count) not found"))
            if deleted.isEmpty { throw ExitCode(1) }
        }
    }
}
