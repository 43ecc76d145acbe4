import Foundation
import SluiceCore

/// Turns incoming JSON into records: which text to embed and in which chunks, the record's id, whether it is
/// acceptable, its content hash.
public struct RecordReader: Sendable {
    /// Fields whose string values, joined by new lines, are the text to embed. Empty: the `text` field when there
    /// is one, else every top-level string value in key order.
    public var textFields: [String]
    /// Longest text accepted, in UTF-8 bytes. Default 1 MiB (`SLUICE_MAX_RECORD_TEXT_BYTES`).
    public var maxTextBytes: Int
    /// The field holding the record's own id (a string or a whole number). Default `id`; a record without it is
    /// identified by its content.
    public var idField: String
    /// How the text is split into the chunks that are embedded.
    public var chunker: Chunker
    /// What is embedded for each chunk; nil: the chunk alone.
    public var template: RecordTemplate?

    public static let defaultMaxTextBytes = 1 << 20

    public init(
        textFields: [String] = [],
        maxTextBytes: Int = defaultMaxTextBytes,
        idField: String? = nil,
        chunker: Chunker = Chunker(),
        template: RecordTemplate? = nil
    ) {
        self.textFields = textFields
        self.maxTextBytes = maxTextBytes
        self.idField = idField ?? "id"
        self.chunker = chunker
        self.template = template
    }

    /// The reader for `project`'s uploads: its chunking and template over `options`' defaults.
    public init(
        for project: Project?,
        textFields: [String],
        idField: String?,
        options: IngestionOptions
    ) throws {
        self.init(
            textFields: textFields,
            maxTextBytes: options.maxTextBytes,
            idField: idField,
            chunker: project?.chunker(defaults: options.chunker) ?? options.chunker,
            template: try project?.template.map(RecordTemplate.init)
        )
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
        let externalID = fields[idField].flatMap { $0.stringValue ?? $0.intValue.map(String.init) }
            .flatMap { $0.isEmpty ? nil : $0 }
        let chunks = chunker.chunks(text).map { template?.render(fields, chunk: $0) ?? $0 }
        return .success(NewRecord(externalID: externalID, text: text, data: value, chunks: chunks))
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
