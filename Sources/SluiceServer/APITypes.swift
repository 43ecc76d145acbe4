import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SluiceAccounts
import SluiceCore
import SluicePipeline

// How the HTTP API writes and reads bodies. Each route's body types sit beside the route (`*Routes.swift`), written
// once: the route returns them, `Resources/openapi.json` describes them, and a test checks every answer the tests
// record against that description. Absent values are written as `null` (`@NullEncoded`), as the reference's shapes
// require; times as ISO-8601 with milliseconds in UTC.

/// A member written as JSON `null` when absent: Swift's synthesized `Encodable` would leave it out instead.
@propertyWrapper
struct NullEncoded<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

// MARK: Shared bodies

struct SuccessResponse: ResponseEncodable, Sendable {
    var success = true
}

struct HealthResponse: ResponseEncodable, Sendable {
    var status = "ok"
    var database = "ok"
}

struct ErrorResponse: Encodable, Sendable {
    var error: String
}

// MARK: Encoding and decoding

/// A request body the API reads with `request.decode(as:context:)`; `shape` describes it in refusals.
protocol APIRequest: Decodable, Sendable {
    static var shape: String { get }
}

/// Writes every API answer: JSON with ISO-8601 times (milliseconds, UTC), `no-store` and `nosniff`.
public struct APIResponseEncoder: ResponseEncoder {
    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(timestamp))
        }
        return encoder
    }

    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response
    {
        Self.response(try Self.encoder().encode(value), status: .ok)
    }

    static func response(_ data: Data, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "application/json; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// Reads API request bodies: 415 unless sent as `application/json`, 413 past the limit, 400 (with the expected
/// shape and what was wrong) for anything that is not that shape or that holds a NUL character.
public struct APIRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(
        _ type: T.Type,
        from request: Request,
        context: some RequestContext
    ) async throws -> T {
        let text = try await request.jsonObjectText(upTo: context.maxUploadSize)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            let shape = (T.self as? any APIRequest.Type)?.shape ?? "a JSON object"
            throw APIError(.badRequest, "body must be \(shape): \(Self.describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            ((context.codingPath + (key.map { [$0] } ?? [])).map(\.stringValue)).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context, key)) is missing"
        case .valueNotFound(_, let context): return "\(path(context)) must not be null"
        case .typeMismatch(let type, let context): return "\(path(context)) must be \(Self.name(type))"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "not JSON" : "\(path(context)) is invalid"
        @unknown default: return "not readable"
        }
    }

    private static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "a whole number"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}
