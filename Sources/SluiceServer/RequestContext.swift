import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceAccounts
import SluiceCore

/// Per-request state: the signed-in user, when there is one, and the client's address.
public struct SluiceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by ``SessionMiddleware`` from the session cookie.
    public var user: User?

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies are small JSON documents; 1 MiB is generous.
    public var maxUploadSize: Int { 1 << 20 }

    /// The signed-in user, if their role is at least `role`: 401 when nobody is signed in, 403 when the role is
    /// too low.
    func requireRole(_ role: Role) throws -> User {
        guard let user else { throw APIError(.unauthorized, "sign in first: POST /api/auth/login") }
        guard user.role >= role else {
            throw APIError(.forbidden, "Forbidden: requires the \(role.rawValue) role or higher")
        }
        return user
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
        var response = JSONResponse.make(["error": .string(message)], status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// JSON responses built from ``JSONValue``, so that `null` fields are written as `null` rather than left out.
enum JSONResponse {
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonText)))
    }

    /// ISO-8601 with milliseconds in UTC, as JavaScript's `toISOString()` writes it.
    static func timestamp(_ date: Date) -> JSONValue {
        .string(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    static func timestamp(_ date: Date?) -> JSONValue {
        date.map { timestamp($0) } ?? .null
    }
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

    /// The body as a JSON object: 413 past the size limit, 400 when it is not a JSON object.
    func jsonObject(context: SluiceRequestContext) async throws -> [String: JSONValue] {
        let text = try await text(upTo: context.maxUploadSize)
        guard !text.isEmpty else { throw APIError(.badRequest, "request body must be a JSON object") }
        guard case .object(let object) = try? JSONValue(parsing: text) else {
            throw APIError(.badRequest, "request body must be a JSON object")
        }
        return object
    }
}
