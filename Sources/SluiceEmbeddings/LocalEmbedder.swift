import Foundation

/// The offline default: a deterministic embedding from hashed word and word-pair features, L2-normalised.
///
/// It needs no network and no model files, and the same text always gives the same vector, so the embedded
/// default works anywhere and tests are repeatable. Texts that share words come out close; it knows nothing of
/// meaning (synonyms, other languages, paraphrase), so use a real model for real search.
public struct LocalEmbedder: EmbeddingProvider {
    public static let modelName = "sluice-local-hash-v1"

    public let dimensions: Int
    public var model: String { Self.modelName }

    public init(dimensions: Int = 1536) {
        precondition(dimensions > 0, "dimensions must be positive")
        self.dimensions = dimensions
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map(vector)
    }

    /// Words (lower-cased letters and digits) and adjacent word pairs, each hashed to a coordinate and a sign,
    /// weighted by 1 + log(count).
    public func vector(_ text: String) -> [Float] {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
        var counts: [String: Int] = [:]
        for word in words { counts[word, default: 0] += 1 }
        for (a, b) in zip(words, words.dropFirst()) { counts["\(a) \(b)", default: 0] += 1 }
        var vector = [Float](repeating: 0, count: dimensions)
        for (feature, count) in counts {
            let hash = Self.fnv1a(feature)
            let index = Int(hash % UInt64(dimensions))
            let sign: Float = (hash >> 63) == 0 ? 1 : -1
            vector[index] += sign * (1 + log(Float(count)))
        }
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }

    /// 64-bit FNV-1a: stable across runs and platforms (unlike `Hasher`, which is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}
