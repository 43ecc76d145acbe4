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
        admins.get("/api/admin/tokens") { _, context -> Response in
            return JSONResponse.make(["tokens": .array(try await accounts.apiTokens().map(Self.tokenJSON))])
        }
        admins.post("/api/admin/tokens") { request, context -> Response in
            let body = try await request.jsonObject(upTo: configuration.maxBodyBytes)
            guard let name = body["name"]?.stringValue, let roleText = body["role"]?.stringValue else {
                throw APIError(
                    .badRequest,
                    "body must be {\"name\": string, \"role\": VIEWER|MANAGER|ADMIN, \"expiresInDays\"?}"
                )
            }
            guard let role = Role(parsing: roleText) else {
                throw APIError(.badRequest, "role must be VIEWER, MANAGER or ADMIN")
            }
            var lifetime: Duration?
            switch body["expiresInDays"] {
            case nil, .null?: break
            case let value?:
                guard let days = value.intValue, (1...3_650).contains(days) else {
                    throw APIError(.badRequest, "expiresInDays must be a whole number from 1 to 3650")
                }
                lifetime = .seconds(days * 86_400)
            }
            let (token, record) = try await accounts.createToken(name: name, role: role, lifetime: lifetime)
            context.logger.notice("API token created", metadata: [LogKey.token: "\(record.name)"])
            return JSONResponse.make(["token": .string(token), "apiToken": Self.tokenJSON(record)], status: .created)
        }
        admins.delete("/api/admin/tokens/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await accounts.revokeToken(id) else { throw APIError(.notFound, "no API token \(id)") }
            context.logger.notice("API token revoked", metadata: [LogKey.token: "\(id)"])
            return JSONResponse.make(["success": true])
        }
    }

    static func tokenJSON(_ token: APIToken) -> JSONValue {
        [
            "id": .string(token.id), "name": .string(token.name), "role": .string(token.role.rawValue),
            "createdAt": JSONResponse.timestamp(token.createdAt), "expiresAt": JSONResponse.timestamp(token.expiresAt),
            "lastUsedAt": JSONResponse.timestamp(token.lastUsedAt),
        ]
    }
}
