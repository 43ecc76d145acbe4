import Foundation
import GRDB
import SluiceSQLite

/// A store of application tables in the queue store's SQLite file: the helpers its queries use.
protocol SQLiteTableStore: Sendable {
    var database: SQLiteDatabase { get }
}

extension SQLiteTableStore {
    func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await database.write(body)
    }

    func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    func changesRow(_ sql: String, _ arguments: StatementArguments) async throws -> Bool {
        try await database.changesRow(sql, arguments)
    }

    static func micros(_ date: Date) -> Int64 { SQLiteDatabase.micros(date) }

    static func date(_ micros: Int64) -> Date { SQLiteDatabase.date(micros) }
}
