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
                "\(serverMessage ?? "a table is missing"); run `sluice migrate`"
            )
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
            return QueueError.databaseError(
                "\(serverMessage ?? "statement refused") (SQLSTATE \(sqlState ?? "?"))",
                constraint: error.serverInfo?[.constraintName]
            )
        default:
            // PSQLError's own description is a fixed text ("Generic description to prevent accidental leakage…"):
            // say what failed instead, by its code and the server's message (never bound values).
            return QueueError.databaseError(summary(error))
        }
    }

    /// What a log line needs of a postgres-nio error: its code, and the server's SQLSTATE and message when the
    /// server answered. Bound values and the query text are left out.
    static func summary(_ error: PSQLError) -> String {
        var text = "PostgreSQL client error \(error.code)"
        if let state = error.serverInfo?[.sqlState] { text += ", SQLSTATE \(state)" }
        if let message = error.serverInfo?[.message] { text += ": \(message)" }
        if let underlying = error.underlying { text += " (\(underlying))" }
        return text
    }

    /// `error` described for a log line: ``summary(_:)`` for postgres-nio's errors, the error itself otherwise.
    static func loggable(_ error: any Error) -> String {
        (error as? PSQLError).map(summary) ?? "\(error)"
    }
}
