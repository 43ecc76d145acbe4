import Logging
import PostgresNIO
import SluicePostgres

/// A store of application tables on the queue store's PostgreSQL pool: the helpers its queries use.
protocol PostgresTableStore: Sendable {
    var database: PostgresPool { get }
}

extension PostgresTableStore {
    var client: PostgresClient { database.client }
    var logger: Logger { database.logger }

    func mapErrors<T>(_ body: () async throws -> T) async throws -> T { try await database.mapErrors(body) }

    func changesRow(_ query: PostgresQuery) async throws -> Bool { try await database.changesRow(query) }
}
