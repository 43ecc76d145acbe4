import Foundation
import Synchronization

/// New job ids: UUID version 7 (RFC 9562) in lowercase text. They sort by creation time, which keeps the primary
/// key index append-mostly, and need no coordination between servers. Within one process every id sorts after the
/// one made before it: ids of one millisecond carry a 12-bit counter in `rand_a` (RFC 9562's method 1), and a clock
/// that goes back counts on from the last id. So jobs enqueued at the same time are claimed first in, first out by
/// every store.
public enum JobID {
    private static let digits = Array("0123456789abcdef".utf8)
    /// The millisecond of the last id made, and its counter.
    private static let last = Mutex<(millis: UInt64, counter: UInt16)>((0, 0))

    public static func make(at date: Date = Date()) -> String {
        var random = SystemRandomNumberGenerator()
        let (millis, counter) = last.withLock { last -> (UInt64, UInt16) in
            let asked = UInt64(max(0, date.timeIntervalSince1970 * 1000))
            if asked > last.millis {
                // A new millisecond starts the counter in its lower half, leaving room to count up.
                last = (asked, UInt16.random(in: 0..<0x0800, using: &random))
            } else if last.counter < 0x0FFF {
                // The same millisecond, or a clock that went back: count on from the last id.
                last.counter += 1
            } else {
                // A full counter borrows the next millisecond.
                last = (last.millis + 1, UInt16.random(in: 0..<0x0800, using: &random))
            }
            return last
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
        for index in 8..<16 { bytes[index] = random.next() }
        bytes[6] = 0x70 | UInt8(counter >> 8)  // version 7, then the counter's high 4 bits
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
