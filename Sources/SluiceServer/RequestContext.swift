import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import SluiceAccounts
import SluiceCore

/// Per-request state: the signed-in user, when there is one, and the client's address.
public struct SluiceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by ``SessionMiddleware`` from the session cookie.
    public var user: User?
    /// Largest JSON request body ``requestDecoder`` reads; set from ``ServerConfiguration/maxBodyBytes`` by
    /// ``BodyLimitMiddleware``. Uploads pass their own limit.
    public var maxBodyBytes = 1 << 20

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// What `request.decode(as:context:)` reads at most (``maxBodyBytes``).
    public var maxUploadSize: Int { maxBodyBytes }
    /// API answers: ISO-8601 times with milliseconds, absent values as `null`, `no-store` and `nosniff`.
    public var responseEncoder: APIResponseEncoder { APIResponseEncoder() }
    /// API request bodies: JSON only, with refusals that say what was expected.
    public var requestDecoder: APIRequestDecoder { APIRequestDecoder() }

    /// The path parameter `name`, percent-decoded as clients encode it (`curl` and `requests` send a space in an id as
    /// `%20`, a slash as `%2F`; the router hands the segment over still encoded): 400 for a broken escape, 404 for a
    /// NUL character, which no stored id holds.
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError(.badRequest, "path segment \(name) has a broken percent escape")
        }
        guard !decoded.unicodeScalars.contains("\u{0}") else {
            throw APIError(.notFound, "no \(name) holds a NUL character")
        }
        return decoded
    }

    /// The user a request acts as, for handlers behind ``RequireRole`` that record who acted: 401 when nobody is
    /// signed in.
    func requireUser() throws -> User { try requireRole(.viewer) }

    /// The signed-in user, if their role is at least `role`: 401 when nobody is signed in, 403 when the role is
    /// too low.
    func requireRole(_ role: Role) throws -> User {
        guard let user else {
            throw APIError(
                .unauthorized,
                "sign in first (POST /api/auth/login), or send Authorization: Bearer <API token>"
            )
        }
        guard user.role >= role else {
            throw APIError(.forbidden, "Forbidden: requires the \(role.rawValue) role or higher")
        }
        return user
    }
}

/// Sets the request context's body limit from the server's configuration.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let limit: Int

    func handle(
        _ request: Request,
        context: SluiceRequestContext,
        next: (Request, SluiceRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.maxBodyBytes = limit
        return try await next(request, context)
    }
}

/// Lets a request through to the routes of its group only when its user has at least `role`: 401 for nobody
/// signed in, 403 for a lower role. Role checks live in the route table (`router.group().add(middleware:)`), not
/// in each handler.
struct RequireRole: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let role: Role

    init(_ role: Role) { self.role = role }

    func handle(
        _ request: Request,
        context: SluiceRequestContext,
        next: (Request, SluiceRequestContext) async throws -> Response
    ) async throws -> Response {
        _ = try context.requireRole(role)
        return try await next(request, context)
    }
}

/// An HTTP error answered as `{"error": "message"}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        responseBody
    }

    /// The error as a response, for handlers that answer with an error rather than throw one.
    var responseBody: Response {
        let data = (try? APIResponseEncoder.encoder().encode(ErrorResponse(error: message))) ?? Data()
        var response = APIResponseEncoder.response(data, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// API times as text: ISO-8601 with milliseconds in UTC, as JavaScript's `toISOString()` writes them.
enum APITime {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func text(_ date: Date) -> String { date.formatted(style) }
}

extension Request {
    /// The body as text: 413 past `limit` bytes.
    func text(upTo limit: Int) async throws -> String {
        do {
            return String(buffer: try await body.collect(upTo: limit))
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request body is larger than \(limit) bytes")
        }
    }

    /// The body as a JSON object: 415 unless it is sent as `application/json` (an HTML form can send only form
    /// encodings and `text/plain`, so no form can post to the API, even one injected into a page of this server),
    /// 413 past `limit` bytes, 400 when it is not a JSON object or holds a NUL character anywhere (no store keeps
    /// one: PostgreSQL's text and jsonb refuse it).
    func jsonObjectText(upTo limit: Int) async throws -> String {
        // Read first: a connection whose request body was left unread cannot carry the next request.
        let text = try await text(upTo: limit)
        let type = headers[.contentType] ?? ""
        let mediaType = type.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw APIError(
                .unsupportedMediaType,
                "send the body as JSON with Content-Type: application/json"
                    + (type.isEmpty ? "" : ", not \(mediaType.prefix(100))")
            )
        }
        guard !text.isEmpty else { throw APIError(.badRequest, "request body must be a JSON object") }
        guard case .object(let object) = try? JSONValue(parsing: text) else {
            throw APIError(.badRequest, "request body must be a JSON object")
        }
        guard !JSONValue.object(object).containsNUL else {
            throw APIError(.badRequest, "request body must not contain a NUL character (\\u0000)")
        }
        return text
    }

    /// The query string, decoded once for every route as `application/x-www-form-urlencoded`, the way browsers'
    /// forms, Python's `requests` and `curl -G --data-urlencode` encode it: `+` is a space, `%2B` a plus. The first
    /// of repeated names wins. 400 for a broken escape, bytes that are not UTF-8, or a NUL character.
    func query() throws -> FlatDictionary<Substring, Substring> {
        var parameters = FlatDictionary<Substring, Substring>()
        guard let query = uri.query, !query.isEmpty else { return parameters }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.formDecoded(parts[0])
            let value = parts.count > 1 ? try Self.formDecoded(parts[1]) : ""
            guard !name.unicodeScalars.contains("\u{0}"), !value.unicodeScalars.contains("\u{0}") else {
                throw APIError(.badRequest, "query parameter \(name) must not contain a NUL character")
            }
            if parameters[Substring(name)] == nil { parameters[Substring(name)] = Substring(value) }
        }
        return parameters
    }

    private static func formDecoded(_ text: Substring) throws -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        guard let decoded = spaced.removingPercentEncoding else {
            throw APIError(.badRequest, "the query string is not valid percent-encoded UTF-8")
        }
        return decoded
    }
}
