import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceServer
import SluiceStores
import Testing

@Suite("Accounts and sessions", .timeLimit(.minutes(5)))
struct AuthTests {
    @Test("login sets a hashed, HttpOnly, SameSite=Lax session; me; logout ends it", arguments: StoreKind.sql)
    func sessionLifecycle(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let login = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "  Admin@Example.com ", "password": "\#(Harness.password)"}"#
            )
            #expect(login.status == .ok)
            #expect(login.json?["user"]?["email"] == "admin@example.com")
            #expect(login.json?["user"]?["role"] == "ADMIN")
            #expect(login.json?["user"]?["passwordHash"] == nil)
            let setCookie = try #require(login.headers[.setCookie])
            #expect(setCookie.hasPrefix("sluice_session="))
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Lax"))
            #expect(setCookie.contains("Path=/"))
            #expect(!setCookie.contains("Secure"), "no Secure flag in development (plain http://localhost)")
            let cookie = String(setCookie.split(separator: ";")[0])
            let token = String(cookie.dropFirst("sluice_session=".count))
            #expect(token.count >= 43)

            // Only the token's SHA-256 is stored.
            #expect(try await server.app.accounts.store.session(tokenHash: token, now: server.clock.now()) == nil)
            let stored = try await server.app.accounts.store.session(
                tokenHash: SecretToken.digest(token),
                now: server.clock.now()
            )
            #expect(stored?.1.email == "admin@example.com")

            let me = try await server.request(.get, "/api/auth/me", cookie: cookie)
            #expect(me.json == ["user": ["id": .string(stored!.1.id), "email": "admin@example.com", "role": "ADMIN"]])

            let logout = try await server.request(.post, "/api/auth/logout", cookie: cookie)
            #expect(logout.status == .ok)
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await server.request(.get, "/api/auth/me", cookie: cookie).status == .unauthorized)
            #expect(
                try await server.request(.get, "/api/admin/queue/stats", cookie: cookie).status == .unauthorized
            )
            // Logging out without a session is harmless.
            #expect(try await server.request(.post, "/api/auth/logout").status == .ok)
        }
    }

    @Test("sessions expire; a role change or deletion applies at the next request", arguments: StoreKind.sql)
    func expiryAndRoleChanges(kind: StoreKind) async throws {
        try await withServer(kind) { server in
            let cookie = try await server.login(.manager)
            #expect(try await server.request(.get, "/api/admin/queue/stats", cookie: cookie).status == .ok)
            #expect(try await server.app.accounts.store.setRole(email: Harness.email(.manager), role: .viewer))
            #expect(try await server.request(.get, "/api/admin/queue/stats", cookie: cookie).status == .forbidden)

            server.clock.advance(by: server.app.accounts.options.sessionLifetime - .seconds(1))
            #expect(try await server.request(.get, "/api/auth/me", cookie: cookie).status == .ok)
            server.clock.advance(by: .seconds(2))
            #expect(try await server.request(.get, "/api/auth/me", cookie: cookie).status == .unauthorized)
            #expect(try await server.app.accounts.store.deleteExpiredSessions(now: server.clock.now()) >= 1)

            let admin = try await server.login(.admin)
            #expect(try await server.app.accounts.store.deleteUser(email: Harness.email(.admin)))
            #expect(try await server.request(.get, "/api/auth/me", cookie: admin).status == .unauthorized)
        }
    }

    @Test("wrong email and wrong password get the same answer; repeated failures are slowed down")
    func failedLogins() async throws {
        try await withServer(.memory) { server in
            let wrongPassword = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "admin@example.com", "password": "nope-nope"}"#
            )
            let wrongEmail = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "ghost@example.com", "password": "nope-nope"}"#
            )
            #expect(wrongPassword.status == .unauthorized)
            #expect(wrongEmail.status == wrongPassword.status)
            #expect(wrongEmail.text == wrongPassword.text)
            #expect(wrongEmail.headers[.setCookie] == nil)

            // Five failures of one account from one address are free (one above, four more); the sixth attempt
            // must wait, even with the right password.
            for _ in 0..<4 {
                let failed = try await server.request(
                    .post,
                    "/api/auth/login",
                    body: #"{"email": "admin@example.com", "password": "nope-nope"}"#
                )
                #expect(failed.status == .unauthorized)
            }
            let slowed = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "admin@example.com", "password": "\#(Harness.password)"}"#
            )
            #expect(slowed.status == .tooManyRequests)
            #expect(slowed.headers[.retryAfter] == "1")
            #expect(slowed.error?.contains("try again") == true)
            // The same account spelled another way is the same account (M3): wrapped in new lines, upper case.
            let respelled = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "\n\r ADMIN@example.com\u2028\n", "password": "\#(Harness.password)"}"#
            )
            #expect(respelled.status == .tooManyRequests)
            // Once the wait is over the right password works…
            server.clock.advance(by: .seconds(1))
            #expect(try await server.login(.admin).hasPrefix("sluice_session="))
            // …and failures against other accounts from the same address (every user behind a reverse proxy shares
            // one) never refuse another user's right password (M5).
            for _ in 0..<8 {
                _ = try await server.request(
                    .post,
                    "/api/auth/login",
                    body: #"{"email": "viewer@example.com", "password": "nope-nope"}"#
                )
            }
            let waits = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "viewer@example.com", "password": "nope-nope"}"#
            )
            #expect(waits.status == .tooManyRequests)
            #expect(try await server.login(.manager).hasPrefix("sluice_session="))
        }
    }

    @Test("a cookie-authenticated POST from another site is refused (CSRF)")
    func crossSiteRequests() async throws {
        try await withServer(.memory) { server in
            let admin = try await server.login(.admin)
            let id = try await server.app.queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            let uri = "/api/admin/queue/cancel?jobId=\(id)"
            let foreign = try await server.request(
                .post,
                uri,
                cookie: admin,
                headers: [.origin: "https://evil.example"]
            )
            #expect(foreign.status == .forbidden)
            #expect(foreign.error?.contains("cross-site") == true)
            let fetchSite = try await server.request(
                .post,
                uri,
                cookie: admin,
                headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"]
            )
            #expect(fetchSite.status == .forbidden)
            let null = try await server.request(.post, uri, cookie: admin, headers: [.origin: "null"])
            #expect(null.status == .forbidden)
            #expect(try await server.app.queue.getJob(id).status == .pending)
            let login = try await server.request(
                .post,
                "/api/auth/login",
                headers: [.origin: "https://evil.example"],
                body: #"{"email": "admin@example.com", "password": "\#(Harness.password)"}"#
            )
            #expect(login.status == .forbidden)
            // The router test client addresses "localhost".
            let same = try await server.request(.post, uri, cookie: admin, headers: [.origin: "http://localhost"])
            #expect(same.status == .ok)
        }
    }

    @Test("production marks the cookie Secure")
    func secureCookieInProduction() async throws {
        try await withServer(.memory, configuration: .testing(.production, cronSecret: "s")) { server in
            let login = try await server.request(
                .post,
                "/api/auth/login",
                body: #"{"email": "viewer@example.com", "password": "\#(Harness.password)"}"#
            )
            #expect(login.headers[.setCookie]?.contains("Secure") == true)
        }
    }

    @Test("bad input: 4xx with a JSON error, never a 500")
    func badInput() async throws {
        try await withServer(.memory) { server in
            let manager = try await server.login(.manager)
            let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
                (.post, "/api/auth/login", "{not json", .badRequest),
                (.post, "/api/auth/login", "[1, 2]", .badRequest),
                (.post, "/api/auth/login", "", .badRequest),
                (.post, "/api/auth/login", #"{"email": 5, "password": "x"}"#, .badRequest),
                (.post, "/api/auth/login", #"{"email": "a@b.c"}"#, .badRequest),
                (.post, "/api/auth/login", String(repeating: "x", count: 2 << 20), .contentTooLarge),
                (.get, "/api/nothing-here", nil, .notFound),
                (.get, "/", nil, .notFound),
                (.delete, "/api/admin/queue/stats", nil, .methodNotAllowed),
                (.get, "/api/auth/login", nil, .methodNotAllowed),
                (.post, "/api/admin/queue/stats", nil, .methodNotAllowed),
                (.get, "/api/admin/queue/stats?limit=-1", nil, .badRequest),
                (.get, "/api/admin/queue/stats?limit=%FF", nil, .badRequest),
            ]
            for (method, uri, body, expected) in cases {
                let exchange = try await server.request(method, uri, cookie: manager, body: body)
                #expect(exchange.status == expected, "\(method) \(uri.prefix(60)) \(body?.prefix(20) ?? "")")
                #expect(exchange.error?.isEmpty == false, "\(method) \(uri.prefix(60)): \(exchange.text.prefix(200))")
                #expect(exchange.headers[.contentType]?.hasPrefix("application/json") == true)
            }
            let wrongMethod = try await server.request(.put, "/api/admin/queue/retry", cookie: manager)
            #expect(wrongMethod.headers[.allow] == "POST")

            // Typed bodies: a refusal names the member that is wrong and the shape expected.
            let admin = try await server.login(.admin)
            let refusals: [(String, String, String)] = [
                ("/api/auth/login", #"{"email": "a@b.c"}"#, "password is missing"),
                ("/api/auth/login", #"{"email": 5, "password": "x"}"#, "email must be a string"),
                ("/api/admin/queue/bulk", #"{"action": "retry", "status": 5}"#, "status must be a string"),
                ("/api/admin/tokens", #"{"name": "t", "role": "ADMIN", "expiresInDays": "ten"}"#, "expiresInDays"),
                ("/api/projects", #"{"name": null}"#, "name must not be null"),
            ]
            for (uri, body, words) in refusals {
                let exchange = try await server.request(.post, uri, cookie: admin, body: body)
                #expect(exchange.status == .badRequest, "\(uri) \(body)")
                #expect(exchange.error?.contains(words) == true, "\(uri): \(exchange.error ?? exchange.text)")
                #expect(exchange.error?.hasPrefix("body must be {") == true, "\(exchange.error ?? "")")
            }
        }
    }

    @Test("account store: unique emails, roles, cascade to sessions", arguments: StoreKind.allCases)
    func accountStore(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let clock = ManualWallClock()
            let accounts = Accounts(
                store: stores.accounts,
                options: AccountOptions(passwordHasher: PasswordHasher(cost: 4)),
                clock: clock
            )
            guard
                case .generated(let email, let password) = try await accounts.bootstrapAdmin(email: nil, password: nil)
            else {
                Issue.record("the first bootstrap on an empty database did not generate an admin")
                return
            }
            #expect(email == "admin@sluice.local")
            #expect(password.count == 20)
            #expect(try await accounts.bootstrapAdmin(email: "b@c.de", password: "whatever123") == .usersExist)
            #expect(try await stores.accounts.userCount() == 1)
            let user = try #require(try await stores.accounts.users().first)
            #expect(user.role == .admin)
            #expect(user.passwordHash.hasPrefix("$2b$04$"))
            #expect(!user.passwordHash.contains(password))

            await #expect(throws: AccountError.emailTaken(user.email)) {
                try await accounts.createUser(email: user.email.uppercased(), password: "long enough", role: .viewer)
            }
            await #expect(throws: AccountError.self) {
                try await accounts.createUser(email: "not-an-email", password: "long enough", role: .viewer)
            }
            await #expect(throws: AccountError.self) {
                try await accounts.createUser(email: "x@y.zz", password: "short", role: .viewer)
            }
            #expect(try await stores.accounts.userCount() == 1)

            let signedIn = try #require(try await accounts.signIn(email: email, password: password))
            #expect(try await accounts.user(forToken: signedIn.token)?.1.email == email)
            #expect(try await stores.accounts.setRole(email: email, role: .manager))
            #expect(try await accounts.user(forToken: signedIn.token)?.1.role == .manager)
            #expect(try await !stores.accounts.setRole(email: "nobody@x.io", role: .manager))
            #expect(try await stores.accounts.deleteUser(email: email))
            #expect(try await accounts.user(forToken: signedIn.token) == nil)
            #expect(try await stores.accounts.session(tokenHash: signedIn.session.tokenHash, now: clock.now()) == nil)
            #expect(try await !stores.accounts.deleteUser(email: email))
        }
    }

    @Test("passwords: bcrypt at cost 12 by default, verified; secrets compared by digest")
    func passwordHashing() async throws {
        #expect(PasswordHasher().cost == 12)
        let hasher = PasswordHasher(cost: 5)
        let hash = try await hasher.hash("a long password")
        #expect(hash.hasPrefix("$2b$05$"))
        #expect(try await hasher.verify("a long password", hash: hash))
        #expect(try await !hasher.verify("a long passworD", hash: hash))
        #expect(SecretToken.constantTimeEquals("abc", "abc"))
        #expect(!SecretToken.constantTimeEquals("abc", "abd"))
        #expect(!SecretToken.constantTimeEquals("abc", "abcd"))
        #expect(SecretToken.generate() != SecretToken.generate())
    }
}
