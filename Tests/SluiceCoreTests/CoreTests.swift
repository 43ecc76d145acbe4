import Foundation
import SluiceCore
import Testing

@Suite("Core", .timeLimit(.minutes(1)))
struct CoreTests {
    @Test("backoff: 10 s after attempt 1, 20 s after attempt 2, doubling, capped")
    func backoff() {
        let policy = RetryPolicy()
        #expect(policy.delay(afterAttempt: 1) == .seconds(10))
        #expect(policy.delay(afterAttempt: 2) == .seconds(20))
        #expect(policy.delay(afterAttempt: 3) == .seconds(40))
        #expect(policy.delay(afterAttempt: 50) == .seconds(3600))
        #expect(RetryPolicy(baseDelay: .seconds(1), maxDelay: .seconds(5)).delay(afterAttempt: 4) == .seconds(5))
    }

    @Test("JSON survives a round trip: integers exact, strings escaped, keys sorted")
    func jsonRoundTrip() throws {
        let text = #"{"b":[1,2.5,true,null,"x\"\n\u0001"],"a":{"big":9007199254740993,"neg":-3}}"#
        let value = try JSONValue(parsing: text)
        #expect(value["a"]?["big"] == .int(9_007_199_254_740_993))
        #expect(value["b"] == [1, 2.5, true, nil, "x\"\n\u{01}"])
        #expect(value.jsonText == #"{"a":{"big":9007199254740993,"neg":-3},"b":[1,2.5,true,null,"x\"\n\u0001"]}"#)
        #expect(try JSONValue(parsing: value.jsonText) == value)
    }

    @Test("malformed JSON is a QueueError, not a crash")
    func malformedJSON() {
        for text in ["{", "", "[1 2]", "{'a': 1}", "nul"] {
            let error = #expect(throws: QueueError.self) { try JSONValue(parsing: text) }
            #expect(error?.code == .invalidJSON)
        }
    }

    @Test("job ids are UUIDv7 text that sorts by creation time")
    func jobIDs() {
        let earlier = JobID.make(at: Date(timeIntervalSince1970: 1_800_000_000))
        let later = JobID.make(at: Date(timeIntervalSince1970: 1_800_000_001))
        #expect(earlier < later)
        #expect(UUID(uuidString: earlier) != nil)
        #expect(Array(earlier)[14] == "7")
        #expect(Set((0..<1000).map { _ in JobID.make() }).count == 1000)
        // Made in the same millisecond: in the order they were made, past the 4,096 a counter holds.
        let instant = Date(timeIntervalSince1970: 1_800_000_002)
        let burst = (0..<5_000).map { _ in JobID.make(at: instant) }
        #expect(burst == burst.sorted())
        #expect(Set(burst).count == burst.count)
        #expect(burst.allSatisfy { UUID(uuidString: $0) != nil && Array($0)[14] == "7" })
    }

    @Test("job types are checked for shape")
    func jobTypes() throws {
        try JobType.alpha.validate()
        try JobType("my-type.v2_x").validate()
        for bad in ["", "a b", String(repeating: "x", count: 65), "ü"] {
            #expect(throws: QueueError.self) { try JobType(rawValue: bad).validate() }
        }
    }

    @Test("statuses parse case-insensitively and know which are finished")
    func statuses() throws {
        #expect(JobStatus(parsing: "pending") == .pending)
        #expect(JobStatus(parsing: "Failed") == .failed)
        #expect(JobStatus(parsing: "sleeping") == nil)
        #expect(JobStatus.allCases.filter(\.isFinished) == [.completed, .failed])
        #expect(try JobStatus(stored: "PROCESSING") == .processing)
        let unknown = #expect(throws: QueueError.self) { try JobStatus(stored: "pending") }
        #expect(unknown?.code == .schemaOutOfDate)
    }

    @Test("stats add up rows per type and in total")
    func statsFromRows() {
        let stats = QueueStats(rows: [
            (.alpha, .pending, 2), (.alpha, .failed, 1), (.beta, .pending, 3),
        ])
        #expect(stats.total == StatusCounts(pending: 5, failed: 1))
        #expect(stats.byType[.beta] == StatusCounts(pending: 3))
    }
}

/// Job types of the tests' own: the core knows no application's types.
extension JobType {
    fileprivate static let alpha: JobType = "ALPHA"
    fileprivate static let beta: JobType = "BETA"
}
