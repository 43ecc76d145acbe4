import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SluiceAccounts
import SluiceCore

/// API tokens for programs, managed by ADMINs: the same as `sluice tokens create|list|revoke`.
extension SluiceApp {
    func addTokenRoutes(to router: Router<SluiceRequestContext>) {
        let admins = router.group().add(middleware: RequireRole(.admin))
        admins.get("/api/admin/tokens") { _, _ -> TokensResponse in
            TokensResponse(tokens: try await accounts.apiTokens().map(TokenResponse.init))
        }
        admins.post("/api/admin/tokens") { request, context -> EditedResponse<TokenCreatedResponse> in
            let body = try await request.decode(as: TokenCreateRequest.self, context: context)
            guard let role = Role(parsing: body.role) else {
                throw APIError(.badRequest, "role must be VIEWER, MANAGER or ADMIN")
            }
            var lifetime: Duration?
            if let days = body.expiresInDays {
                guard (1...3_650).contains(days) else {
                    throw APIError(.badRequest, "expiresInDays must be a whole number from 1 to 3650")
                }
                lifetime = .seconds(days * 86_400)
            }
            let (token, record) = try await accounts.createToken(name: body.name, role: role, lifetime: lifetime)
            context.logger.notice("API token created", metadata: [LogKey.token: "\(record.name)"])
            return EditedResponse(
                status: .created,
                response: TokenCreatedResponse(token: token, apiToken: TokenResponse(record))
            )
        }
        admins.delete("/api/admin/tokens/{id}") { _, context -> SuccessResponse in
            let id = try context.pathParameter("id")
            guard try await accounts.revokeToken(id) else { throw APIError(.notFound, "no API token \(id)") }
            context.logger.notice("API token revoked", metadata: [LogKey.token: "\(id)"])
            return SuccessResponse()
        }
    }
}

// MARK: Bodies
struct TokenCreateRequest: APIRequest {
    static let shape = #"{"name": string, "role": "VIEWER"|"MANAGER"|"ADMIN", "expiresInDays"?: integer}"#
    var name: String
    var role: String
    var expiresInDays: Int?
}

struct TokenResponse: Encodable, Sendable {
    var id: String
    var name: String
    var role: String
    var createdAt: Date
    @NullEncoded var expiresAt: Date?
    @NullEncoded var lastUsedAt: Date?

    init(_ token: APIToken) {
        id = token.id
        name = token.name
        role = token.role.rawValue
        createdAt = token.createdAt
        expiresAt = token.expiresAt
        lastUsedAt = token.lastUsedAt
    }
}

struct TokensResponse: ResponseEncodable, Sendable {
    var tokens: [TokenResponse]
}

struct TokenCreatedResponse: ResponseEncodable, Sendable {
    var token: String
    var apiToken: TokenResponse
}
