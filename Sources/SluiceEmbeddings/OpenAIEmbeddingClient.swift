import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SluiceCore

/// How ``OpenAIEmbeddingClient`` retries before giving up on a request.
public struct EmbeddingRetryOptions: Sendable {
    /// Tries for timeouts, network errors, 408, 409 and 5xx. Default 4.
    public var attempts: Int
    /// First delay between those tries, doubling. Default 500 ms.
    public var backoff: Duration
    /// Longest total wait on 429 answers within one call before the call throws ``EmbeddingError/Code/rateLimited``
    /// (the worker then hands the job back without spending an attempt). Default 60 s.
    public var rateLimitBudget: Duration
    /// Wait on a 429 that names no time. Default 1 s, doubling.
    public var rateLimitDefault: Duration

    public init(
        attempts: Int = 4,
        backoff: Duration = .milliseconds(500),
        rateLimitBudget: Duration = .seconds(60),
        rateLimitDefault: Duration = .seconds(1)
    ) {
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.rateLimitBudget = rateLimitBudget
        self.rateLimitDefault = rateLimitDefault
    }
}

/// A client for OpenAI-compatible `POST {base}/embeddings` endpoints: OpenAI, OpenRouter, LM Studio, Ollama.
///
/// It retries what is worth retrying (timeouts, network errors, 408, 409, 5xx) with backoff, waits as long as a
/// 429 asks (`Retry-After`, or the `x-ratelimit-reset-*` headers) within a budget, checks that the answer has one
/// vector per input of the configured dimension, and reads the error bodies these servers send (an `error` object
/// with a string or numeric `code`, or a bare string).
public struct OpenAIEmbeddingClient: EmbeddingProvider {
    public let settings: EmbeddingSettings
    public let retry: EmbeddingRetryOptions
    private let http: HTTPClient
    private let logger: Logger

    public var model: String { settings.model }
    public var dimensions: Int { settings.dimensions }

    /// - Parameter http: the caller's client, shut down by the caller.
    public init(
        settings: EmbeddingSettings,
        http: HTTPClient,
        retry: EmbeddingRetryOptions = EmbeddingRetryOptions(),
        logger: Logger = Logger(label: "sluice.embeddings")
    ) {
        self.settings = settings
        self.http = http
        self.retry = retry
        self.logger = logger
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        var transientFailures = 0
        var rateLimitWaited = Duration.zero
        var rateLimitDefault = retry.rateLimitDefault
        while true {
            do {
                return try await request(texts)
            } catch let error as EmbeddingError where error.code == .rateLimited {
                let wait = error.retryAfter ?? rateLimitDefault
                rateLimitDefault *= 2
                guard rateLimitWaited + wait <= retry.rateLimitBudget else { throw error }
                logger.notice("provider rate limit; waiting", metadata: [LogKey.waitMS: "\(wait.milliseconds)"])
                try await Task.sleep(for: wait)
                rateLimitWaited += wait
            } catch let error as EmbeddingError where error.code == .unavailable {
                transientFailures += 1
                guard transientFailures < retry.attempts else { throw error }
                let wait = retry.backoff * (1 << (transientFailures - 1))
                logger.notice(
                    "provider unavailable; retrying",
                    metadata: [LogKey.error: "\(error.message)", LogKey.waitMS: "\(wait.milliseconds)"]
                )
                try await Task.sleep(for: wait)
            }
        }
    }

    /// One request, its failure classified.
    private func request(_ texts: [String]) async throws -> [[Float]] {
        var body: JSONValue = ["model": .string(settings.model), "input": .array(texts.map(JSONValue.string))]
        if settings.sendDimensions, case .object(var object) = body {
            object["dimensions"] = .int(Int64(settings.dimensions))
            body = .object(object)
        }
        let base = settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL
        var request = HTTPClientRequest(url: base + "/embeddings")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = settings.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: body.jsonText))

        let response: HTTPClientResponse
        let buffer: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(Int64(settings.timeout.nanoseconds)))
            buffer = try await response.body.collect(upTo: 256 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw EmbeddingError(code: .unavailable, message: "embedding request timed out after \(settings.timeout)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw EmbeddingError(code: .unavailable, message: "embedding provider unreachable: \(redacted("\(error)"))")
        }
        let status = Int(response.status.code)
        let text = String(buffer: buffer)
        guard (200..<300).contains(status) else {
            let message = "embedding provider answered \(status): \(redacted(Self.errorMessage(text)))"
            switch status {
            case 429:
                throw EmbeddingError(
                    code: .rateLimited,
                    message: message,
                    retryAfter: Self.retryAfter(response.headers),
                    status: status
                )
            case 408, 409, 500...:
                throw EmbeddingError(code: .unavailable, message: message, status: status)
            default:
                throw EmbeddingError(code: .rejected, message: message, status: status)
            }
        }
        return try decode(text, count: texts.count)
    }

    private func decode(_ text: String, count: Int) throws -> [[Float]] {
        guard let json = try? JSONValue(parsing: text), case .array(let items)? = json["data"] else {
            throw EmbeddingError(code: .invalidResponse, message: "embedding provider answered without a data array")
        }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in items.enumerated() {
            let index = item["index"]?.intValue ?? position
            guard case .array(let numbers)? = item["embedding"], vectors.indices.contains(index) else {
                throw EmbeddingError(
                    code: .invalidResponse,
                    message: "embedding provider answered an item without a usable embedding"
                )
            }
            let vector = numbers.compactMap(\.floatValue)
            guard vector.count == numbers.count else {
                throw EmbeddingError(code: .invalidResponse, message: "embedding provider answered non-numbers")
            }
            guard vector.count == settings.dimensions else {
                throw EmbeddingError(
                    code: .invalidResponse,
                    message:
                        "embedding provider answered \(vector.count) dimensions; EMBEDDING_DIMENSIONS is \(settings.dimensions) for model \(settings.model)"
                )
            }
            vectors[index] = vector
        }
        let complete = vectors.compactMap { $0 }
        guard items.count == count, complete.count == count else {
            throw EmbeddingError(
                code: .invalidResponse,
                message: "embedding provider answered \(items.count) vectors for \(count) inputs"
            )
        }
        return complete
    }

    /// The message in `{"error": {"message": …, "code": …}}`, `{"error": "…"}` or `{"message": …}`; else the
    /// start of the body.
    static func errorMessage(_ body: String) -> String {
        let json = try? JSONValue(parsing: body)
        var message: String?
        switch json?["error"] {
        case .string(let text)?: message = text
        case .object?:
            let error = json?["error"]
            message = error?["message"]?.stringValue
            if let code = error?["code"], code != .null {
                let codeText = code.stringValue ?? code.intValue.map(String.init) ?? code.jsonText
                message = "\(message ?? "error") (code \(codeText))"
            }
        default: message = json?["message"]?.stringValue ?? json?["detail"]?.stringValue
        }
        let text = message ?? body.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no details" : String(text.prefix(500))
    }

    /// `Retry-After` in seconds or as an HTTP date, else OpenAI's `x-ratelimit-reset-requests` / `-tokens`
    /// (`1s`, `6m0s`, `250ms`), whichever asks for longer.
    public static func retryAfter(_ headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        if let value = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Double(value), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
            if let date = formatter.date(from: value) {
                return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
            }
        }
        let resets = ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"].compactMap {
            headers.first(name: $0).flatMap(parseGoDuration)
        }
        return resets.max()
    }

    /// `1h2m3.5s`, `250ms`, `6m0s`.
    public static func parseGoDuration(_ text: String) -> Duration? {
        var total = 0.0
        var number = ""
        var index = text.startIndex
        var matched = false
        while index < text.endIndex {
            let character = text[index]
            if character.isNumber || character == "." {
                number.append(character)
                index = text.index(after: index)
                continue
            }
            var unit = String(character)
            let next = text.index(after: index)
            if character == "m", next < text.endIndex, text[next] == "s" { unit = "ms" }
            guard let value = Double(number) else { return nil }
            switch unit {
            case "h": total += value * 3600
            case "m": total += value * 60
            case "s": total += value
            case "ms": total += value / 1000
            default: return nil
            }
            matched = true
            number = ""
            index = text.index(index, offsetBy: unit.count)
        }
        guard matched, number.isEmpty else { return nil }
        return .milliseconds(Int64(total * 1000))
    }

    /// Removes the API key from text that came from elsewhere (an echoing server, an error description).
    private func redacted(_ text: String) -> String {
        guard let key = settings.apiKey, !key.isEmpty else { return text }
        return text.replacingOccurrences(of: key, with: "[redacted]")
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension JSONValue {
    /// A JSON number as a `Float`; nil for anything else.
    var floatValue: Float? {
        switch self {
        case .int(let value): Float(value)
        case .double(let value): Float(value)
        default: nil
        }
    }
}
