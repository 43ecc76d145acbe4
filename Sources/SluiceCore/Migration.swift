/// One step of the schema: a name that sorts by version (`20261129000000_create_job_queue`) and the statements
/// that apply it. Migrations are append-only: a released one is never edited, a change is a new one. Every store
/// has the same names in the same order, each with SQL of its own dialect.
public struct Migration: Sendable, Hashable {
    public var name: String
    public var statements: [String]
    /// What the database server must have installed for the migration to run (for example "pgvector"), named in
    /// the error when one of its `CREATE EXTENSION` statements fails. Nil for plain SQL.
    public var requires: String?

    public init(_ name: String, requires: String? = nil, _ statements: [String]) {
        self.name = name
        self.statements = statements
        self.requires = requires
    }
}

extension SchemaStatus {
    /// Compares the migrations a build knows with the names a database has recorded.
    public init(known: [Migration], applied recorded: [String]) {
        let recordedSet = Set(recorded)
        let knownNames = known.map(\.name)
        self.init(
            applied: knownNames.filter { recordedSet.contains($0) },
            pending: knownNames.filter { !recordedSet.contains($0) },
            unknown: recorded.filter { !knownNames.contains($0) }.sorted()
        )
    }

    /// Throws ``QueueError/Code/schemaOutOfDate`` unless the database has exactly the migrations this build knows.
    public func requireCurrent() throws {
        if !unknown.isEmpty {
            throw QueueError.schemaOutOfDate(
                "the database has migrations this build of Sluice does not know (\(unknown.joined(separator: ", "))); "
                    + "upgrade Sluice"
            )
        }
        if !pending.isEmpty {
            throw QueueError.schemaOutOfDate(
                "\(pending.count) migration(s) not applied (\(pending.joined(separator: ", "))); run `sluice migrate`"
            )
        }
    }
}
