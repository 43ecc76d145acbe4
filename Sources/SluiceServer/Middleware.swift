import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SluiceAccounts
import SluiceCore
import SluicePipeline

/// Answers every failure as JSON `{"error": "…"}` with the right status: the server's own errors as they are,
/// unknown routes as 404 (405 with `Allow` when the path exists under another method), queue and account errors
/// by their code, anything else as a logged 500 that shows the client nothing internal.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext
    /// The router's routes, for 405 answers.
    let routes: RouteTableBox

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try response(for: error, request, context).response(from: request, context: context)
        }
    }

    private func response(for error: any Error, _ request: Request, _ context: Context) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError where error.status == .notFound && error.body == nil:
            let allowed = routes.value?.methods(forPath: request.uri.path) ?? []
            if !allowed.isEmpty {
                return APIError(
                    .methodNotAllowed,
                    "\(request.method) is not allowed on \(request.uri.path)",
                    headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")]
                )
            }
            return APIError(.notFound, "no route for \(request.method) \(request.uri.path)")
        case let error as HTTPError:
            return APIError(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "request body is larger than \(context.maxUploadSize) bytes")
        case let error as QueueError:
            switch error.code {
            case .jobNotFound: return APIError(.notFound, error.message)
            case .invalidTransition, .invalidJob, .invalidJSON: return APIError(.badRequest, error.message)
            case .storeUnavailable, .schemaOutOfDate:
                context.logger.error("database unavailable", metadata: [LogKey.error: "\(error)"])
                return APIError(.serviceUnavailable, "the database is unavailable; try again shortly")
            default:
                context.logger.error("request failed", metadata: [LogKey.error: "\(error)"])
                return APIError(.internalServerError, "internal server error")
            }
        case let error as AccountError:
            return APIError([.emailTaken, .nameTaken].contains(error.code) ? .conflict : .badRequest, error.message)
        case let error as PipelineError:
            switch error.code {
            case .nameTaken: return APIError(.conflict, error.message)
            case .projectNotFound, .ingestJobNotFound: return APIError(.notFound, error.message)
            default: return APIError(.badRequest, error.message)
            }
        case let error as any HTTPResponseError:
            return APIError(error.status, error.status.reasonPhrase)
        default:
            context.logger.error("request failed", metadata: [LogKey.error: "\(error)"])
            return APIError(.internalServerError, "internal server error")
        }
    }
}

/// Finds who a request acts as: the API token in `Authorization: Bearer sluice_…` when it carries one (its cookies
/// are then ignored, so that such a request needs no cross-site check), else the session cookie's user. An unknown,
/// revoked or expired token is refused with 401 at once.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let accounts: Accounts

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let token = BearerToken.presented(in: request) {
            guard let record = try await accounts.apiToken(token) else {
                throw APIError(.unauthorized, "the API token is not valid: unknown, revoked or expired")
            }
            context.user = record.actor
            context.logger[metadataKey: LogKey.token] = "\(record.name)"
        } else if let token = request.cookies[SessionCookie.name]?.value,
            let (_, user) = try await accounts.user(forToken: token)
        {
            context.user = user
            context.logger[metadataKey: LogKey.user] = "\(user.email)"
        }
        return try await next(request, context)
    }
}

/// API tokens as requests present them.
enum BearerToken {
    /// The token of `Authorization: Bearer sluice_…`, if the request carries one. The worker endpoints' bearer
    /// `CRON_SECRET` is not an API token: their paths are left to their own check.
    static func presented(in request: Request) -> String? {
        guard !request.uri.path.hasPrefix("/api/workers/"), let header = request.headers[.authorization],
            header.count > 7, header.prefix(7).lowercased() == "bearer "
        else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.hasPrefix(APIToken.prefix) ? token : nil
    }
}

/// Refuses state-changing requests that a browser sent from another site (CSRF). A POST passes when its `Origin`
/// names this server exactly (scheme, host and port) and, if the browser sent `Sec-Fetch-Site`, that says
/// `same-origin` or `none`. This server is the configured public URL when there is one (which also refuses a
/// request whose `Host` names another server, as a DNS-rebinding page's would), else the `Host` the request
/// addressed, over `https` in production and `http` in development. Clients that are not browsers (curl, cron)
/// send neither header and pass; so do requests signed with a bearer token, which carry no cookie (the session
/// middleware ignores cookies when a token is presented).
struct SameOriginMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext
    /// `https://sluice.example.com` (no path), when configured.
    let publicOrigin: String?
    /// The scheme browsers reach this server with when no public origin is configured.
    let scheme: String

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if ![.get, .head, .options].contains(request.method), !isAllowed(request) {
            throw APIError(.forbidden, "cross-site request refused: the Origin does not match this server")
        }
        return try await next(request, context)
    }

    func isAllowed(_ request: Request) -> Bool {
        if BearerToken.presented(in: request) != nil { return true }
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], !["same-origin", "none"].contains(site) {
            return false
        }
        guard let origin = request.headers[.origin] else { return true }
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        let wanted: (scheme: String, authority: String)
        if let publicOrigin, let configured = Self.origin(publicOrigin) {
            // A browser's request must address the public name too.
            guard Self.origin("\(configured.scheme)://\(host)")?.authority == configured.authority else { return false }
            wanted = configured
        } else {
            guard let addressed = Self.origin("\(scheme)://\(host)") else { return false }
            wanted = addressed
        }
        guard let given = Self.origin(origin) else { return false }
        return given == wanted
    }

    /// Scheme and authority of an origin, lower-cased, the port left out when it is the scheme's default, IPv6
    /// literals in brackets (`URL.host` drops them).
    static func origin(_ text: String) -> (scheme: String, authority: String)? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(),
            url.user == nil, url.path.isEmpty || url.path == "/"
        else { return nil }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        let authority = url.port.map { $0 == defaultPort ? bracketed : "\(bracketed):\($0)" } ?? bracketed
        return (scheme, authority)
    }
}

/// The session cookie: a random token (only its SHA-256 is stored), HttpOnly so scripts cannot read it,
/// SameSite=Lax so other sites' forms do not carry it, Secure in production.
enum SessionCookie {
    static let name = "sluice_session"

    static func make(token: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: name, value: token, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    static func expired(secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}
