import Foundation
import SluiceCore

/// Turns incoming JSON into records: which text to embed, whether the record is acceptable, its content hash.
public struct RecordReader: Sendable {
    /// Fields whose string values, joined by new lines, are the text to embed. Empty: the `text` field when there
    /// is one, else every top-level string value in key order.
    public var textFields: [String]
    /// Longest text accepted, in UTF-8 bytes. Default 32 KiB (`SLUICE_MAX_RECORD_TEXT_BYTES`).
    public var maxTextBytes: Int

    public init(textFields: [String] = [], maxTextBytes: Int = 32 * 1024) {
        self.textFields = textFields
        self.maxTextBytes = maxTextBytes
    }

    /// The record, or why it is skipped.
    public func read(_ value: JSONValue) -> Result<NewRecord, SkipReason> {
        guard case .object(let fields) = value else { return .failure(.notAnObject) }
        let text: String
        if !textFields.isEmpty {
            text = textFields.compactMap { fields[$0]?.stringValue }.joined(separator: "\n")
        } else if let field = fields["text"]?.stringValue {
            text = field
        } else {
            text = fields.keys.sorted().compactMap { fields[$0]?.stringValue }.joined(separator: "\n")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return .failure(.noText) }
        guard text.utf8.count <= maxTextBytes else { return .failure(.textTooLong(text.utf8.count)) }
        // PostgreSQL's text and jsonb cannot hold NUL characters.
        guard !value.containsNUL else { return .failure(.nulCharacter) }
        let externalID = fields["id"].flatMap { $0.stringValue ?? $0.intValue.map(String.init) }
        return .success(NewRecord(externalID: externalID, text: text, data: value))
    }

    /// Why a record was not stored.
    public enum SkipReason: Error, Sendable, Hashable, CustomStringConvertible {
        case notAnObject
        case noText
        case textTooLong(Int)
        case nulCharacter

        public var description: String {
            switch self {
            case .notAnObject: "not a JSON object"
            case .noText: "no text to embed"
            case .textTooLong(let bytes): "text is \(bytes) bytes, more than the limit"
            case .nulCharacter: "contains a NUL character"
            }
        }
    }
}
