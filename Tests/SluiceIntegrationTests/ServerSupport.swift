import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SluiceAccounts
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluiceServer
import SluiceStores
import SluiceWorkers
import Synchronization
import Testing

extension ServerConfiguration {
    /// A server for tests: no background workers or scheduler (tests drive them), any free port.
    static func testing(_ environment: AppEnvironment = .development, cronSecret: String? = nil) -> ServerConfiguration
    {
        ServerConfiguration(
            host: "127.0.0.1",
            port: 0,
            environment: environment,
            cronSecret: cronSecret,
            runWorkers: false,
            runScheduler: false
        )
    }
}

/// One request and its answer, as a test saw it.
struct Exchange: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String
    /// The body parsed as JSON, when it is JSON.
    var json: JSONValue? { try? JSONValue(parsing: text) }
    var error: String? { json?["error"]?.stringValue }
}

/// A Sluice server on a fresh store with one user of each role (`viewer@example.com`, …), driven through
/// HummingbirdTesting. Every exchange is recorded, so a test can check them all against the OpenAPI document.
struct Harness: Sendable {
    let app: SluiceApp
    let clock: ManualWallClock
    let client: any TestClientProtocol
    let recorded: Recorder

    static let password = "correct horse battery"

    static func email(_ role: Role) -> String { "\(role.rawValue.lowercased())@example.com" }

    final class Recorder: Sendable {
        let exchanges = Mutex<[Exchange]>([])
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        cookie: String? = nil,
        headers: HTTPFields = [:],
        body: String? = nil
    ) async throws -> Exchange {
        var headers = headers
        if let cookie { headers[.cookie] = cookie }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: uri,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        )
        let exchange = Exchange(
            method: method,
            path: String(uri.split(separator: "?", maxSplits: 1)[0]),
            status: response.status,
            headers: response.headers,
            text: String(buffer: response.body)
        )
        recorded.exchanges.withLock { $0.append(exchange) }
        return exchange
    }

    /// Signs in as the user of `role`; returns the `Cookie` header value.
    func login(_ role: Role) async throws -> String {
        let exchange = try await request(
            .post,
            "/api/auth/login",
            body: #"{"email": "\#(Self.email(role))", "password": "\#(Self.password)"}"#
        )
        try #require(exchange.status == .ok, "login as \(role) answered \(exchange.status): \(exchange.text)")
        let setCookie = try #require(exchange.headers[.setCookie])
        return String(setCookie.split(separator: ";")[0])
    }

    /// Cookies for anonymous (nil) and each role.
    func cookies() async throws -> [(String, String?)] {
        var result: [(String, String?)] = [("anonymous", nil)]
        for role in Role.allCases { result.append((role.rawValue, try await login(role))) }
        return result
    }
}

/// Runs `body` against a Sluice server on a fresh `kind` store.
func withServer(
    _ kind: StoreKind,
    configuration: ServerConfiguration = .testing(),
    handlers: JobHandlerRegistry = JobHandlerRegistry(),
    withIngestion: Bool = false,
    setup: TestingSetup = .router,
    embedder: any EmbeddingProvider = LocalEmbedder(dimensions: 64),
    metrics: ServerMetrics = ServerMetrics(),
    // One provider request at a time: scripted providers answer in order.
    vectorization: VectorizationOptions = VectorizationOptions(requestsInFlight: 1),
    _ body: @Sendable (Harness) async throws -> Void
) async throws {
    try await withServerStore(kind) { stores in
        let clock = ManualWallClock()
        var handlers = handlers
        if withIngestion {
            handlers.register(.ingestData, IngestionHandler(store: stores.pipeline, clock: clock))
            handlers.register(
                .vectorize,
                serializeBy: "projectId",
                VectorizationHandler(store: stores.pipeline, provider: embedder, options: vectorization, clock: clock)
            )
        }
        let app = SluiceApp(
            configuration: configuration,
            queueStore: stores.queue,
            accountStore: stores.accounts,
            pipelineStore: stores.pipeline,
            accountOptions: AccountOptions(passwordHasher: PasswordHasher(cost: 4)),
            handlers: handlers,
            metrics: metrics,
            embedder: embedder,
            clock: clock,
            logger: quietLogger
        )
        for role in Role.allCases {
            try await app.accounts.createUser(email: Harness.email(role), password: Harness.password, role: role)
        }
        let application = Application(
            router: app.makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            logger: quietLogger
        )
        try await application.test(setup) { client in
            try await body(Harness(app: app, clock: clock, client: client, recorded: Harness.Recorder()))
        }
    }
}

/// Checks responses against the server's OpenAPI document: the status must be documented for the route, and the
/// body must match the documented schema (type, required, properties, additionalProperties, items, enum, const,
/// $ref, allOf and unevaluatedProperties — the parts of JSON Schema the document uses).
struct OpenAPIChecker {
    let document: JSONValue

    init(_ text: String) throws {
        document = try JSONValue(parsing: text)
    }

    var documentedRoutes: Set<String> {
        guard case .object(let paths)? = document["paths"] else { return [] }
        return Set(
            paths.flatMap { path, item -> [String] in
                guard case .object(let methods) = item else { return [] }
                return methods.keys.map { "\($0.uppercased()) \(path)" }
            }
        )
    }

    /// Problems with one exchange; empty when it matches the document.
    func problems(_ exchange: Exchange, routes: RouteTable) -> [String] {
        guard let template = routes.template(forPath: exchange.path) else {
            return exchange.status == .notFound ? [] : ["\(exchange.path) is not a documented path"]
        }
        let name = "\(exchange.method.rawValue) \(template) → \(exchange.status.code)"
        guard let operation = document["paths"]?[template]?[exchange.method.rawValue.lowercased()] else {
            // Wrong methods are answered 405 by every route; the document lists only the right ones.
            return exchange.status == .methodNotAllowed ? [] : ["\(name): method not documented"]
        }
        guard let response = operation["responses"]?["\(exchange.status.code)"].map(resolve) else {
            return ["\(name): status not documented"]
        }
        guard let content = response["content"] else { return [] }
        if let schema = content["application/json"]?["schema"] {
            guard let json = exchange.json else { return ["\(name): body is not JSON: \(exchange.text.prefix(200))"] }
            return validate(json, schema, at: name)
        }
        return content["text/plain"] != nil ? [] : ["\(name): undocumented content type"]
    }

    private func resolve(_ value: JSONValue) -> JSONValue {
        guard let reference = value["$ref"]?.stringValue, reference.hasPrefix("#/") else { return value }
        var node: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
        return node.map(resolve) ?? .null
    }

    /// `schema` with its `allOf` parts folded in: their types, properties and required members, as one schema
    /// (the document uses `allOf` only to share properties).
    private func merged(_ schemaValue: JSONValue) -> JSONValue {
        guard case .object(var schema) = resolve(schemaValue),
            case .array(let parts)? = schema.removeValue(forKey: "allOf")
        else { return resolve(schemaValue) }
        var properties: [String: JSONValue] = [:]
        var required: [JSONValue] = []
        for part in parts.map(merged) + [.object(schema)] {
            if case .object(let declared)? = part["properties"] { properties.merge(declared) { _, new in new } }
            if case .array(let names)? = part["required"] { required += names }
            if schema["type"] == nil, let type = part["type"] { schema["type"] = type }
        }
        schema["properties"] = .object(properties)
        schema["required"] = .array(required)
        if let closed = schema.removeValue(forKey: "unevaluatedProperties") { schema["additionalProperties"] = closed }
        return .object(schema)
    }

    private func validate(_ value: JSONValue, _ schemaValue: JSONValue, at path: String) -> [String] {
        let schema = merged(schemaValue)
        var problems: [String] = []
        if let constant = schema["const"], constant != value {
            problems.append("\(path): expected \(constant.jsonText)")
        }
        if case .array(let options)? = schema["enum"], !options.contains(value) {
            problems.append("\(path): \(value.jsonText) is not one of \(options.map(\.jsonText))")
        }
        let types: [String] =
            switch schema["type"] {
            case .string(let type)?: [type]
            case .array(let list)?: list.compactMap(\.stringValue)
            default: []
            }
        if !types.isEmpty && !types.contains(where: { Self.matches(value, type: $0) }) {
            return problems + ["\(path): \(value.jsonText.prefix(80)) is not \(types.joined(separator: " or "))"]
        }
        if case .object(let object) = value {
            if case .array(let required)? = schema["required"] {
                for key in required.compactMap(\.stringValue) where object[key] == nil {
                    problems.append("\(path): missing \(key)")
                }
            }
            let properties: [String: JSONValue]
            if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [:] }
            for (key, child) in object {
                if let childSchema = properties[key] {
                    problems += validate(child, childSchema, at: "\(path).\(key)")
                } else if schema["additionalProperties"] == .bool(false) {
                    problems.append("\(path): unexpected property \(key)")
                }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { problems += validate(item, itemSchema, at: "\(path)[\(index)]") }
        }
        return problems
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("integer", .int), ("number", .int), ("number", .double),
            ("string", .string), ("array", .array), ("object", .object):
            true
        default:
            false
        }
    }
}
