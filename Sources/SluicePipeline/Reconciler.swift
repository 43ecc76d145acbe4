import Foundation
import Logging
import SluiceCore

/// The safety net behind vectorization's follow-ups: queues VECTORIZE for every project whose records are to be
/// embedded, that has records without an embedding, and no ingest still running (which queues its own VECTORIZE
/// when it finishes). A project that already has a VECTORIZE job waiting or running is left alone by the job's
/// unique key. Records can be left so by a follow-up that never committed (a crash between storing records and
/// queueing their job in a Sluice before transactional follow-ups) or by records stored just after a running
/// VECTORIZE job looked for more.
public struct VectorizationReconciler: Sendable {
    public let store: any PipelineStore
    public let queue: DatabaseQueue
    /// Most projects looked at per run. Default 1,000.
    public var projectsPerRun: Int
    /// The vector length whose approximate index each run builds once at least `indexBacklog` chunks have vectors
    /// and fewer wait for one (``PipelineStore/prepareVectorIndex(dimensions:threshold:)``); nil builds none.
    public var vectorDimensions: Int?
    public var indexBacklog: Int
    private let logger: Logger

    public init(
        store: any PipelineStore,
        queue: DatabaseQueue,
        projectsPerRun: Int = 1_000,
        vectorDimensions: Int? = nil,
        indexBacklog: Int = 10_000,
        logger: Logger = Logger(label: "sluice.reconciler")
    ) {
        self.store = store
        self.queue = queue
        self.projectsPerRun = max(1, projectsPerRun)
        self.vectorDimensions = vectorDimensions
        self.indexBacklog = indexBacklog
        self.logger = logger
    }

    /// Queues what is missing; returns the ids of the projects a VECTORIZE job was inserted for.
    @discardableResult
    public func run() async throws -> [String] {
        if let vectorDimensions {
            _ = try await store.prepareVectorIndex(dimensions: vectorDimensions, threshold: indexBacklog)
        }
        let projects = try await store.projectsAwaitingEmbeddings(limit: projectsPerRun)
        guard !projects.isEmpty else { return [] }
        let results = try await queue.enqueue(contentsOf: projects.map { VectorizationHandler.job(projectID: $0) })
        let queued = zip(projects, results).filter { $0.1.inserted }.map(\.0)
        if !queued.isEmpty {
            logger.notice(
                "queued VECTORIZE for projects with records left unembedded",
                metadata: [LogKey.projects: "\(queued.joined(separator: ","))"]
            )
        }
        return queued
    }
}
