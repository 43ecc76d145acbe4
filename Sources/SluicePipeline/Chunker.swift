import Foundation
import SluiceCore

/// Splits a record's text into the pieces that are embedded, each at most `size` characters, recursively: on
/// paragraphs first, then lines, sentences and words, and only a text with none of them is cut between characters.
/// Consecutive chunks share up to `overlap` characters of whole pieces, so that a sentence cut at a boundary is still
/// seen whole by one of them. Characters are Swift `Character`s (grapheme clusters): no chunk ends inside a
/// multi-byte character or a combining sequence.
public struct Chunker: Sendable, Hashable {
    /// Longest chunk, in characters. Default 2,048: about 512 tokens at the usual ~4 characters per token.
    public var size: Int
    /// Characters two consecutive chunks may share. Default 204, a tenth of `size`.
    public var overlap: Int

    public init(size: Int = 2_048, overlap: Int? = nil) {
        precondition(size > 0, "Chunker: size must be positive")
        self.size = size
        self.overlap = min(max(0, overlap ?? size / 10), size / 2)
    }

    /// Where a text is split, coarsest first.
    static let separators = ["\n\n", "\n", ". ", " "]

    /// The chunks of `text`, in order; one chunk when it fits. Chunks of only white space are dropped.
    public func chunks(_ text: String) -> [String] {
        guard text.count > size else { return [text] }
        var chunks: [String] = []
        var current: [Substring] = []
        var length = 0
        for piece in pieces(Substring(text), Self.separators[...]) {
            if length + piece.count > size, !current.isEmpty {
                chunks.append(current.joined())
                // Carry whole trailing pieces of up to `overlap` characters into the next chunk.
                var tail: [Substring] = []
                var tailLength = 0
                for previous in current.reversed() {
                    guard tailLength + previous.count <= overlap else { break }
                    tail.insert(previous, at: 0)
                    tailLength += previous.count
                }
                (current, length) = tailLength + piece.count <= size ? (tail, tailLength) : ([], 0)
            }
            current.append(piece)
            length += piece.count
        }
        if !current.isEmpty { chunks.append(current.joined()) }
        return chunks.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// `text` cut into pieces of at most `size` characters (each separator stays at the end of its piece).
    private func pieces(_ text: Substring, _ separators: ArraySlice<String>) -> [Substring] {
        guard text.count > size else { return [text] }
        guard let separator = separators.first else {
            // No separator left: runs of characters small enough that the overlap can be made of whole ones.
            let run = max(1, overlap > 0 ? overlap : size)
            var runs: [Substring] = []
            var start = text.startIndex
            while start < text.endIndex {
                let end = text.index(start, offsetBy: run, limitedBy: text.endIndex) ?? text.endIndex
                runs.append(text[start..<end])
                start = end
            }
            return runs
        }
        var parts: [Substring] = []
        var start = text.startIndex
        while let found = text[start...].range(of: separator) {
            parts.append(text[start..<found.upperBound])
            start = found.upperBound
        }
        if start < text.endIndex { parts.append(text[start...]) }
        return parts.flatMap { $0.count > size ? pieces($0, separators.dropFirst()) : [$0] }
    }
}

/// What is embedded for each chunk of a record: a text with `{{field}}` placeholders filled from the record's
/// top-level fields (strings as they are, numbers and booleans as JSON, anything else or a missing field as
/// nothing) and `{{chunk}}` from the chunk, so that a chunk carries its record's context (`{{title}}\n\n{{chunk}}`).
public struct RecordTemplate: Sendable, Hashable {
    public let text: String
    /// The pieces in order: literal text, or a placeholder's name.
    private let parts: [Part]

    private enum Part: Sendable, Hashable {
        case literal(String)
        case field(String)
    }

    /// Refuses a template without `{{chunk}}` (every chunk would embed the same text) or with an unclosed `{{`.
    public init(_ text: String) throws {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw PipelineError(code: .invalidInput, message: "template has a {{ without its }}")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw PipelineError(code: .invalidInput, message: "template has an empty {{}}") }
            parts.append(.field(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        guard parts.contains(.field("chunk")) else {
            throw PipelineError(code: .invalidInput, message: "template must contain {{chunk}}")
        }
        self.text = text
        self.parts = parts
    }

    public func render(_ fields: [String: JSONValue], chunk: String) -> String {
        parts.map { part in
            switch part {
            case .literal(let text): return text
            case .field("chunk"): return chunk
            case .field(let name):
                switch fields[name] {
                case .string(let value)?: return value
                case .int, .double, .bool: return fields[name]!.jsonText
                default: return ""
                }
            }
        }.joined()
    }
}
