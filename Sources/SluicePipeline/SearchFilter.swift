import SluiceCore

/// A condition on a record's fields that a search keeps to, written as MongoDB, Chroma and Pinecone users write
/// theirs: `{"category": "news"}`, `{"year": {"$gte": 2020, "$lt": 2024}}`, `{"tag": {"$in": ["a", "b"]}}`, `$ne`,
/// `$nin`, `{"field": {"$exists": true}}`, dotted paths into nested objects (`meta.lang`), combined with
/// `$and`, `$or` and `$not`.
///
/// Every store gives the same answers (``matches(_:)`` is the definition; the SQL of each store follows it):
/// - A field's value is found through nested objects; a path that meets anything else finds nothing.
/// - Equality (`$eq`, `$in`) compares a scalar (string, number, `true`/`false`, `null`): strings exactly (no case
///   folding or Unicode normalisation), numbers by value (`1` equals `1.0`). A field that holds an array matches
///   when one of its elements does.
/// - `$ne` and `$nin` are the negations, so they also match records without the field.
/// - `$gt`, `$gte`, `$lt`, `$lte` take a number, or an ISO-8601 date (``ISOInstant``) which compares instants with
///   fields that hold such dates; a field of another type never matches a range.
/// - `$exists: true` matches a field that is present, even as `null`.
public indirect enum SearchFilter: Sendable, Hashable {
    /// Every condition holds (`$and`, or several keys in one object); true when empty.
    case all([SearchFilter])
    /// At least one holds (`$or`); false when empty.
    case any([SearchFilter])
    case not(SearchFilter)
    case field(FieldPath, FieldTest)

    /// Deepest nesting of `$and`, `$or` and `$not`.
    public static let maximumDepth = 16
    /// Most conditions in one filter.
    public static let maximumConditions = 256
    /// Most values in one `$in` or `$nin`.
    public static let maximumListCount = 1_000
}

/// The keys from the record's top level to a field (`meta.lang` is `["meta", "lang"]`).
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public let keys: [String]

    public init(_ keys: [String]) { self.keys = keys }

    public var description: String { keys.joined(separator: ".") }
}

/// A value a field is compared with for equality.
public enum FilterScalar: Sendable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The value as JSON text.
    public var json: JSONValue {
        switch self {
        case .string(let text): .string(text)
        case .number(let number): .double(number)
        case .bool(let flag): .bool(flag)
        case .null: .null
        }
    }
}

/// What a range compares: a number, or an instant given as an ISO-8601 date (seconds since 1970).
public enum FilterBound: Sendable, Hashable {
    case number(Double)
    case instant(Double)
}

public enum FilterComparison: String, Sendable, Hashable, CaseIterable {
    case greater = "$gt"
    case greaterOrEqual = "$gte"
    case less = "$lt"
    case lessOrEqual = "$lte"

    /// The SQL operator.
    public var sql: String {
        switch self {
        case .greater: ">"
        case .greaterOrEqual: ">="
        case .less: "<"
        case .lessOrEqual: "<="
        }
    }

    func holds(_ value: Double, _ bound: Double) -> Bool {
        switch self {
        case .greater: value > bound
        case .greaterOrEqual: value >= bound
        case .less: value < bound
        case .lessOrEqual: value <= bound
        }
    }
}

/// The test on one field. `$ne` and `$nin` are ``SearchFilter/not(_:)`` of ``oneOf(_:)``.
public enum FieldTest: Sendable, Hashable {
    /// Equal to one of the values (`$eq` is a list of one).
    case oneOf([FilterScalar])
    case compare(FilterComparison, FilterBound)
    /// Present (true) or absent (false).
    case exists(Bool)
}

/// Why a filter cannot be read: where (`year`, `$or[1].tag`) and what is wrong.
public struct FilterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where in the filter; empty for the filter as a whole.
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? "filter: \(message)" : "filter at \(path): \(message)" }
}

// MARK: Reading

extension SearchFilter {
    /// Reads a filter from its JSON form; throws ``FilterError`` naming the path of the first problem: unknown
    /// operators, values of the wrong type, too deep or too large.
    public init(parsing value: JSONValue) throws(FilterError) {
        var reader = FilterReader()
        self = try reader.filter(value, at: "", depth: 0)
    }

    /// Whether a record with these fields matches: the definition every store's SQL follows.
    public func matches(_ data: JSONValue) -> Bool {
        switch self {
        case .all(let filters): filters.allSatisfy { $0.matches(data) }
        case .any(let filters): filters.contains { $0.matches(data) }
        case .not(let filter): !filter.matches(data)
        case .field(let path, let test): test.matches(path.value(in: data))
        }
    }
}

extension FieldPath {
    /// The value at this path, through nested objects; nil when absent.
    func value(in data: JSONValue) -> JSONValue? {
        var current = data
        for key in keys {
            guard case .object(let members) = current, let next = members[key] else { return nil }
            current = next
        }
        return current
    }
}

extension FieldTest {
    func matches(_ value: JSONValue?) -> Bool {
        guard let value else {
            if case .exists(let present) = self { return !present }
            return false
        }
        let elements: [JSONValue] = if case .array(let items) = value { items } else { [value] }
        switch self {
        case .exists(let present): return present
        case .oneOf(let scalars):
            return elements.contains { element in scalars.contains { $0.equals(element) } }
        case .compare(let comparison, .number(let bound)):
            return elements.contains { element in
                switch element {
                case .int(let number): comparison.holds(Double(number), bound)
                case .double(let number): comparison.holds(number, bound)
                default: false
                }
            }
        case .compare(let comparison, .instant(let bound)):
            return elements.contains { element in
                guard case .string(let text) = element, let instant = ISOInstant.seconds(text) else { return false }
                return comparison.holds(instant, bound)
            }
        }
    }
}

extension FilterScalar {
    func equals(_ value: JSONValue) -> Bool {
        switch (self, value) {
        case (.string(let wanted), .string(let found)): wanted.utf8.elementsEqual(found.utf8)
        case (.number(let wanted), .int(let found)): Double(found) == wanted
        case (.number(let wanted), .double(let found)): found == wanted
        case (.bool(let wanted), .bool(let found)): found == wanted
        case (.null, .null): true
        default: false
        }
    }
}

/// Reads the JSON form, counting conditions as it goes.
private struct FilterReader {
    var conditions = 0

    mutating func filter(_ value: JSONValue, at location: String, depth: Int) throws(FilterError) -> SearchFilter {
        guard depth <= SearchFilter.maximumDepth else {
            throw FilterError(path: location, message: "nested deeper than \(SearchFilter.maximumDepth) levels")
        }
        guard case .object(let members) = value else {
            throw FilterError(path: location, message: "a filter is a JSON object, such as {\"category\": \"news\"}")
        }
        var parts: [SearchFilter] = []
        for key in members.keys.sorted() {
            let member = members[key]!
            let here = location.isEmpty ? key : "\(location).\(key)"
            switch key {
            case "$and", "$or":
                guard case .array(let items) = member, !items.isEmpty else {
                    throw FilterError(path: here, message: "\(key) takes a non-empty list of filters")
                }
                var list: [SearchFilter] = []
                for (index, item) in items.enumerated() {
                    list.append(try filter(item, at: "\(here)[\(index)]", depth: depth + 1))
                }
                parts.append(key == "$and" ? .all(list) : .any(list))
            case "$not":
                parts.append(.not(try filter(member, at: here, depth: depth + 1)))
            case let operatorName where operatorName.hasPrefix("$"):
                throw FilterError(
                    path: here,
                    message: "unknown operator \(operatorName); a filter combines fields with $and, $or and $not"
                )
            default:
                parts.append(try field(key, member, at: here))
            }
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    mutating func field(_ key: String, _ value: JSONValue, at location: String) throws(FilterError) -> SearchFilter {
        let keys = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keys.contains(where: \.isEmpty) else {
            throw FilterError(path: location, message: "a field path is keys joined by dots, none of them empty")
        }
        if let bad = keys.first(where: { $0.contains("\"") || $0.unicodeScalars.contains("\u{0}") }) {
            throw FilterError(path: location, message: "field name \(bad.debugDescription) holds a quote or a NUL")
        }
        let path = FieldPath(keys)
        guard case .object(let operators) = value else {
            if case .array = value {
                throw FilterError(path: location, message: "to match one of several values, use {\"$in\": [...]}")
            }
            return try count(.field(path, .oneOf([scalar(value, at: location)])), at: location)
        }
        guard !operators.isEmpty else {
            throw FilterError(path: location, message: "an empty object; give an operator such as {\"$gte\": 1}")
        }
        var tests: [SearchFilter] = []
        for name in operators.keys.sorted() {
            let operand = operators[name]!
            let here = "\(location).\(name)"
            let test: SearchFilter
            switch name {
            case "$eq": test = .field(path, .oneOf([try scalar(operand, at: here)]))
            case "$ne": test = .not(.field(path, .oneOf([try scalar(operand, at: here)])))
            case "$in": test = .field(path, .oneOf(try list(operand, at: here)))
            case "$nin": test = .not(.field(path, .oneOf(try list(operand, at: here))))
            case "$exists":
                guard case .bool(let present) = operand else {
                    throw FilterError(path: here, message: "$exists takes true or false")
                }
                test = .field(path, .exists(present))
            default:
                guard let comparison = FilterComparison(rawValue: name) else {
                    if !name.hasPrefix("$") {
                        throw FilterError(
                            path: location,
                            message:
                                "an object value needs operators ($eq, $gt, $in, …); to reach into a nested object, write the path with dots, such as \"\(key).\(name)\""
                        )
                    }
                    throw FilterError(
                        path: here,
                        message:
                            "unknown operator \(name); fields take $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists"
                    )
                }
                test = .field(path, .compare(comparison, try bound(operand, comparison, at: here)))
            }
            tests.append(try count(test, at: here))
        }
        return tests.count == 1 ? tests[0] : .all(tests)
    }

    mutating func count(_ filter: SearchFilter, at location: String) throws(FilterError) -> SearchFilter {
        conditions += 1
        guard conditions <= SearchFilter.maximumConditions else {
            throw FilterError(path: location, message: "more than \(SearchFilter.maximumConditions) conditions")
        }
        return filter
    }

    func scalar(_ value: JSONValue, at location: String) throws(FilterError) -> FilterScalar {
        switch value {
        case .string(let text):
            guard !text.unicodeScalars.contains("\u{0}") else {
                throw FilterError(path: location, message: "a string with a NUL character cannot match a record")
            }
            return .string(text)
        case .int(let number): return .number(Double(number))
        case .double(let number): return .number(number)
        case .bool(let flag): return .bool(flag)
        case .null: return .null
        case .array, .object:
            throw FilterError(path: location, message: "equality compares a string, number, true, false or null")
        }
    }

    func list(_ value: JSONValue, at location: String) throws(FilterError) -> [FilterScalar] {
        guard case .array(let items) = value else {
            throw FilterError(path: location, message: "takes a list of values, such as [\"a\", \"b\"]")
        }
        guard items.count <= SearchFilter.maximumListCount else {
            throw FilterError(path: location, message: "more than \(SearchFilter.maximumListCount) values")
        }
        var scalars: [FilterScalar] = []
        for (index, item) in items.enumerated() { scalars.append(try scalar(item, at: "\(location)[\(index)]")) }
        return scalars
    }

    func bound(_ value: JSONValue, _ comparison: FilterComparison, at location: String) throws(FilterError)
        -> FilterBound
    {
        switch value {
        case .int(let number): return .number(Double(number))
        case .double(let number): return .number(number)
        case .string(let text):
            guard let instant = ISOInstant.seconds(text) else {
                throw FilterError(
                    path: location,
                    message:
                        "\(comparison.rawValue) takes a number or an ISO-8601 date such as 2024-01-31 or 2024-01-31T12:00:00Z, not \(text.prefix(40).debugDescription)"
                )
            }
            return .instant(instant)
        default:
            throw FilterError(
                path: location,
                message: "\(comparison.rawValue) takes a number or an ISO-8601 date, not \(value.jsonText.prefix(40))"
            )
        }
    }
}
