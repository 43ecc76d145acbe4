import Foundation
import SluiceCore

/// How a search ranks records: by the meaning of the query (`vector`, the default), by its words (`keyword`), or both
/// lists fused by reciprocal rank (`hybrid`), which finds what each alone misses: exact terms such as product codes
/// that an embedding blurs, and paraphrases that share no word with the query.
public enum SearchMode: String, Sendable, Hashable, CaseIterable {
    case vector, keyword, hybrid
}

/// The weights of reciprocal rank fusion: a record's score is the sum over the lists it appears in of
/// `weight / (rankConstant + rank)`, ranks counted from 1.
public struct HybridWeights: Sendable, Hashable {
    /// Weight of the vector list. Default 1.
    public var vector: Double
    /// Weight of the keyword list. Default 1.
    public var keyword: Double
    /// Damps the lead of the first ranks; 60 is the value of the paper that introduced the method (Cormack, Clarke
    /// and Büttcher, 2009) and of most implementations since.
    public var rankConstant: Double

    public init(vector: Double = 1, keyword: Double = 1, rankConstant: Double = 60) {
        self.vector = max(0, vector)
        self.keyword = max(0, keyword)
        self.rankConstant = max(0, rankConstant)
    }
}

/// A record found by its words: its best chunk, and that chunk's relevance to the query (higher is better; each
/// store's own measure: `ts_rank` on PostgreSQL, BM25 on SQLite, matched terms in memory).
public struct KeywordHit: Sendable, Hashable {
    public var id: String
    public var externalID: String?
    public var text: String
    public var chunk: Int
    public var data: JSONValue
    public var score: Double

    public init(id: String, externalID: String?, text: String, chunk: Int, data: JSONValue, score: Double) {
        self.id = id
        self.externalID = externalID
        self.text = text
        self.chunk = chunk
        self.data = data
        self.score = score
    }
}

/// The words of a keyword query: its pieces between spaces, each matched as a phrase of the words the store's
/// tokenizer finds in it (`SKU-4471` as `sku 4471`), any piece enough to match; pieces without a letter or digit are
/// dropped, at most 32 are kept.
public enum KeywordQuery {
    public static let maximumTerms = 32

    public static func terms(_ text: String) -> [String] {
        var seen = Set<String>()
        var terms: [String] = []
        for piece in text.split(whereSeparator: \.isWhitespace) {
            let term = String(piece)
            guard term.unicodeScalars.contains(where: { CharacterSet.alphanumerics.contains($0) }),
                seen.insert(term.lowercased()).inserted
            else { continue }
            terms.append(term)
            if terms.count == maximumTerms { break }
        }
        return terms
    }

    /// Words as the memory store reads them: lower-cased runs of letters and digits.
    public static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { character in
            !character.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) }
        }).map(String.init)
    }
}

/// One record of a search's answer, with what each list said of it.
public struct RankedRecord: Sendable, Hashable {
    public var id: String
    public var externalID: String?
    /// The chunk shown: the one of the list in which the record ranks higher.
    public var text: String
    public var chunk: Int
    public var data: JSONValue
    /// Cosine distance of the record's nearest chunk; nil when the vector list does not hold it.
    public var distance: Double?
    /// The keyword list's relevance; nil when it does not hold the record.
    public var keywordScore: Double?
    /// Positions in each list, from 1; nil where the record is not in that list.
    public var vectorRank: Int?
    public var keywordRank: Int?
    /// The fused score (hybrid); nil in the single modes.
    public var score: Double?
}

/// A search's answer: the records, best first, and how the vector list was found (nil for keyword search).
public struct SearchResults: Sendable, Hashable {
    public var records: [RankedRecord]
    public var search: VectorSearch?
}

extension PipelineStore {
    /// Searches a project in `mode`: `vector` needs the query's embedding in `vector` (from `model`), `keyword` its
    /// `text`, `hybrid` both, each list taking `max(2k, 40)` candidates before they are fused. `filter` applies
    /// to every list.
    public func search(
        projectID: String,
        text: String,
        vector: [Float]?,
        model: String?,
        limit: Int,
        filter: SearchFilter?,
        mode: SearchMode,
        weights: HybridWeights = HybridWeights()
    ) async throws -> SearchResults {
        let depth = mode == .hybrid ? min(200, max(2 * limit, 40)) : limit
        var nearest: NearestRecords?
        if mode != .keyword {
            guard let vector, let model else {
                throw PipelineError(code: .invalidInput, message: "a \(mode.rawValue) search needs the query's vector")
            }
            nearest = try await nearestRecords(
                projectID: projectID,
                to: vector,
                model: model,
                limit: depth,
                filter: filter
            )
        }
        var keyword: [KeywordHit] = []
        if mode != .vector {
            let terms = KeywordQuery.terms(text)
            if !terms.isEmpty {
                keyword = try await keywordRecords(projectID: projectID, terms: terms, limit: depth, filter: filter)
            }
        }
        var records: [String: RankedRecord] = [:]
        for (index, hit) in (nearest?.hits ?? []).enumerated() {
            records[hit.id] = RankedRecord(
                id: hit.id,
                externalID: hit.externalID,
                text: hit.text,
                chunk: hit.chunk,
                data: hit.data,
                distance: hit.distance,
                vectorRank: index + 1
            )
        }
        for (index, hit) in keyword.enumerated() {
            var record =
                records[hit.id]
                ?? RankedRecord(
                    id: hit.id,
                    externalID: hit.externalID,
                    text: hit.text,
                    chunk: hit.chunk,
                    data: hit.data
                )
            record.keywordScore = hit.score
            record.keywordRank = index + 1
            if let vectorRank = record.vectorRank, vectorRank > index + 1 {
                // Shown by the chunk of the list that ranks it higher.
                record.text = hit.text
                record.chunk = hit.chunk
            }
            records[hit.id] = record
        }
        var ranked = Array(records.values)
        switch mode {
        case .vector:
            ranked.sort { ($0.vectorRank ?? .max) < ($1.vectorRank ?? .max) }
        case .keyword:
            ranked.sort { ($0.keywordRank ?? .max) < ($1.keywordRank ?? .max) }
        case .hybrid:
            for index in ranked.indices {
                var score = 0.0
                if let rank = ranked[index].vectorRank {
                    score += weights.vector / (weights.rankConstant + Double(rank))
                }
                if let rank = ranked[index].keywordRank {
                    score += weights.keyword / (weights.rankConstant + Double(rank))
                }
                ranked[index].score = score
            }
            ranked.sort { ($0.score ?? 0, $1.id) > ($1.score ?? 0, $0.id) }
        }
        return SearchResults(records: Array(ranked.prefix(limit)), search: nearest?.search)
    }
}
