import Foundation
import SluiceCore
import Testing

@Suite("JSON parser", .timeLimit(.minutes(1)))
struct JSONParserTests {
    @Test("values, escapes and numbers read as JSON defines them")
    func validDocuments() throws {
        let cases: [(String, JSONValue)] = [
            ("0", 0), ("-0", 0), ("7", 7), ("-12", -12), ("1.5", 1.5), ("-0.25", -0.25), ("1e3", 1000.0),
            ("1E+2", 100.0), ("25e-1", 2.5), ("1.0", 1.0),
            ("9223372036854775807", .int(Int64.max)), ("-9223372036854775808", .int(Int64.min)),
            ("9223372036854775808", .double(9_223_372_036_854_775_808)),
            ("true", true), ("false", false), ("null", nil), (" \t\r\n[ ] ", []), ("{}", [:]),
            (#""""#, ""), (#""plain""#, "plain"), (#""a\"b\\c\/d""#, "a\"b\\c/d"),
            (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"), (#""\u00e9\u0041""#, "éA"), (#""\ud83d\ude00""#, "😀"),
            (#""é😀 raw""#, "é😀 raw"), (#""\u0000""#, "\u{0}"),
            (#"{"a": [1, {"b": null}], "c": "d"}"#, ["a": [1, ["b": nil]], "c": "d"]),
            (#"{"k": 1, "k": 2}"#, ["k": 2]),
        ]
        for (text, expected) in cases {
            #expect(try JSONValue(parsing: text) == expected, "\(text)")
        }
        let deep = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue(parsing: deep) }
    }

    @Test("decimals read exactly as the full conversion reads them, on the fast path and off it")
    func decimals() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "0.0", "-0.0", "0.000", "1e-400", "1e400", "0e99999", "123456789012345.6", "1234567890123456.7",
            "0.1", "0.2", "0.30000000000000004", "1e22", "1e23", "1e-22", "1e-23", "-0.0069292834",
            "4.9406564584124654e-324", "1.7976931348623157e308", "0.00000000000000000000000000001",
            "99999999999999999999.5", "3.14159265358979323846",
        ]
        for _ in 0..<20_000 {
            // Provider-like: up to 17 digits, either side of the point, an exponent now and then.
            let digits = String(
                (0..<Int.random(in: 1...17, using: &generator)).map { _ in
                    Character(String(Int.random(in: 0...9, using: &generator)))
                }
            )
            let point = Int.random(in: 0...digits.count - 1, using: &generator)
            var text = (Bool.random(using: &generator) ? "-" : "") + "0." + digits
            if point > 0, digits.first != "0" {
                text = String(digits.prefix(point)) + "." + digits.dropFirst(point)
            }
            if Int.random(in: 0..<4, using: &generator) == 0 {
                text += "e\(Int.random(in: -30...30, using: &generator))"
            }
            texts.append(text)
        }
        for text in texts {
            let expected = Double(text) ?? .nan
            guard expected.isFinite else {
                #expect(throws: QueueError.self) { try JSONValue(parsing: text) }
                continue
            }
            guard case .double(let value) = try JSONValue(parsing: text) else {
                Issue.record("\(text) did not read as a double")
                continue
            }
            #expect(value.bitPattern == expected.bitPattern, "\(text): \(value) ≠ \(expected)")
        }
    }

    @Test("malformed text is refused with the place and the reason")
    func invalidDocuments() {
        let cases = [
            "", " ", "{", "[1 2]", "[1,]", #"{"a":1,}"#, "{'a': 1}", "nul", "tru", "01", "-", "1.", ".5", "+1",
            "1e", "1e+", "NaN", "Infinity", "1e400", #""abc"#, "\"a\u{01}b\"", #""\x""#, #""\u12""#, #""\ud83d""#,
            #""\ude00""#, #""\ud83d\u0041""#, "[] []", "{\"a\" 1}", "{1: 2}", "[", "]",
            String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
        ]
        for text in cases {
            let error = #expect(throws: QueueError.self, "\(text)") { try JSONValue(parsing: text) }
            #expect(error?.code == .invalidJSON)
            #expect(error?.message.contains("at byte") == true, "\(error?.message ?? "")")
        }
        let error = #expect(throws: QueueError.self) { try JSONValue(parsing: #"{"a": [1, 2 x]}"#) }
        #expect(
            error?.message == "invalid JSON: Unexpected character 'x' in an array: expected ',' or ']' (at byte 12)"
        )
    }

    @Test("random documents read the same as Foundation's JSONDecoder reads them, and survive a round trip")
    func agreesWithFoundation() throws {
        var generator = SeededGenerator(seed: 0x5EED)
        for _ in 0..<2_000 {
            let value = Self.randomValue(depth: 0, using: &generator)
            let text = Self.spaced(value.jsonText, using: &generator)
            let ours = try JSONValue(parsing: text)
            let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(ours == foundation, "\(text)")
            #expect(ours == value, "\(text)")
        }
    }

    /// Whitespace between tokens where JSON allows it (outside strings).
    static func spaced(_ text: String, using generator: inout SeededGenerator) -> String {
        var out = ""
        var inString = false
        var escaped = false
        for character in text {
            if inString {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
                out.append(character)
                continue
            }
            if character == "\"" { inString = true }
            if ",:[]{}".contains(character), Int.random(in: 0..<4, using: &generator) == 0 {
                out += [" ", "\n", "\t", "\r\n"].randomElement(using: &generator)!
            }
            out.append(character)
        }
        return out
    }

    static func randomValue(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        let kinds = depth > 3 ? 5 : 7
        switch Int.random(in: 0..<kinds, using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            return .int(
                [0, 1, -1, Int64.max, Int64.min, Int64.random(in: -1_000_000...1_000_000, using: &generator)]
                    .randomElement(using: &generator)!
            )
        case 3:
            let double = [0.5, -2.25, 1e-7, 6.02e23, Double.random(in: -1e6...1e6, using: &generator)]
                .randomElement(using: &generator)!
            return double == double.rounded() ? .double(double + 0.5) : .double(double)
        case 4: return .string(randomString(using: &generator))
        case 5:
            return .array(
                (0..<Int.random(in: 0..<5, using: &generator)).map { _ in
                    randomValue(depth: depth + 1, using: &generator)
                }
            )
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &generator) {
                members[randomString(using: &generator)] = randomValue(depth: depth + 1, using: &generator)
            }
            return .object(members)
        }
    }

    static func randomString(using generator: inout SeededGenerator) -> String {
        let alphabet: [Character] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "😀", "中",
        ]
        return String(
            (0..<Int.random(in: 0..<8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
        )
    }
}

/// A small deterministic generator (SplitMix64), so a failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
