import Foundation
import SluiceCore
import Testing

@Suite("ISO-8601 instants")
struct ISOInstantTests {
    @Test("dates, times and offsets read as the instants they name")
    func instants() {
        let cases: [(String, Double)] = [
            ("1970-01-01", 0),
            ("1970-01-01T00:00:01Z", 1),
            ("2024-01-31", 1_706_659_200),
            ("2024-01-31T12:00", 1_706_702_400),
            ("2024-01-31 12:00:00Z", 1_706_702_400),
            ("2024-01-31T12:00:00+01:00", 1_706_698_800),
            ("2024-01-31T12:00:00+0100", 1_706_698_800),
            ("2024-01-31T12:00:00-05", 1_706_720_400),
            ("2024-02-29T00:00:00.5z", 1_709_164_800.5),
            ("2000-02-29", 951_782_400),
            ("1969-12-31T23:59:59Z", -1),
            ("0001-01-01", -62_135_596_800),
        ]
        for (text, seconds) in cases {
            #expect(ISOInstant.seconds(text) == seconds, "\(text)")
        }
        // Foundation agrees on a sample of the grammar it also reads.
        let formatter = ISO8601DateFormatter()
        for text in ["2024-01-31T12:00:00Z", "1999-12-31T23:59:59+05:30", "2016-02-29T06:07:08-08:00"] {
            #expect(ISOInstant.seconds(text) == formatter.date(from: text)?.timeIntervalSince1970, "\(text)")
        }
    }

    @Test("anything outside the grammar is no date")
    func refusals() {
        for text in [
            "", "today", "2024", "2024-1-31", "2024-01-31T", "2024-01-31T12", "2024-01-31T24:00", "2024-01-31T23:60",
            "2024-01-31T23:59:60", "2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-01", "0000-01-01",
            "2024-01-31Z", "2024-01-31T12:00:00.", "2024-01-31T12:00:00.1234567890", "2024-01-31T12:00+05:",
            "2024-01-31T12:00+24", " 2024-01-31", "2024-01-31 ", "２０２４-01-31", "2024-01-31T12:00:00+05:30:00",
        ] {
            #expect(ISOInstant.seconds(text) == nil, "\(text)")
        }
    }
}
