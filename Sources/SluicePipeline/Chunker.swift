import Foundation

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
