import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SluiceAccounts
import SluiceCore

extension SluiceApp {
    func addAuthRoutes(to router: Router<SluiceRequestContext>) {
        let viewers = router.group().add(middleware: RequireRole(.viewer))
        router.post("/api/auth/login") { request, context -> EditedResponse<LoginResponse> in
            try await login(request, context)
        }
        router.post("/api/auth/logout") { request, _ -> EditedResponse<SuccessResponse> in
            if let token = request.cookies[SessionCookie.name]?.value, !token.isEmpty {
                try await accounts.signOut(token: token)
            }
            let expired = SessionCookie.expired(secure: configuration.environment == .production)
            return EditedResponse(headers: [.setCookie: expired.description], response: SuccessResponse())
        }
        viewers.get("/api/auth/me") { _, context -> MeResponse in
            MeResponse(user: UserResponse(try context.requireUser()))
        }
    }

    private func login(_ request: Request, _ context: SluiceRequestContext) async throws -> EditedResponse<
        LoginResponse
    > {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        let (user, session, cookie) = try await signIn(email: body.email, password: body.password, request, context)
        return EditedResponse(
            headers: [.setCookie: cookie.description],
            response: LoginResponse(user: UserResponse(user), expiresAt: session.expiresAt)
        )
    }

    /// Checks an email and password behind the failed-sign-in throttle, for the API and the sign-in page alike:
    /// the user, their new session and its cookie, or an ``APIError`` (401 wrong credentials, 429 throttled).
    func signIn(email: String, password: String, _ request: Request, _ context: SluiceRequestContext) async throws -> (
        User, Session, Cookie
    ) {
        // The account as sign-in resolves it; every malformed email is one account that cannot exist.
        let account = (try? Accounts.normalizedEmail(email)) ?? "\u{0}malformed"
        let address = clientAddress(request, context)
        let attempt: LoginThrottle.Attempt
        switch throttle.begin(account: account, address: address) {
        case .wait(let seconds):
            throw APIError(
                .tooManyRequests,
                "too many sign-in attempts; try again in \(seconds) s",
                headers: [.retryAfter: "\(seconds)"]
            )
        case .proceed(let started):
            attempt = started
        }
        let signedIn: (token: String, session: Session, user: User)?
        do {
            signedIn = try await accounts.signIn(email: email, password: password)
        } catch {
            throttle.finish(attempt, succeeded: false)
            throw error
        }
        throttle.finish(attempt, succeeded: signedIn != nil)
        guard let (token, session, user) = signedIn else {
            context.logger.notice("sign-in refused", metadata: [LogKey.address: "\(address)"])
            throw APIError(.unauthorized, "invalid email or password")
        }
        let maxAge = Int(session.expiresAt.timeIntervalSince(session.createdAt))
        let cookie = SessionCookie.make(
            token: token,
            maxAge: maxAge,
            secure: configuration.environment == .production
        )
        return (user, session, cookie)
    }

    /// The client's address: the socket's peer, or, when the peer is a trusted proxy, the last address in
    /// `X-Forwarded-For` that is not a trusted proxy.
    func clientAddress(_ request: Request, _ context: SluiceRequestContext) -> String {
        let peer = context.remoteAddress?.ipAddress.map(IPAddressText.normalized) ?? "unknown"
        guard configuration.trustedProxies.contains(peer) else { return peer }
        let forwarded = request.headers[values: HTTPField.Name("X-Forwarded-For")!]
            .flatMap { $0.split(separator: ",") }
            .map { IPAddressText.normalized($0.trimmingCharacters(in: .whitespaces)) }
        return forwarded.reversed().first { !configuration.trustedProxies.contains($0) && IPAddressText.isAddress($0) }
            ?? peer
    }
}

// MARK: Bodies

struct LoginRequest: APIRequest {
    static let shape = #"{"email": string, "password": string}"#
    var email: String
    var password: String
}

struct UserResponse: Encodable, Sendable {
    var id: String
    var email: String
    var role: String

    init(_ user: User) {
        id = user.id
        email = user.email
        role = user.role.rawValue
    }
}

struct LoginResponse: ResponseEncodable, Sendable {
    var user: UserResponse
    var expiresAt: Date
}

struct MeResponse: ResponseEncodable, Sendable {
    var user: UserResponse
}
