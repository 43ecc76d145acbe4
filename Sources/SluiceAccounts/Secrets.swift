import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// bcrypt password hashing, run on NIO's blocking thread pool so that a sign-in never stalls the event loops or
/// Swift's cooperative threads.
public struct PasswordHasher: Sendable {
    /// bcrypt cost (log2 of the rounds). Default 12: about a quarter of a second per hash on a current core.
    public var cost: UInt8

    public init(cost: UInt8 = 12) {
        self.cost = cost
    }

    /// Shortest password accepted.
    public static let minimumLength = 8
    /// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut.
    public static let maximumBytes = 72

    /// Throws ``AccountError/Code/invalidPassword`` when the password is too short, too long, or holds a NUL
    /// character (bcrypt would ignore everything from it on).
    public static func validate(_ password: String) throws {
        guard !password.unicodeScalars.contains("\u{0}") else {
            throw AccountError(code: .invalidPassword, message: "password must not contain a NUL character")
        }
        guard password.count >= minimumLength else {
            throw AccountError(
                code: .invalidPassword,
                message: "password must be at least \(minimumLength) characters"
            )
        }
        guard password.utf8.count <= maximumBytes else {
            throw AccountError(code: .invalidPassword, message: "password must be at most \(maximumBytes) bytes")
        }
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}

/// Random tokens and their digests, for session cookies.
public enum SecretToken {
    /// 32 random bytes from the system's secure generator, base64url without padding (43 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Lower-case hex SHA-256 of the token: what the database stores.
    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two secrets in time that depends on neither's content: both are hashed to 32 bytes first, so
    /// even their lengths do not show.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let da = SHA256.hash(data: Data(a.utf8))
        let db = SHA256.hash(data: Data(b.utf8))
        var difference: UInt8 = 0
        for (x, y) in zip(da, db) { difference |= x ^ y }
        return difference == 0
    }
}
