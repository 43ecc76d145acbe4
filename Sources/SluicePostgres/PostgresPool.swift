import Logging
import PostgresNIO
import SluiceCore

/// A PostgreSQL connection pool with Sluice's error mapping. ``PostgresJobStore`` owns one and runs it; the stores
/// of other libraries (accounts, the pipeline) take it from there, so that one pool serves every table.
public struct PostgresPool: Sendable {
    public let client: PostgresClient
    /// The database's URL without its password, for messages.
    public let location: String
    public let logger: Logger

    public init(client: PostgresClient, location: String, logger: Logger) {
        self.client = client
        self.location = location
        self.logger = logger
    }

    /// Runs `body`, turning postgres-nio's deliberately vague errors into ones a person can act on (``QueueError``
    /// with the server's message and constraint name).
    public func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw PostgresErrors.describe(error, location: location)
        } catch let error as PostgresTransactionError {
            // Report what went wrong inside the transaction, not the wrapper.
            let cause = error.closureError ?? error.beginError ?? error.commitError ?? error
            if let cause = cause as? PSQLError { throw PostgresErrors.describe(cause, location: location) }
            throw cause
        }
    }

    /// Runs an `UPDATE … RETURNING id` (or an INSERT or DELETE that returns); true when it changed a row.
    public func changesRow(_ query: PostgresQuery) async throws -> Bool {
        try await mapErrors { try await !client.query(query, logger: logger).collect().isEmpty }
    }
}
