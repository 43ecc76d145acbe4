import Foundation
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceStores
import Testing

/// An embedder that knows synonyms and, like a sentence model, blurs codes: each word is mapped to a concept
/// (`screwdriver` and `drill` are one), words with digits are dropped, and a text's vector is its concepts plus a
/// constant, normalised. Paraphrases meet; `XR-4471` and `XR-4417` are the same nothing.
struct ConceptEmbedder: EmbeddingProvider {
    static let concepts: [String: [String]] = [
        "drill": ["drill", "screwdriver", "holes", "boring", "bore"],
        "cordless": ["cordless", "wireless", "battery", "batteries"],
        "masonry": ["masonry", "brick", "concrete", "wall"],
        "kettle": ["kettle", "boil", "tea", "water"],
        "lamp": ["lamp", "reading", "illumination", "dimmer"],
        "vacuum": ["vacuum", "cleaner", "hoover", "carpet", "dust"],
        "robot": ["robot", "autonomous", "mapping"],
        "dryer": ["dryer", "blow", "dry", "hair"],
        "toaster": ["toaster", "toast", "bread", "crispy", "slices"],
    ]
    static let axis: [String: Int] = {
        var axis: [String: Int] = [:]
        for (index, concept) in concepts.keys.sorted().enumerated() {
            for word in concepts[concept]! { axis[word] = index + 1 }
        }
        return axis
    }()

    let model = "concepts"
    let dimensions = 16

    func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { text in
            var vector = [Float](repeating: 0, count: dimensions)
            vector[0] = 0.3
            for word in KeywordQuery.words(text) where !word.contains(where: \.isNumber) {
                if let axis = Self.axis[word] { vector[axis] += 1 }
            }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return vector.map { $0 / norm }
        }
    }
}

/// A small labelled retrieval set: queries that need an exact term (a product code) and queries that need meaning
/// (no word in common with their answer), over ten products and 150 spare parts.
enum RetrievalSet {
    static let products: [(id: String, text: String)] = [
        ("p1", "XR-4471 cordless drill with two batteries"),
        ("p2", "XR-4417 corded drill for masonry"),
        ("p3", "KT-2210 stainless kettle, 1.7 litres"),
        ("p4", "KT-2201 glass kettle with temperature control"),
        ("p5", "LM-0932 desk lamp with dimmer"),
        ("p6", "LM-0923 floor lamp, warm light"),
        ("p7", "VC-7780 bagless vacuum cleaner"),
        ("p8", "VC-7708 robot vacuum with mapping"),
        ("p9", "HD-3301 hair dryer, ionic"),
        ("p10", "TS-5512 two-slice toaster"),
    ]
    static var records: [JSONValue] {
        products.map { ["id": .string($0.id), "text": .string($0.text), "kind": "product"] }
            + (0..<150).map { n in
                [
                    "id": .string("s\(n)"), "text": .string("ZQ-\(1_000 + n) assorted spare part number \(n)"),
                    "kind": "part",
                ]
            }
    }
    static let codeQueries: [(query: String, relevant: Set<String>)] = [
        ("XR-4471", ["p1"]), ("KT-2201", ["p4"]), ("LM-0923", ["p6"]), ("VC-7708", ["p8"]), ("TS-5512", ["p10"]),
        ("HD-3301", ["p9"]),
    ]
    static let meaningQueries: [(query: String, relevant: Set<String>)] = [
        ("wireless screwdriver", ["p1"]), ("boring holes in brick", ["p2"]), ("boil water for tea", ["p3", "p4"]),
        ("reading illumination", ["p5", "p6"]), ("hoover the carpet", ["p7", "p8"]), ("autonomous hoover", ["p8"]),
        ("blow dry", ["p9"]), ("crispy bread slices", ["p10"]),
    ]
}

@Suite("Keyword and hybrid search", .timeLimit(.minutes(5)))
struct HybridSearchTests {
    /// For each mode: how many queries of each kind have a relevant record in the top 3, and recall@10.
    struct Scores: CustomStringConvertible {
        var codes = 0
        var meanings = 0
        var recall = 0.0
        var description: String { "codes \(codes)/6, meanings \(meanings)/8, recall@10 \(recall)" }
    }

    @Test(
        "hybrid finds records by code and by meaning, where keyword misses meaning and vector misses codes",
        arguments: StoreKind.allCases
    )
    func retrieval(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let embedder = ConceptEmbedder()
            let project = try await TestProjects.embedded(
                stores.pipeline,
                objects: RetrievalSet.records,
                embedder: embedder
            )
            var scores: [SearchMode: Scores] = [:]
            for mode in SearchMode.allCases {
                var score = Scores()
                var recalls: [Double] = []
                for (isCode, queries) in [(true, RetrievalSet.codeQueries), (false, RetrievalSet.meaningQueries)] {
                    for (query, relevant) in queries {
                        let found = try await stores.pipeline.search(
                            projectID: project,
                            text: query,
                            vector: try await embedder.embed([query])[0],
                            model: embedder.model,
                            limit: 10,
                            filter: nil,
                            mode: mode
                        )
                        let ids = found.records.compactMap(\.externalID)
                        #expect(Set(ids).count == ids.count, "each record once")
                        if !relevant.isDisjoint(with: ids.prefix(3)) {
                            if isCode { score.codes += 1 } else { score.meanings += 1 }
                        }
                        recalls.append(Double(relevant.intersection(ids).count) / Double(relevant.count))
                        if mode == .hybrid {
                            for record in found.records {
                                let expected =
                                    (record.vectorRank.map { 1 / (60 + Double($0)) } ?? 0)
                                    + (record.keywordRank.map { 1 / (60 + Double($0)) } ?? 0)
                                #expect(abs((record.score ?? -1) - expected) < 1e-12, "the fused score of \(record.id)")
                            }
                        }
                    }
                }
                score.recall = (recalls.reduce(0, +) / Double(recalls.count) * 1_000).rounded() / 1_000
                scores[mode] = score
            }
            print("retrieval set on \(kind): \(scores.sorted { $0.key.rawValue < $1.key.rawValue })")
            let keyword = try #require(scores[.keyword])
            let vector = try #require(scores[.vector])
            let hybrid = try #require(scores[.hybrid])
            #expect(keyword.codes == 6 && keyword.meanings <= 1, "keyword: \(keyword)")
            #expect(vector.meanings == 8 && vector.codes <= 1, "vector: \(vector)")
            #expect(hybrid.codes == 6 && hybrid.meanings == 8, "hybrid: \(hybrid)")
            #expect(hybrid.recall > max(keyword.recall, vector.recall))
        }
    }

    @Test(
        "keyword search: phrases of words, any enough, filters apply, deleted records gone",
        arguments: StoreKind.allCases
    )
    func keyword(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await TestProjects.embedded(
                stores.pipeline,
                objects: RetrievalSet.records,
                embedder: LocalEmbedder(dimensions: 16)
            )
            func ids(_ terms: [String], filter: JSONValue? = nil, limit: Int = 10) async throws -> [String] {
                try await stores.pipeline.keywordRecords(
                    projectID: project,
                    terms: terms,
                    limit: limit,
                    filter: try filter.map { try SearchFilter(parsing: $0) }
                ).compactMap(\.externalID)
            }
            #expect(try await ids(["XR-4471"]) == ["p1"], "a code is a phrase: XR-4417 does not match")
            #expect(try await ids(["xr-4471"]) == ["p1"], "case does not matter")
            #expect(Set(try await ids(["kettle", "toaster"])) == ["p3", "p4", "p10"], "any term")
            #expect(try await ids(["lamp"], filter: ["text": ["$ne": "LM-0932 desk lamp with dimmer"]]) == ["p6"])
            #expect(try await ids(["assorted"], limit: 5).count == 5)
            #expect(try await ids(["nothing-here"]).isEmpty)
            #expect(
                try await stores.pipeline.keywordRecords(projectID: "elsewhere", terms: ["lamp"], limit: 5, filter: nil)
                    .isEmpty
            )
            _ = try await stores.pipeline.deleteRecords(projectID: project, externalIDs: ["p6"])
            #expect(try await ids(["lamp"]) == ["p5"], "a deleted record is gone from keyword search at once")
        }
    }

    @Test("the query's pieces: split on spaces, each kept once, none without a letter or digit")
    func terms() {
        #expect(KeywordQuery.terms("  XR-4471  drill —  Drill ") == ["XR-4471", "drill"])
        #expect(KeywordQuery.terms("— ... !!") == [])
        #expect(
            KeywordQuery.terms(String(repeating: "w ", count: 5) + (0..<40).map { "t\($0)" }.joined(separator: " "))
                .count == 32
        )
        #expect(KeywordQuery.words("Café-au-lait, 2x") == ["café", "au", "lait", "2x"])
    }
}
