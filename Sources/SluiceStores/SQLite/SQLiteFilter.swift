import GRDB
import SluiceCore
import SluicePipeline

/// A ``SearchFilter`` as an SQLite condition over a JSON text column, every path and value bound. It follows
/// ``SearchFilter/matches(_:)`` exactly: `json_type` tells the types apart (`1` from `true`, text from numbers),
/// `json_each` walks an array field's elements, and dates go through `sluice_instant`, the ``ISOInstant`` grammar
/// registered on every connection.
enum SQLiteFilter {
    /// The condition over `data` (a column such as `r.data`), its values appended to `arguments` in order.
    static func condition(_ filter: SearchFilter, data: String, arguments: inout StatementArguments) -> String {
        switch filter {
        case .all(let parts):
            guard !parts.isEmpty else { return "1" }
            return "(" + parts.map { condition($0, data: data, arguments: &arguments) }.joined(separator: " AND ") + ")"
        case .any(let parts):
            guard !parts.isEmpty else { return "0" }
            return "(" + parts.map { condition($0, data: data, arguments: &arguments) }.joined(separator: " OR ") + ")"
        case .not(let inner):
            return "NOT \(condition(inner, data: data, arguments: &arguments))"
        case .field(let path, let test):
            return "coalesce(\(field(path, test, data: data, arguments: &arguments)), 0)"
        }
    }

    /// `$."meta"."lang"`: quoted keys, so that dots and spaces inside a key are the key's own.
    static func jsonPath(_ path: FieldPath) -> String {
        "$" + path.keys.map { ".\"\($0)\"" }.joined()
    }

    private static func field(
        _ path: FieldPath,
        _ test: FieldTest,
        data: String,
        arguments: inout StatementArguments
    ) -> String {
        let jsonPath = jsonPath(path)
        if case .exists(let present) = test {
            _ = arguments.append(contentsOf: [jsonPath])
            return "json_type(\(data), ?) IS \(present ? "NOT " : "")NULL"
        }
        // The test on one element, given the SQL of its JSON type and value; its values are appended in order.
        func element(_ type: String, _ value: String) -> String {
            switch test {
            case .exists: return "0"
            case .oneOf(let scalars):
                var cases: [String] = []
                let strings = scalars.compactMap { if case .string(let text) = $0 { text } else { nil } }
                if !strings.isEmpty {
                    cases.append(
                        "(\(type) = 'text' AND \(value) IN (\(Array(repeating: "?", count: strings.count).joined(separator: ", "))))"
                    )
                    _ = arguments.append(contentsOf: StatementArguments(strings))
                }
                let numbers = scalars.compactMap { if case .number(let number) = $0 { number } else { nil } }
                if !numbers.isEmpty {
                    cases.append(
                        "(\(type) IN ('integer', 'real') AND \(value) IN (\(Array(repeating: "?", count: numbers.count).joined(separator: ", "))))"
                    )
                    _ = arguments.append(contentsOf: StatementArguments(numbers))
                }
                if scalars.contains(.bool(true)) { cases.append("\(type) = 'true'") }
                if scalars.contains(.bool(false)) { cases.append("\(type) = 'false'") }
                if scalars.contains(.null) { cases.append("\(type) = 'null'") }
                return cases.isEmpty ? "0" : "(" + cases.joined(separator: " OR ") + ")"
            case .compare(let comparison, .number(let bound)):
                _ = arguments.append(contentsOf: [bound])
                return "(\(type) IN ('integer', 'real') AND \(value) \(comparison.sql) ?)"
            case .compare(let comparison, .instant(let bound)):
                _ = arguments.append(contentsOf: [bound])
                return "(\(type) = 'text' AND sluice_instant(\(value)) \(comparison.sql) ?)"
            }
        }
        // json_each walks an array's elements, and gives a scalar as one row of its own; an object matches
        // nothing (json_each would walk its members).
        _ = arguments.append(contentsOf: [jsonPath, jsonPath])
        return """
            CASE json_type(\(data), ?) WHEN 'object' THEN 0 \
            ELSE EXISTS (SELECT 1 FROM json_each(\(data), ?) AS e WHERE \(element("e.type", "e.value"))) END
            """
    }
}
