import Foundation
import HTTPTypes
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceServer
import Testing

@Suite("API tokens", .timeLimit(.minutes(5)))
struct TokenTests {
    @Test(
        "a token acts with its role on every API route; a foreign Origin is fine without a cookie",
        arguments: StoreKind.sql
    )
    func roleMatrix(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            var bearer: [Role: HTTPFields] = [:]
            for role in Role.allCases {
                let (token, record) = try await server.app.accounts.createToken(
                    name: "program-\(role.rawValue)",
                    role: role,
                    lifetime: nil
                )
                #expect(token.hasPrefix("sluice_"))
                #expect(record.role == role)
                bearer[role] = [.authorization: "Bearer \(token)"]
            }
            let job = try await server.app.queue.enqueue(NewJob(jobType: .ingestData)).id
            // (method, path, body, lowest role allowed, status for that role)
            let routes: [(HTTPRequest.Method, String, String?, Role, HTTPResponse.Status)] = [
                (.get, "/api/auth/me", nil, .viewer, .ok),
                (.get, "/api/admin/queue/stats", nil, .manager, .ok),
                (.get, "/api/admin/queue/jobs/\(job)", nil, .manager, .ok),
                (.get, "/api/admin/queue/throughput", nil, .manager, .ok),
                (.get, "/api/projects", nil, .manager, .ok),
                (.get, "/api/admin/queue/bulk?action=retry", nil, .admin, .ok),
                (.post, "/api/admin/queue/retry?jobId=nope", nil, .admin, .notFound),
                (.get, "/api/admin/tokens", nil, .admin, .ok),
            ]
            for (method, path, body, lowest, status) in routes {
                for role in Role.allCases {
                    let answer = try await server.request(method, path, headers: bearer[role]!, body: body)
                    let expected: HTTPResponse.Status = role >= lowest ? status : .forbidden
                    #expect(answer.status == expected, "\(role) \(method) \(path): \(answer.text)")
                }
            }
            let me = try await server.request(.get, "/api/auth/me", headers: bearer[.manager]!)
            #expect(me.json?["user"]?["role"] == "MANAGER")
            #expect(me.json?["user"]?["email"] == "token program-MANAGER")

            // No cookie rides on a token request, so another site's Origin does not matter…
            var foreign = bearer[.manager]!
            foreign[.origin] = "https://evil.example"
            foreign[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
            let created = try await server.request(.post, "/api/projects", headers: foreign, body: #"{"name": "etl"}"#)
            #expect(created.status == .created, "\(created.text)")
            // …while the same request carried by a cookie is refused.
            let cookie = try await server.login(.manager)
            let refused = try await server.request(
                .post,
                "/api/projects",
                cookie: cookie,
                headers: [.origin: "https://evil.example"],
                body: #"{"name": "etl2"}"#
            )
            #expect(refused.status == .forbidden)
            // A token request's cookies are ignored: a bad token is refused even beside a good session.
            let mixed = try await server.request(
                .get,
                "/api/auth/me",
                cookie: cookie,
                headers: [.authorization: "Bearer sluice_not-a-real-token"]
            )
            #expect(mixed.status == .unauthorized)
            #expect(mixed.error?.contains("API token") == true)
            // Tokens are not sign-ins: many requests, none throttled.
            for _ in 0..<20 {
                #expect(try await server.request(.get, "/api/auth/me", headers: bearer[.viewer]!).status == .ok)
            }
        }
    }

    @Test(
        "a revoked or expired token is refused on the next request; last use is recorded",
        arguments: StoreKind.allCases
    )
    func revocationAndExpiry(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let admin = try await server.login(.admin)
            let made = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin,
                body: #"{"name": "nightly", "role": "MANAGER", "expiresInDays": 1}"#
            )
            #expect(made.status == .created, "\(made.text)")
            let token = try #require(made.json?["token"]?.stringValue)
            let id = try #require(made.json?["apiToken"]?["id"]?.stringValue)
            let headers: HTTPFields = [.authorization: "Bearer \(token)"]
            #expect(try await server.request(.get, "/api/admin/queue/stats", headers: headers).status == .ok)
            let listed = try await server.request(.get, "/api/admin/tokens", cookie: admin)
            #expect(!listed.text.contains(token), "the list never shows a token")
            let entry = listed.json?["tokens"]?[0]
            #expect(entry?["name"] == "nightly")
            #expect(entry?["lastUsedAt"]?.stringValue != nil)
            #expect(entry?["expiresAt"]?.stringValue != nil)

            server.clock.advance(by: .seconds(86_400 + 1))
            let expired = try await server.request(.get, "/api/admin/queue/stats", headers: headers)
            #expect(expired.status == .unauthorized)

            // Revoked by id; another token by name, through the API.
            let other = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: try await server.login(.admin),
                body: #"{"name": "adhoc", "role": "viewer"}"#
            )
            let otherToken = try #require(other.json?["token"]?.stringValue)
            let admin2 = try await server.login(.admin)
            #expect(try await server.request(.delete, "/api/admin/tokens/\(id)", cookie: admin2).status == .ok)
            #expect(try await server.request(.delete, "/api/admin/tokens/adhoc", cookie: admin2).status == .ok)
            #expect(try await server.request(.delete, "/api/admin/tokens/adhoc", cookie: admin2).status == .notFound)
            let revoked = try await server.request(
                .get,
                "/api/auth/me",
                headers: [.authorization: "Bearer \(otherToken)"]
            )
            #expect(revoked.status == .unauthorized)
            // Only ADMINs manage tokens; names are unique.
            let manager = try await server.login(.manager)
            let denied = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: manager,
                body: #"{"name": "x", "role": "admin"}"#
            )
            #expect(denied.status == .forbidden)
            _ = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin2,
                body: #"{"name": "dup", "role": "viewer"}"#
            )
            let duplicate = try await server.request(
                .post,
                "/api/admin/tokens",
                cookie: admin2,
                body: #"{"name": "dup", "role": "viewer"}"#
            )
            #expect(duplicate.status == .conflict)
        }
    }
}
