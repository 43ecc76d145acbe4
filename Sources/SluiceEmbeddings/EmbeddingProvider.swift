import AsyncHTTPClient
import Foundation

/// Turns texts into vectors: the offline ``LocalEmbedder`` by default, or any OpenAI-compatible `/embeddings`
/// endpoint (OpenAI, OpenRouter, LM Studio, Ollama) through ``OpenAIEmbeddingClient``.
public protocol EmbeddingProvider: Sendable {
    /// The model name recorded with every vector, so that vectors of two models are never mixed.
    var model: String { get }
    /// Length of every vector this provider returns.
    var dimensions: Int { get }
    /// One vector per text, in order.
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// Why an embedding request failed, with a code the vectorization worker acts on: ``Code/rateLimited`` is
/// back-pressure (wait, do not spend an attempt), ``Code/unavailable`` is worth retrying, the others fail the job.
/// Messages never contain the API key.
public struct EmbeddingError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case rateLimited, unavailable, rejected, invalidResponse, invalidConfiguration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// 429: the provider asks to slow down; ``EmbeddingError/retryAfter`` says for how long.
        public static let rateLimited = Code(.rateLimited)
        /// Timeouts, network errors, 408, 409 and 5xx that outlasted the client's own retries.
        public static let unavailable = Code(.unavailable)
        /// Any other 4xx: a bad key, an unknown model, an input the provider refuses.
        public static let rejected = Code(.rejected)
        /// The provider answered 2xx with the wrong number of vectors, the wrong dimension, or no JSON.
        public static let invalidResponse = Code(.invalidResponse)
        /// A setting is missing or malformed.
        public static let invalidConfiguration = Code(.invalidConfiguration)

        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// For ``Code/rateLimited``: how long the provider asked to wait, when it said.
    public let retryAfter: Duration?
    /// The HTTP status, when there was one.
    public let status: Int?

    public init(code: Code, message: String, retryAfter: Duration? = nil, status: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.status = status
    }

    public var description: String { message }
}

/// Which provider to use (`sluice` reads it from the `EMBEDDING_*` variables). Defaults: the offline local embedder
/// with 1536 dimensions.
public struct EmbeddingSettings: Sendable, Hashable {
    public enum Provider: String, Sendable, Hashable {
        case local, openai
    }

    /// `EMBEDDING_PROVIDER`: `local` (default) or `openai` (any OpenAI-compatible endpoint).
    public var provider: Provider
    /// `EMBEDDING_BASE_URL`, default `https://api.openai.com/v1`; `/embeddings` is appended.
    public var baseURL: String
    /// `EMBEDDING_API_KEY`; optional for local servers such as LM Studio and Ollama.
    public var apiKey: String?
    /// `EMBEDDING_MODEL`, default `text-embedding-3-small` (`sluice-local-hash-v1` for the local embedder).
    public var model: String
    /// `EMBEDDING_DIMENSIONS`, default 1536: the length every vector must have.
    public var dimensions: Int
    /// `EMBEDDING_SEND_DIMENSIONS=true` sends `dimensions` in each request (OpenAI's text-embedding-3 models can
    /// shorten their vectors; many other servers reject the field). Default false.
    public var sendDimensions: Bool
    /// `EMBEDDING_TIMEOUT_SECONDS`, default 30: one request's time limit.
    public var timeout: Duration

    public init(
        provider: Provider = .local,
        baseURL: String = "https://api.openai.com/v1",
        apiKey: String? = nil,
        model: String? = nil,
        dimensions: Int = 1536,
        sendDimensions: Bool = false,
        timeout: Duration = .seconds(30)
    ) {
        self.provider = provider
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model ?? (provider == .local ? LocalEmbedder.modelName : "text-embedding-3-small")
        self.dimensions = dimensions
        self.sendDimensions = sendDimensions
        self.timeout = timeout
    }
}

extension EmbeddingSettings {
    /// Why these settings deserve a second look, for a warning at start: the API key sent in clear text to a host
    /// that is not this machine (`http://` to anything but loopback).
    public var warning: String? {
        guard provider == .openai, apiKey != nil, let url = URL(string: baseURL), url.scheme == "http",
            let host = url.host, !["localhost", "127.0.0.1", "::1", "[::1]"].contains(host.lowercased())
        else { return nil }
        return "EMBEDDING_BASE_URL is http://\(host): the API key goes over the network unencrypted; use https://"
    }

    /// The provider these settings name: the local embedder, or an OpenAI-compatible client on `http`.
    public func makeProvider(http: @autoclosure () -> HTTPClient = .shared) -> any EmbeddingProvider {
        switch provider {
        case .local: LocalEmbedder(dimensions: dimensions)
        case .openai: OpenAIEmbeddingClient(settings: self, http: http())
        }
    }
}
