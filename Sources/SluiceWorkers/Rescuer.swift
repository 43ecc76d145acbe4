import Foundation
import Logging
import ServiceLifecycle
import SluiceCore

/// Returns jobs whose worker was lost (lease expired) to the queue, every `interval` (default 30 s). Safe to run
/// on every server at once: each expired job is moved by exactly one statement.
public struct Rescuer: Service {
    public let queue: DatabaseQueue
    public let interval: Duration
    private let logger: Logger

    public init(
        queue: DatabaseQueue,
        interval: Duration = .seconds(30),
        logger: Logger = Logger(label: "sluice.rescuer")
    ) {
        self.queue = queue
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await queue.rescueExpiredJobs()
            } catch {
                logger.error("rescue failed", metadata: [LogKey.error: "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
