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

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
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
            let allowed = Routes.methods(forPath: request.uri.path)
            if !allowed.isEmpty {
                return APIError(
                    .methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)",
                    headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
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
                context.logger.error("database unavailable", metadata: ["sluice.error": "\(error)"])
                return APIError(.serviceUnavailable, "the database is unavailable; try again shortly")
            default:
                context.logger.error("request failed", metadata: ["sluice.error": "\(error)"])
                return APIError(.internalServerError, "internal server error")
            }
        case let error as AccountError:
            return APIError(error.code == .emailTaken ? .conflict : .badRequest, error.message)
        case let error as PipelineError:
            switch error.code {
            case .nameTaken: return APIError(.conflict, error.message)
            case .projectNotFound, .ingestJobNotFound: return APIError(.notFound, error.message)
            default: return APIError(.badRequest, error.message)
            }
        case let error as any HTTPResponseError:
            return APIError(error.status, error.status.reasonPhrase)
        default:
            context.logger.error("request failed", metadata: ["sluice.error": "\(error)"])
            return APIError(.internalServerError, "internal server error")
        }
    }
}

/// Finds the signed-in user from the session cookie.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext
    let accounts: Accounts

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let token = request.cookies[SessionCookie.name]?.value,
            let (_, user) = try await accounts.user(forToken: token)
        {
            context.user = user
            context.logger[metadataKey: "sluice.user"] = "\(user.email)"
        }
        return try await next(request, context)
    }
}

/// Refuses state-changing requests that a browser sent from another site (CSRF): a POST whose `Origin` names a
/// different host than the one addressed, or that the browser marks `Sec-Fetch-Site: cross-site`. Clients that
/// are not browsers (curl, cron) send neither header and pass.
struct SameOriginMiddleware: RouterMiddleware {
    typealias Context = SluiceRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if ![.get, .head, .options].contains(request.method), !Self.isSameOrigin(request) {
            throw APIError(.forbidden, "cross-site request refused: the Origin does not match this server")
        }
        return try await next(request, context)
    }

    static func isSameOrigin(_ request: Request) -> Bool {
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" { return false }
        guard let origin = request.headers[.origin] else { return true }
        guard let url = URL(string: origin), let host = url.host else { return false }
        let originAuthority = url.port.map { "\(host):\($0)" } ?? host
        let target = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        return originAuthority.lowercased() == target.lowercased()
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
