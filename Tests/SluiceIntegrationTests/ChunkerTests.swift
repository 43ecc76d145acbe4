import SluiceCore
import SluicePipeline
import Testing

/// Chunk boundaries: what fits stays whole, splits prefer paragraphs to lines to sentences to words, neighbours
/// overlap by whole pieces, and nothing is lost or cut inside a character.
@Suite("Chunker", .timeLimit(.minutes(1)))
struct ChunkerTests {
    /// Every chunk's text, with the overlap removed, is the original text in order.
    private func covers(_ chunks: [String], _ text: String) -> Bool {
        var rest = Substring(text)
        for chunk in chunks {
            // The chunk starts inside what is left (its overlap repeats the end of the previous chunk).
            guard let start = chunk.indices.first(where: { rest.hasPrefix(chunk[$0...]) }) else { return false }
            rest = rest.dropFirst(chunk[start...].count)
        }
        return rest.allSatisfy(\.isWhitespace)
    }

    @Test("a text of exactly the size is one chunk; one character more is two")
    func exactSize() {
        let chunker = Chunker(size: 20, overlap: 0)
        let fits = String(repeating: "ab ", count: 6) + "ab"  // 20 characters
        #expect(fits.count == 20)
        #expect(chunker.chunks(fits) == [fits])
        let over = fits + "c"
        let chunks = chunker.chunks(over)
        #expect(chunks.count == 2)
        #expect(chunks.allSatisfy { $0.count <= 20 })
        #expect(chunks.joined() == over)
    }

    @Test("paragraphs before lines before sentences before words")
    func separators() {
        let chunker = Chunker(size: 30, overlap: 0)
        let text = "First paragraph, short.\n\nSecond paragraph. It has two sentences here."
        let chunks = chunker.chunks(text)
        #expect(chunks.first == "First paragraph, short.\n\n")
        #expect(chunks.contains("Second paragraph. "))
        #expect(chunks.allSatisfy { $0.count <= 30 })
        #expect(chunks.joined() == text)
    }

    @Test("neighbours share whole sentences up to the overlap, and nothing is lost")
    func overlap() {
        let sentences = (1...12).map { "Sentence number \($0) is here. " }
        let text = sentences.joined()
        let chunker = Chunker(size: 100, overlap: 40)
        let chunks = chunker.chunks(text)
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.count <= 100 })
        for (previous, next) in zip(chunks, chunks.dropFirst()) {
            let shared = sentences.filter { previous.contains($0) && next.contains($0) }
            #expect(!shared.isEmpty, "consecutive chunks share a sentence")
            #expect(shared.joined().count <= 40)
        }
        #expect(covers(chunks, text))
    }

    @Test("a text with no spaces is cut between characters; multi-byte characters and combining marks stay whole")
    func noSpaces() {
        let chunker = Chunker(size: 10, overlap: 2)
        let text = String(repeating: "é", count: 7) + String(repeating: "👍🏽", count: 9) + "e\u{301}e\u{301}e\u{301}"
        let chunks = chunker.chunks(text)
        #expect(chunks.allSatisfy { $0.count <= 10 })
        #expect(chunks.count >= 2)
        // Every chunk is made of whole characters of the text.
        #expect(chunks.allSatisfy { chunk in chunk.allSatisfy { text.contains($0) } })
        #expect(chunks.allSatisfy { !$0.unicodeScalars.first!.properties.isGraphemeExtend })
        #expect(covers(chunks, text))
        let sizes = chunks.dropLast().map(\.count)
        #expect(sizes.allSatisfy { $0 == 10 }, "full chunks of whole runs: \(sizes)")
    }

    @Test("defaults: about 512 tokens of 4 characters with a tenth of overlap; white space alone is no chunk")
    func defaults() {
        let chunker = Chunker()
        #expect(chunker.size == 2_048)
        #expect(chunker.overlap == 204)
        #expect(Chunker(size: 100, overlap: 90).overlap == 50, "at most half a chunk")
        let text = String(repeating: "word ", count: 1_000) + "\n\n   \n\n"
        #expect(chunker.chunks(text).allSatisfy { !$0.allSatisfy(\.isWhitespace) })
        #expect(chunker.chunks("short") == ["short"])
    }

    @Test("templates: fields from the record, the chunk where {{chunk}} is; refusals")
    func templates() throws {
        let template = try RecordTemplate("{{ title }} ({{year}}, {{draft}}){{missing}}\n\n{{chunk}}")
        let fields: [String: JSONValue] = ["title": "Cats", "year": 2026, "draft": false, "tags": ["a"]]
        #expect(template.render(fields, chunk: "sat on mats") == "Cats (2026, false)\n\nsat on mats")
        for bad in ["no chunk here {{title}}", "{{chunk", "{{}} {{chunk}}"] {
            #expect(throws: PipelineError.self, "\(bad)") { try RecordTemplate(bad) }
        }
        let reader = RecordReader(
            chunker: Chunker(size: 64, overlap: 0),
            template: try RecordTemplate("{{title}}: {{chunk}}")
        )
        let record = try reader.read(["title": "Guide", "text": .string(String(repeating: "word ", count: 40))]).get()
        #expect(record.chunks.count > 1)
        #expect(record.chunks.allSatisfy { $0.hasPrefix("Guide: ") }, "every chunk carries its record's title")
    }
}
