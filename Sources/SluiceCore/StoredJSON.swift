import Foundation

/// How the JSON columns (`progress`, `errors`) are written and read, shared by the SQL stores so that a database
/// written by one build reads the same in another.
public enum StoredJSON {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    public static func encode(_ value: some Encodable) -> String {
        // Encoding these plain structs cannot fail.
        String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try decoder.decode(type, from: Data(text.utf8))
    }

    /// A job's attempt errors; most jobs have none, which skips the decoder (it runs on every claim).
    public static func attemptErrors(from text: String) throws -> [AttemptError] {
        text == "[]" ? [] : try decode([AttemptError].self, from: text)
    }

    /// An instant as the `at` field of an attempt error stores it.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
