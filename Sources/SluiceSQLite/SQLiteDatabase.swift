import Foundation
import GRDB
import SluiceCore

/// An SQLite file's connection pool with Sluice's error mapping and time encoding. ``SQLiteJobStore`` opens one; the
/// stores of other libraries (accounts, the pipeline) take it from there, so that every table lives in one file.
public struct SQLiteDatabase: Sendable {
    public let pool: DatabasePool
    /// `sqlite:PATH`, for messages.
    public let location: String

    public init(pool: DatabasePool, location: String) {
        self.pool = pool
        self.location = location
    }

    /// Runs `body` in a write transaction (one writer at a time across processes).
    public func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as DatabaseError {
            throw describe(error)
        }
    }

    /// Runs `body` on a read-only snapshot, beside writers (WAL).
    public func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as DatabaseError {
            throw describe(error)
        }
    }

    /// Runs one statement in a write transaction; true when it changed a row.
    public func changesRow(_ sql: String, _ arguments: StatementArguments) async throws -> Bool {
        try await write { db in
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount > 0
        }
    }

    /// Missing tables mean an unmigrated database; file and lock problems mean the store is unavailable.
    private func describe(_ error: DatabaseError) -> any Error {
        let message = error.message ?? "\(error.resultCode)"
        if message.hasPrefix("no such table") {
            return QueueError.schemaOutOfDate("\(message); run `sluice migrate`")
        }
        switch error.resultCode {
        case .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_NOTADB,
            .SQLITE_CORRUPT, .SQLITE_FULL, .SQLITE_PERM:
            return QueueError.storeUnavailable(location, reason: message)
        default:
            return error
        }
    }

    /// Times are stored as INTEGER microseconds since 1970 UTC.
    public static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public static func date(_ micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }
}
