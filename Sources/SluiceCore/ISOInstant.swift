/// ISO-8601 dates and times as seconds since 1970, for range filters over record fields.
///
/// One strict grammar, so that every store agrees on which strings are dates (SQLite calls this through a
/// registered function; PostgreSQL's `sluice_instant` implements the same grammar and ranges):
/// `YYYY-MM-DD`, optionally followed by `T` (or a space) and `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fraction` (up to 9
/// digits), optionally followed by `Z` or an offset `±HH`, `±HHMM` or `±HH:MM`. A date alone is midnight UTC, a time
/// without an offset is UTC. Years 1–9999; months, days (by month and leap year), hours 0–23, minutes and seconds
/// 0–59 are checked. Anything else is not a date.
public enum ISOInstant {
    /// Seconds since 1970-01-01T00:00:00Z, or nil when `text` is not a date in the grammar above.
    public static func seconds(_ text: String) -> Double? {
        var reader = Reader(bytes: Array(text.utf8))
        guard let year = reader.digits(4), reader.take("-"), let month = reader.digits(2), reader.take("-"),
            let day = reader.digits(2), year >= 1, (1...12).contains(month), day >= 1,
            day <= daysIn(month: month, year: year)
        else { return nil }
        var seconds = Double(daysFromCivil(year: year, month: month, day: day)) * 86_400
        guard !reader.atEnd else { return seconds }
        guard reader.take("T") || reader.take("t") || reader.take(" "), let hour = reader.digits(2), hour <= 23,
            reader.take(":"), let minute = reader.digits(2), minute <= 59
        else { return nil }
        seconds += Double(hour * 3_600 + minute * 60)
        if reader.take(":") {
            guard let second = reader.digits(2), second <= 59 else { return nil }
            seconds += Double(second)
            if reader.take(".") {
                var fraction = "0."
                while let digit = reader.digit() { fraction.append(Character(String(digit))) }
                // Read as one decimal, as PostgreSQL's sluice_instant does, so both round alike.
                guard (3...11).contains(fraction.count), let value = Double(fraction) else { return nil }
                seconds += value
            }
        }
        if reader.take("Z") || reader.take("z") { return reader.atEnd ? seconds : nil }
        let sign: Double
        if reader.take("+") {
            sign = 1
        } else if reader.take("-") {
            sign = -1
        } else {
            return reader.atEnd ? seconds : nil
        }
        guard let offsetHours = reader.digits(2), offsetHours <= 23 else { return nil }
        var offsetMinutes = 0
        if !reader.atEnd {
            _ = reader.take(":")
            guard let minutes = reader.digits(2), minutes <= 59 else { return nil }
            offsetMinutes = minutes
        }
        guard reader.atEnd else { return nil }
        return seconds - sign * Double(offsetHours * 3_600 + offsetMinutes * 60)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func take(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        mutating func digit() -> Int? {
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
                return nil
            }
            defer { index += 1 }
            return Int(bytes[index] - UInt8(ascii: "0"))
        }

        mutating func digits(_ count: Int) -> Int? {
            var value = 0
            for _ in 0..<count {
                guard let digit = digit() else { return nil }
                value = value * 10 + digit
            }
            return value
        }
    }
}
