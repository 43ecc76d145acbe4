import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import SluiceCore

/// The queue monitor's Mustache templates and static files, read once from the package resources.
///
/// Templates escape every `{{value}}` as HTML; none of them uses the unescaped `{{{value}}}` form, so a job's
/// type, result, error or progress message is always shown as text. Each template starts with
/// `{{% CONTENT_TYPE: HTML_SCALARS }}`, which selects ``ScalarHTMLEscaping`` (every template and partial must:
/// swift-mustache starts each partial with its own HTML escaping, and a test renders them all with hostile values).
struct WebUI: Sendable {
    let templates: MustacheLibrary
    let assets: [String: Asset]

    /// A static file, served from memory.
    struct Asset: Sendable {
        let contentType: String
        let body: ByteBuffer
        /// Validator for conditional requests: the file's length and an FNV-1a hash of its bytes.
        let etag: String
    }

    /// The files shipped with this build. A failure here means a broken installation (the resource bundle is
    /// missing); pages then answer 500 and say so in the log.
    static let bundled: Result<WebUI, any Error> = Result {
        guard let folder = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw QueueError.invalidConfiguration("the SluiceServer resource bundle has no Resources folder")
        }
        return try WebUI(folder: folder)
    }

    init(folder: URL) throws {
        MustacheContentTypes.register(ScalarHTMLEscaping(), named: ScalarHTMLEscaping.name)
        var library = MustacheLibrary()
        let templateFolder = folder.appendingPathComponent("templates")
        for name in try FileManager.default.contentsOfDirectory(atPath: templateFolder.path)
        where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: templateFolder.appendingPathComponent(name), encoding: .utf8)
            try library.register(text, named: String(name.dropLast(".mustache".count)))
        }
        templates = library
        var assets: [String: Asset] = [:]
        let staticFolder = folder.appendingPathComponent("static")
        for name in try FileManager.default.contentsOfDirectory(atPath: staticFolder.path) {
            let data = try Data(contentsOf: staticFolder.appendingPathComponent(name))
            let type =
                switch (name as NSString).pathExtension {
                case "css": "text/css; charset=utf-8"
                case "js": "text/javascript; charset=utf-8"
                case "png": "image/png"
                default: "application/octet-stream"
                }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a: cheap, and only needs to change with the bytes
            for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            assets[name] = Asset(
                contentType: type,
                body: ByteBuffer(bytes: data),
                etag: "\"\(data.count)-\(String(hash, radix: 16))\""
            )
        }
        self.assets = assets
    }

    /// Renders template `name` with `values`.
    func render(_ name: String, _ values: [String: Any]) throws -> String {
        guard let html = templates.render(values, withTemplate: name) else {
            throw QueueError.invalidConfiguration("no template named \(name)")
        }
        return html
    }
}

/// HTML escaping per Unicode scalar, as browsers tokenize. swift-mustache's own `HTML` content type looks at whole
/// `Character`s (grapheme clusters), so a `"` followed by a combining mark (U+0301), or a `<` after a prepended
/// mark (U+0600), is one `Character` that is not `"` or `<` and passed unescaped, while a browser still reads a
/// quote or a tag there.
struct ScalarHTMLEscaping: MustacheContentType {
    static let name = "HTML_SCALARS"

    func escapeText(_ text: String) -> String {
        Self.escape(text)
    }

    static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { [0x26, 0x3C, 0x3E, 0x22, 0x27].contains($0) }) else { return text }
        var escaped = String.UnicodeScalarView()
        escaped.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped.append(contentsOf: "&amp;".unicodeScalars)
            case "<": escaped.append(contentsOf: "&lt;".unicodeScalars)
            case ">": escaped.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": escaped.append(contentsOf: "&quot;".unicodeScalars)
            case "'": escaped.append(contentsOf: "&#39;".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }
}

/// HTML responses with the headers every page carries: no inline script or style may run (the pages use none),
/// nothing may frame them, and nothing is cached.
enum HTMLResponse {
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
            + "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        .cacheControl: "no-store",
    ]

    static func make(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// 303 See Other: after a form post, and to send a visitor to the sign-in page.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }
}

/// How the monitor writes times, ages and JSON.
enum Display {
    /// "just now", "12 s ago", "5 min ago", "3 h ago", "2 d ago", or "in 5 min" for a time still to come.
    static func relative(_ date: Date, now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(date).rounded())
        guard abs(seconds) >= 5 else { return "just now" }
        let span = duration(abs(seconds))
        return seconds < 0 ? "in \(span)" : "\(span) ago"
    }

    /// "12 s", "5 min", "3 h", "2 d".
    static func duration(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: "\(seconds) s"
        case ..<3_600: "\(seconds / 60) min"
        case ..<86_400: "\(seconds / 3_600) h"
        default: "\(seconds / 86_400) d"
        }
    }

    /// "2026-11-29 06:27:27 UTC": shown on hover.
    static func exact(_ date: Date) -> String {
        let iso = date.formatted(Date.ISO8601FormatStyle())
        return iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    /// The values a `<time>` element needs.
    static func time(_ date: Date, now: Date) -> [String: Any] {
        [
            "iso": date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "exact": exact(date), "relative": relative(date, now: now),
        ]
    }

    /// JSON indented two spaces per level, keys sorted.
    static func prettyJSON(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let items) where !items.isEmpty:
            return "[\n" + items.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let fields) where !fields.isEmpty:
            let lines = fields.keys.sorted().map { key in
                inner + JSONValue.string(key).jsonText + ": " + prettyJSON(fields[key]!, indent: inner)
            }
            return "{\n" + lines.joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.jsonText
        }
    }

    /// At most `limit` characters, with an ellipsis when cut.
    static func truncated(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }
}
