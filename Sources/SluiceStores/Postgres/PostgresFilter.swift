import PostgresNIO
import SluiceCore
import SluicePipeline

/// A ``SearchFilter`` as a PostgreSQL condition over a `jsonb` column, every key and value bound. It follows
/// ``SearchFilter/matches(_:)`` exactly; equality also tests containment (`@>`), which the GIN index over
/// `records.data` answers.
enum PostgresFilter {
    /// The condition over `data` (a column such as `r.data`), its values appended to `binds` and referred to by
    /// their numbers.
    static func condition(_ filter: SearchFilter, data: String, binds: inout PostgresBindings) -> String {
        switch filter {
        case .all(let parts):
            guard !parts.isEmpty else { return "true" }
            return "(" + parts.map { condition($0, data: data, binds: &binds) }.joined(separator: " AND ") + ")"
        case .any(let parts):
            guard !parts.isEmpty else { return "false" }
            return "(" + parts.map { condition($0, data: data, binds: &binds) }.joined(separator: " OR ") + ")"
        case .not(let inner):
            return "NOT \(condition(inner, data: data, binds: &binds))"
        case .field(let path, let test):
            return "coalesce(\(field(path, test, data: data, binds: &binds)), false)"
        }
    }

    private static func bind(_ value: some PostgresDynamicTypeEncodable, _ binds: inout PostgresBindings) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    private static func field(_ path: FieldPath, _ test: FieldTest, data: String, binds: inout PostgresBindings)
        -> String
    {
        // Key by key with `->`, which finds nothing in an array (`#>` would read "0" as an index).
        let value = "(" + ([data] + path.keys.map { bind($0, &binds) + "::text" }).joined(separator: " -> ") + ")"
        let elements =
            "jsonb_array_elements(CASE WHEN jsonb_typeof(\(value)) = 'array' THEN \(value) ELSE jsonb_build_array(\(value)) END) AS e (value)"
        switch test {
        case .exists(let present):
            return present ? "\(value) IS NOT NULL" : "\(value) IS NULL"
        case .oneOf(let scalars):
            let list = bind(scalars.map(\.json.jsonText), &binds)
            var sql =
                "(\(value) IS NOT NULL AND EXISTS (SELECT 1 FROM \(elements) WHERE e.value = ANY (\(list)::jsonb[])))"
            if scalars.count == 1 {
                // Containment of the value, or of an array holding it, is implied by the test: written beside it,
                // the GIN index can narrow the records first.
                var alone = scalars[0].json
                var inArray = JSONValue.array([scalars[0].json])
                for key in path.keys.reversed() {
                    alone = .object([key: alone])
                    inArray = .object([key: inArray])
                }
                let contains =
                    "(\(data) @> \(bind(alone.jsonText, &binds))::jsonb OR \(data) @> \(bind(inArray.jsonText, &binds))::jsonb)"
                sql = "(\(contains) AND \(sql))"
            }
            return sql
        case .compare(let comparison, .number(let bound)):
            let number = bind("\(bound)", &binds)
            return """
                EXISTS (SELECT 1 FROM \(elements) WHERE CASE WHEN jsonb_typeof(e.value) = 'number' \
                THEN e.value::numeric \(comparison.sql) \(number)::numeric ELSE false END)
                """
        case .compare(let comparison, .instant(let bound)):
            let instant = bind(bound, &binds)
            return """
                EXISTS (SELECT 1 FROM \(elements) WHERE CASE WHEN jsonb_typeof(e.value) = 'string' \
                THEN sluice_instant(e.value #>> '{}') \(comparison.sql) \(instant)::float8 ELSE false END)
                """
        }
    }
}
