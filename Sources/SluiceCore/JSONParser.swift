/// Reads JSON text (RFC 8259) straight into ``JSONValue``, in one pass over the UTF-8 bytes.
///
/// Foundation's `JSONDecoder` reaches `JSONValue` through `Codable`, trying each case in turn with a coding path
/// kept for every value; profiles of ingestion and vectorization spent about 40% of their time there. Numbers
/// without a fraction or exponent that fit in 64 bits become `.int`, all others `.double`; a repeated object key
/// keeps its last value; nesting deeper than ``maximumDepth`` is refused rather than overflowing the stack.
struct JSONParser {
    static let maximumDepth = 512

    struct Failure: Error {
        var message: String
        var offset: Int
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func parse(_ text: String) throws(Failure) -> JSONValue {
        var text = text
        text.makeContiguousUTF8()
        let result: Result<JSONValue, Failure> =
            text.utf8.withContiguousStorageIfAvailable { bytes in
                var parser = JSONParser(bytes: bytes)
                return Result { () throws(Failure) -> JSONValue in try parser.parseDocument() }
            } ?? .failure(Failure(message: "the text is not contiguous UTF-8", offset: 0))
        return try result.get()
    }

    /// Parses a document that must be an object. The elements of the array at its member `key` are handed to
    /// `element` one at a time, as they are read, and not kept (`element` returns false to stop with `stopped`);
    /// the other members are returned. `streamed` tells whether `key` was present.
    static func parseObject(
        _ text: String,
        streamingArrayAt key: String,
        stopped: String,
        element: (JSONValue) -> Bool
    ) throws(Failure) -> (members: [String: JSONValue], streamed: Bool) {
        var text = text
        text.makeContiguousUTF8()
        return try withoutActuallyEscaping(element) { element throws(Failure) in
            let result: Result<([String: JSONValue], Bool), Failure> =
                text.utf8.withContiguousStorageIfAvailable { bytes in
                    var parser = JSONParser(bytes: bytes)
                    parser.streaming = Streaming(key: key, stopped: stopped, element: element)
                    return Result { () throws(Failure) -> ([String: JSONValue], Bool) in
                        parser.skipWhitespace()
                        guard parser.peek() == UInt8(ascii: "{") else {
                            throw parser.fail("The JSON text is not an object")
                        }
                        guard case .object(let members) = try parser.parseDocument() else {
                            throw parser.fail("The JSON text is not an object")
                        }
                        return (members, parser.streaming?.seen ?? false)
                    }
                } ?? .failure(Failure(message: "the text is not contiguous UTF-8", offset: 0))
            return try result.get()
        }
    }

    /// The array member of the top-level object whose elements go to `element` instead of into the result.
    private struct Streaming {
        let key: String
        let stopped: String
        let element: (JSONValue) -> Bool
        var seen = false
    }
    private var streaming: Streaming?

    /// The streamed array's elements, each handed over as soon as it is read.
    private mutating func streamArray(_ streaming: Streaming) throws(Failure) {
        guard !streaming.seen else { throw fail("The member \(streaming.key) appears twice") }
        self.streaming?.seen = true
        guard peek() == UInt8(ascii: "[") else { throw fail("The member \(streaming.key) is not an array") }
        try enter()
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            _ = leave(.null)
            return
        }
        while true {
            skipWhitespace()
            let start = index
            guard streaming.element(try parseValue()) else { throw fail(streaming.stopped, at: start) }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                _ = leave(.null)
                return
            default: throw fail("Unexpected \(describeByte()) in an array: expected ',' or ']'")
            }
        }
    }

    private mutating func parseDocument() throws(Failure) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw fail("The text is empty: it holds no JSON value") }
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw fail("Unexpected \(describeByte()) after the JSON value") }
        return value
    }

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard index < bytes.count else { throw fail("The JSON text ends where a value was expected") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectWord("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectWord("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectWord("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("Unexpected \(describeByte()) where a value was expected")
        }
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        try enter()
        index += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { return leave(.object(members)) }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else {
                throw fail("Unexpected \(describeByte()) where an object key (a string in double quotes) was expected")
            }
            let key = try parseString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail("Unexpected \(describeByte()) after an object key") }
            index += 1
            skipWhitespace()
            if depth == 1, let streaming, key == streaming.key {
                try streamArray(streaming)
            } else {
                members[key] = try parseValue()
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): return leave(.object(members))
            default: throw fail("Unexpected \(describeByte()) in an object: expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        try enter()
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { return leave(.array(elements)) }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): return leave(.array(elements))
            default: throw fail("Unexpected \(describeByte()) in an array: expected ',' or ']'")
            }
        }
    }

    /// Steps over the closing bracket of the array or object `value` was read from.
    private mutating func leave(_ value: JSONValue) -> JSONValue {
        index += 1
        depth -= 1
        return value
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw fail("The JSON nests deeper than \(Self.maximumDepth) arrays and objects")
        }
    }

    /// A string starting at the opening quote; the common case without escapes is one copy of its bytes.
    private mutating func parseString() throws(Failure) -> String {
        let start = index
        index += 1  // "
        let contentStart = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[contentStart..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("A control character (\(byte)) inside a string must be escaped") }
            index += 1
        }
        guard index < bytes.count else { throw fail("A string is not closed", at: start) }
        var buffer = Array(bytes[contentStart..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: buffer, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { break }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escaped)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape(to: &buffer)
                default:
                    index -= 1
                    throw fail("Unknown escape \(describeByte()) in a string")
                }
            default:
                if byte < 0x20 { throw fail("A control character (\(byte)) inside a string must be escaped") }
                buffer.append(byte)
                index += 1
            }
        }
        throw fail("A string is not closed", at: start)
    }

    /// `\uXXXX` (after the `u`), joining a surrogate pair into one scalar.
    private mutating func appendUnicodeEscape(to buffer: inout [UInt8]) throws(Failure) {
        var scalar = try readHex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw fail("A \\u escape holds half of a surrogate pair without the other half") }
            index += 2
            let low = try readHex4()
            guard (0xDC00..<0xE000).contains(low) else {
                throw fail("A \\u escape holds half of a surrogate pair without the other half")
            }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw fail("A \\u escape holds half of a surrogate pair without the other half")
        }
        guard let unicode = Unicode.Scalar(scalar) else { throw fail("A \\u escape is not a Unicode scalar") }
        buffer.append(contentsOf: UTF8.encode(unicode)!)
    }

    private mutating func readHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("A \\u escape needs four hexadecimal digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("A \\u escape needs four hexadecimal digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A number as the JSON grammar allows it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func parseNumber() throws(Failure) -> JSONValue {
        let start = index
        let negative = peek() == UInt8(ascii: "-")
        if negative { index += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("A number needs a digit after '-'") }
        if first == UInt8(ascii: "0"), index + 1 < bytes.count, isDigit(bytes[index + 1]) {
            throw fail("A number cannot start with 0 followed by more digits")
        }
        // The decimal digits as one integer and a power of ten, for the fast path below.
        var decimal = DecimalDigits()
        while let byte = peek(), isDigit(byte) {
            decimal.append(byte)
            index += 1
        }
        var integral = true
        if peek() == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw fail("A number needs a digit after '.'") }
            while let byte = peek(), isDigit(byte) {
                decimal.append(byte)
                decimal.exponent -= 1
                index += 1
            }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            integral = false
            index += 1
            var sign = 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") {
                if peek() == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            guard let digit = peek(), isDigit(digit) else { throw fail("A number needs a digit in its exponent") }
            var exponent = 0
            while let byte = peek(), isDigit(byte) {
                exponent = min(exponent * 10 + Int(byte - UInt8(ascii: "0")), 100_000)
                index += 1
            }
            decimal.exponent += sign * exponent
        }
        if !integral, let value = decimal.exactDouble {
            return .double(negative ? -value : value)
        }
        let text = Substring(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw fail("The number \(text) is too large", at: start)
        }
        return .double(value)
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func expectWord(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
            UnsafeBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[index..<index + count])
        else { throw fail("Unexpected \(describeByte()) where a value was expected") }
        index += count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func describeByte() -> String {
        guard index < bytes.count else { return "end of text" }
        let byte = bytes[index]
        if byte >= 0x21 && byte < 0x7F { return "character '\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    private func fail(_ message: String, at offset: Int? = nil) -> Failure {
        Failure(message: message, offset: offset ?? index)
    }
}

/// A decimal number's significant digits as an integer times a power of ten, read digit by digit.
private struct DecimalDigits {
    var mantissa: UInt64 = 0
    var significant = 0
    var exponent = 0

    mutating func append(_ byte: UInt8) {
        // Leading zeros are not significant.
        if significant == 0 && byte == UInt8(ascii: "0") { return }
        significant += 1
        if significant <= 19 { mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0")) }
    }

    private static let powers: [Double] = (0...22).map { exponent in
        (0..<exponent).reduce(1.0) { value, _ in value * 10 }
    }

    /// The value when one correctly rounded operation gives it (Clinger's fast path: at most 15 significant digits
    /// and a power of ten up to 10^22 are exact doubles), which is every number an embedding provider writes; nil
    /// otherwise, for the full conversion.
    var exactDouble: Double? {
        guard significant <= 15, (-22...22).contains(exponent) else { return significant == 0 ? 0 : nil }
        let value = Double(mantissa)
        return exponent < 0 ? value / Self.powers[-exponent] : value * Self.powers[exponent]
    }
}
