import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceAccounts
import SluiceCore
import SluicePipeline
import SluiceStores
import Synchronization
import Testing

/// `sluice serve` and `sluice users` as processes, the way an operator runs them.
@Suite("sluice serve and users", .timeLimit(.minutes(5)))
struct ServeProcessTests {
    /// A running `sluice serve`, its address, and what it has written to standard error so far.
    final class ServerProcess: Sendable {
        let process: Process
        let stderr = OutputBuffer()

        final class OutputBuffer: Sendable {
            let text = Mutex("")
        }

        init(
            arguments: [String],
            environment: [String: String],
            command: [String] = ["serve", "--port", "0"],
            directory: URL? = nil
        ) throws {
            process = Process()
            if let directory { process.currentDirectoryURL = directory }
            process.executableURL = productsDirectory().appendingPathComponent("sluice")
            process.arguments = command + arguments
            var env = ProcessInfo.processInfo.environment
            for key in [
                "DATABASE_URL", "SLUICE_ADMIN_EMAIL", "SLUICE_ADMIN_PASSWORD", "CRON_SECRET", "APP_ENV", "PORT",
            ] {
                env[key] = nil
            }
            env["SLUICE_BCRYPT_COST"] = "4"
            for (key, value) in environment { env[key] = value }
            process.environment = env
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = FileHandle.nullDevice
            pipe.fileHandleForReading.readabilityHandler = { [stderr] handle in
                let data = handle.availableData
                stderr.text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            try process.run()
        }

        var output: String { stderr.text.withLock { $0 } }

        /// The port from the "sluice serving http://127.0.0.1:PORT" line.
        func port(timeout: Duration = .seconds(60)) async throws -> Int {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let range = output.range(of: "sluice serving http://127.0.0.1:") {
                    let digits = output[range.upperBound...].prefix { $0.isNumber }
                    if let port = Int(digits) { return port }
                }
                guard process.isRunning else { throw TestSetupError("sluice serve exited: \(output)") }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw TestSetupError("sluice serve did not start: \(output)")
        }

        /// Sends SIGTERM and waits for the exit status.
        func terminate() async throws -> Int32 {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(30)
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                throw TestSetupError("sluice serve ignored SIGTERM for 30 s")
            }
            return process.terminationStatus
        }
    }

    private func send(
        _ client: HTTPClient,
        _ method: HTTPMethod,
        _ url: String,
        cookie: String? = nil,
        body: String? = nil
    ) async throws -> (status: Int, headers: HTTPHeaders, text: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers, String(buffer: buffer))
    }

    @Test("serve: first start prints a generated admin password once; sign in; SIGTERM stops it cleanly")
    func serveProcess() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite:\(folder.path)/sluice.sqlite"
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let server = try ServerProcess(arguments: ["--database-url", url], environment: [:], directory: folder)
            let port = try await server.port()
            let base = "http://127.0.0.1:\(port)"
            // Standard error is a pipe here, as under a service manager that keeps it in a log: the generated
            // password goes to a file only its owner can read, never to the log.
            let line = try #require(server.output.split(separator: "\n").first { $0.contains("created admin") })
            let file = folder.appendingPathComponent("sluice-admin-password.txt").path
            #expect(line.contains("admin@sluice.local; its generated password is in \(file)"), "\(line)")
            let password = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
            #expect(password.count == 20)
            #expect(!server.output.contains(password), "the password is not in the log")
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            // The database and its folder are the owner's alone (they hold password hashes and records).
            let databaseMode =
                try FileManager.default.attributesOfItem(atPath: "\(folder.path)/sluice.sqlite")[
                    .posixPermissions
                ] as? Int
            #expect(databaseMode == 0o600)
            #expect(server.output.contains("sluice serving \(base) on \(url) (development; workers on, scheduler on)"))
            #expect(server.output.contains("CRON_SECRET is not set"))

            let health = try await send(client, .GET, "\(base)/health")
            #expect(health.status == 200)
            let login = try await send(
                client,
                .POST,
                "\(base)/api/auth/login",
                body: #"{"email": "admin@sluice.local", "password": "\#(password)"}"#
            )
            #expect(login.status == 200, "\(login.text)")
            let cookie = try #require(login.headers["Set-Cookie"].first?.split(separator: ";").first.map(String.init))
            let stats = try await send(client, .GET, "\(base)/api/admin/queue/stats", cookie: cookie)
            #expect(stats.status == 200)
            #expect(try await server.terminate() == 0, "\(server.output)")
            #expect(!server.output.contains(" error "), "\(server.output)")

            // Second start: users exist, nothing is printed about an admin; production without CRON_SECRET warns.
            let again = try ServerProcess(
                arguments: ["--database-url", url, "--no-workers", "--no-scheduler"],
                environment: ["APP_ENV": "production"]
            )
            let secondPort = try await again.port()
            #expect(!again.output.contains("created admin"))
            #expect(again.output.contains("workers off, scheduler off"))
            #expect(again.output.contains("CRON_SECRET is not set: the worker endpoints answer 500"))
            let worker = try await send(client, .GET, "http://127.0.0.1:\(secondPort)/api/workers/ingestion")
            #expect(worker.status == 500)
            #expect(try await again.terminate() == 0)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    @Test("scripts/run-workers calls the three endpoints with the CRON_SECRET")
    func runWorkersScript() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-cron-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let server = try ServerProcess(
            arguments: ["--database-url", "sqlite:\(folder.path)/s.sqlite", "--no-workers", "--no-scheduler"],
            environment: ["CRON_SECRET": "from-cron", "SLUICE_ADMIN_PASSWORD": "an admin password"]
        )
        let port = try await server.port()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/run-workers")
        func run(_ environment: [String: String]) async throws -> (Int32, String) {
            var env = ProcessInfo.processInfo.environment
            env["CRON_SECRET"] = nil
            env["SLUICE_URL"] = "http://127.0.0.1:\(port)"
            for (key, value) in environment { env[key] = value }
            let result = try await runExecutable(script, [], environment: env)
            return (result.status, result.stdout + result.stderr)
        }
        let (status, output) = try await run(["CRON_SECRET": "from-cron"])
        #expect(status == 0, "\(output)")
        #expect(output.contains(#"ingestion: 200 {"duration":"#))
        #expect(output.contains(#"vectorization: 200 {"duration":"#))
        #expect(output.contains(#"cleanup: 200 {"deletedCount":0,"success":true}"#))
        let (refused, refusal) = try await run([:])
        #expect(refused != 0)
        #expect(refusal.contains(#"ingestion: 401 {"error":"Unauthorized"}"#))
        #expect(try await server.terminate() == 0)
        #expect(!server.output.contains("from-cron"), "the secret is never logged")
    }

    @Test("work: a worker tier without the HTTP server claims jobs and stops on SIGTERM")
    func workProcess() async throws {
        try await withStore(.sqlite) { store, url in
            let url = try #require(url)
            let queue = DatabaseQueue(store: store, logger: quietLogger)
            let id = try await queue.enqueue(NewJob(jobType: "CUSTOM", payload: [:])).id
            let other = try await queue.enqueue(NewJob(jobType: .ingestData, payload: [:])).id
            let worker = try ServerProcess(
                arguments: ["--database-url", url, "--types", "CUSTOM", "--concurrency", "2"],
                environment: [:],
                command: ["work"]
            )
            let deadline = ContinuousClock.now + .seconds(30)
            while try await queue.getJob(id).errors.isEmpty && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            // This build has no handler for CUSTOM jobs: the attempt fails and says so.
            #expect(try await queue.getJob(id).errors.first?.message.contains("no handler") == true)
            #expect(try await queue.getJob(other).attempts == 0, "--types keeps INGEST_DATA for other workers")
            #expect(worker.output.contains("sluice working on \(url): CUSTOM × 2"))
            #expect(try await worker.terminate() == 0, "\(worker.output)")
        }
    }

    @Test("serve refuses bad settings with one line and a non-zero exit")
    func serveBadSettings() async throws {
        for (arguments, environment, message) in [
            (["--port", "70000"], [String: String](), "--port"),
            ([], ["APP_ENV": "staging"], "APP_ENV"),
            ([], ["SLUICE_SCHEDULE_CLEANUP": "nightly"], "SLUICE_SCHEDULE_CLEANUP"),
            (["--concurrency", "0"], [:], "--concurrency"),
            (["--types", "bad type"], [:], "bad type"),
        ] {
            let result = try await runProduct(
                "sluice",
                ["serve", "--database-url", "sqlite:/tmp/never-\(UUID().uuidString)/x.sqlite"] + arguments,
                environment: environment
            )
            #expect(result.status != 0, "\(arguments) \(environment)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
    }

    @Test("users: create from stdin, list, set-role, delete, and clear refusals", arguments: StoreKind.sql)
    func users(kind: StoreKind) async throws {
        try await withStore(kind) { _, url in
            let url = try #require(url)
            func sluice(_ arguments: [String], input: String? = nil) async throws -> (
                status: Int32, stdout: String, stderr: String
            ) {
                try await runProduct(
                    "sluice",
                    ["users"] + arguments + ["--database-url", url],
                    environment: ["SLUICE_BCRYPT_COST": "4"],
                    input: input
                )
            }
            let created = try await sluice(
                ["create", "--email", "Ops@Example.com", "--role", "manager"],
                input: "a good password\n"
            )
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stdout.contains("created ops@example.com (MANAGER)"))
            let listed = try await sluice(["list"])
            #expect(listed.stdout.contains("ops@example.com"))
            #expect(listed.stdout.contains("MANAGER"))
            #expect(!listed.stdout.contains("$2b$"))

            #expect(try await sluice(["set-role", "--email", "ops@example.com", "--role", "ADMIN"]).status == 0)
            #expect(try await sluice(["list"]).stdout.contains("ADMIN"))

            let refusals: [([String], String?, String)] = [
                (["create", "--email", "ops@example.com", "--role", "viewer"], "another password\n", "already exists"),
                (["create", "--email", "new@example.com", "--role", "boss"], "another password\n", "--role"),
                (["create", "--email", "new@example.com", "--role", "viewer"], nil, "no password"),
                (["create", "--email", "new@example.com", "--role", "viewer"], "short\n", "at least 8"),
                (["create", "--email", "not-an-email", "--role", "viewer"], "long enough pw\n", "not an email"),
                // bcrypt would stop at the NUL: the account would open to "abcdefgh", or to "" (review L2).
                (["create", "--email", "nul@example.com", "--role", "admin"], "abcdefgh\u{0}-rest\n", "NUL"),
                (["create", "--email", "nul@example.com", "--role", "admin"], "\u{0}\u{0}long passphrase\n", "NUL"),
                (["create", "--email", "nul\u{0}@example.com", "--role", "admin"], "long enough pw\n", "not an email"),
                (["set-role", "--email", "ghost@example.com", "--role", "viewer"], nil, "no user"),
                (["delete", "--email", "ghost@example.com"], nil, "no user"),
            ]
            for (arguments, input, message) in refusals {
                let result = try await sluice(arguments, input: input)
                #expect(result.status != 0, "\(arguments)")
                #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            }
            #expect(try await sluice(["delete", "--email", "ops@example.com"]).status == 0)
            #expect(!(try await sluice(["list"]).stdout.contains("ops@example.com")))
        }
    }

    @Test(
        "tokens: create prints a token once, list shows no token, revoke by name; clear refusals",
        arguments: StoreKind.sql
    )
    func tokens(kind: StoreKind) async throws {
        try await withServerStore(kind) { (stores: Stores, url: String) in
            func sluice(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
                try await runProduct("sluice", ["tokens"] + arguments + ["--database-url", url])
            }
            let created = try await sluice(["create", "--name", "etl", "--role", "manager", "--expires-in", "90d"])
            #expect(created.status == 0, "\(created.stderr)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("sluice_") && token.count == 50, "\(token)")
            #expect(created.stderr.contains("created token etl (MANAGER, expires "))
            let accounts = Accounts(store: stores.accounts)
            let record = try #require(try await accounts.apiToken(token))
            #expect(record.role == .manager)
            let days = (record.expiresAt ?? .distantPast).timeIntervalSince(record.createdAt) / 86_400
            #expect(abs(days - 90) < 0.01)

            let listed = try await sluice(["list"])
            #expect(listed.stdout.contains("etl") && listed.stdout.contains("MANAGER"))
            #expect(!listed.stdout.contains(token) && !listed.stdout.contains(String(token.dropFirst(7).prefix(12))))
            let refusals: [([String], String)] = [
                (["create", "--name", "etl", "--role", "viewer"], "already exists"),
                (["create", "--name", "x", "--role", "boss"], "--role"),
                (["create", "--name", "x", "--role", "viewer", "--expires-in", "soon"], "--expires-in"),
                (["create", "--name", " ", "--role", "viewer"], "1 to 100 characters"),
                (["revoke", "ghost"], "no API token"),
            ]
            for (arguments, message) in refusals {
                let result = try await sluice(arguments)
                #expect(result.status != 0, "\(arguments)")
                #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            }
            #expect(try await sluice(["revoke", "etl"]).status == 0)
            #expect(try await accounts.apiToken(token) == nil, "refused from the next request on")
        }
    }
}
