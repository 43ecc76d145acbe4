import Foundation
import SluiceCore
import Testing

@Suite("Streaming an object's array", .timeLimit(.minutes(1)))
struct StreamingParseTests {
    @Test("the array's elements arrive one at a time, in order; the other members come back, whatever their order")
    func streams() throws {
        var seen: [JSONValue] = []
        let text = #"{"before": 1, "records": [{"a": [1, 2]}, "x", null, 3.5, []], "after": {"k": true}}"#
        let (members, streamed) = try JSONValue.parseObject(text, streamingArrayAt: "records") { seen.append($0) }
        #expect(streamed)
        #expect(seen == [["a": [1, 2]], "x", .null, .double(3.5), .array([])])
        #expect(members == ["before": 1, "after": ["k": true]])
        // The result is what parsing the whole document gives.
        guard case .object(var whole) = try JSONValue(parsing: text) else { throw TestFailure("not an object") }
        #expect(whole.removeValue(forKey: "records") == .array(seen))
        #expect(whole == members)

        var none = 0
        let (others, found) = try JSONValue.parseObject(#" { "x" : [] } "#, streamingArrayAt: "records") { _ in
            none += 1
        }
        #expect(!found && none == 0 && others == ["x": []])
        let (_, empty) = try JSONValue.parseObject(#"{"records": []}"#, streamingArrayAt: "records") { _ in none += 1 }
        #expect(empty && none == 0)
    }

    @Test("malformed documents are refused as the whole-document parser refuses them")
    func refusals() {
        let cases = [
            "", "[]", #"{"records": {}}"#, #"{"records": [1, 2}"#, #"{"records": [1,]}"#, #"{"records": [1] "x": 2}"#,
            #"{"records": [1]} trailing"#, #"{"records": [1], "records": [2]}"#, #"{"records": ["\u"]}"#,
            "{\"records\": [" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "]}",
        ]
        for text in cases {
            #expect(throws: QueueError.self, "\(text.prefix(40))") {
                _ = try JSONValue.parseObject(text, streamingArrayAt: "records") { _ in }
            }
        }
    }

    @Test("an error thrown for an element stops the parse and reaches the caller")
    func elementErrors() {
        struct Refused: Error {}
        var seen = 0
        #expect(throws: Refused.self) {
            _ = try JSONValue.parseObject(#"{"records": [1, 2, 3, 4]}"#, streamingArrayAt: "records") { value in
                seen += 1
                if value == 2 { throw Refused() }
            }
        }
        #expect(seen == 2)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
