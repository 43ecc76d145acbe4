import Foundation
import NIOSSL
import PostgresNIO
import SluiceCore

/// Where and how to connect to PostgreSQL, read from a `postgres://` URL.
public struct PostgresStoreConfiguration: Sendable {
    /// The postgres-nio pool settings.
    public var client: PostgresClient.Configuration
    /// The URL with its password removed, for messages and logs.
    public var redactedURL: String
    /// The TLS mode the URL asked for.
    public var sslMode: SSLMode

    /// TLS to the server, as libpq's `sslmode` names it (`allow` reads as `prefer`; `verify-ca` and `verify-full`
    /// as `require`, which verifies the certificate fully).
    public enum SSLMode: String, Sendable, Hashable {
        /// Plain text only.
        case disable
        /// TLS when the server offers it, else plain text (the default, as libpq's).
        case prefer
        /// TLS with a verified certificate, or no connection.
        case require
    }

    /// Reads `postgres://user:password@host:port/database?sslmode=disable|prefer|require`.
    ///
    /// Defaults: port 5432, user `postgres`, database named after the user, `sslmode=prefer`, at most 20 connections
    /// (`?pool_max=N`).
    public init(url text: String) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme,
            ["postgres", "postgresql"].contains(scheme)
        else {
            throw QueueError.invalidConfiguration(
                "not a postgres:// URL: \(Self.redact(text)) (percent-encode reserved characters such as # / ? @ in "
                    + "the user name and password)"
            )
        }
        let host = url.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        let user = url.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding } ?? "postgres"
        let password = url.password?.removingPercentEncoding
        let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        let database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
        let query = Dictionary(
            (url.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last }
        )

        let mode: SSLMode
        switch query["sslmode"] ?? "prefer" {
        case "disable": mode = .disable
        case "prefer", "allow": mode = .prefer
        case "require", "verify-ca", "verify-full": mode = .require
        case let other:
            throw QueueError.invalidConfiguration("unknown sslmode '\(other)' in \(Self.redact(text))")
        }
        let tls: PostgresClient.Configuration.TLS =
            switch mode {
            case .disable: .disable
            case .require: .require(.makeClientConfiguration())
            case .prefer: .prefer(.makeClientConfiguration())
            }
        var client = PostgresClient.Configuration(
            host: host,
            port: url.port ?? 5432,
            username: user,
            password: password,
            database: database,
            tls: tls
        )
        if let max = query["pool_max"] {
            guard let value = Int(max), value > 0 else {
                throw QueueError.invalidConfiguration("pool_max must be a positive number in \(Self.redact(text))")
            }
            client.options.maximumConnections = value
        }
        client.options.connectTimeout = .seconds(5)
        self.client = client
        self.redactedURL = Self.redact(text)
        self.sslMode = mode
    }

    /// The same settings for one connection outside the pool, as the reachability check uses.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable: tls = .disable
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: client.host ?? "localhost",
            port: client.port ?? 5432,
            username: client.username,
            password: client.password,
            database: client.database,
            tls: tls
        )
        configuration.options.connectTimeout = .init(client.options.connectTimeout)
        return configuration
    }

    /// `text` with any password replaced by `***`: whatever follows the first `:` of the part between `://` and
    /// the last `@`. Read as text, not parsed, so that a URL that does not parse (a `#` or `/` left unescaped in
    /// the password) keeps its password out of messages too.
    public static func redact(_ text: String) -> String {
        guard let start = text.range(of: "://"), let end = text.range(of: "@", options: .backwards),
            start.upperBound <= end.lowerBound
        else { return text }
        let userInfo = text[start.upperBound..<end.lowerBound]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return text[..<colon] + ":***" + text[end.lowerBound...]
    }
}
