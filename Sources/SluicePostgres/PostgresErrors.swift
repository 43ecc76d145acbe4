import PostgresNIO
import SluiceCore

/// Maps postgres-nio errors to ``QueueError`` where the cause is one a person can act on.
enum PostgresErrors {
    static func describe(_ error: PSQLError, location: String) -> any Error {
        let sqlState = error.serverInfo?[.sqlState]
        let serverMessage = error.serverInfo?[.message]
        switch sqlState {
        case "42P01"?:  // undefined_table
            return QueueError.schemaOutOfDate(
                "\(serverMessage ?? "a table is missing"); run `sluice migrate`")
        case let state?
        where state.hasPrefix("08") || state.hasPrefix("28") || state == "3D000"
            || state.hasPrefix("57P"):
            // connection exceptions, authentication failures, unknown database, shutdown
            return QueueError.storeUnavailable(location, reason: serverMessage ?? "connection refused")
        default:
            break
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .sslUnsupported,
            .failedToAddSSLHandler, .uncleanShutdown:
            let reason = error.underlying.map { "\($0)" } ?? "\(error.code)"
            return QueueError.storeUnavailable(location, reason: reason)
        case .server:
            return QueueError.databaseError("\(serverMessage ?? "statement refused") (SQLSTATE \(sqlState ?? "?"))")
        default:
            return error
        }
    }
}
