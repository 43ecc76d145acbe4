import ArgumentParser
import Foundation
import SluiceAccounts
import SluiceCore
import SluiceStores

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API tokens: programs send `Authorization: Bearer <token>` instead of signing in.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it once (only its hash is stored)."
        )
        @OptionGroup var settings: QueueSettings
        @Option(help: "A unique name, such as the program that uses it.") var name: String
        @Option(help: "admin, manager or viewer: what the token may do.") var role: Role
        @Option(
            name: .customLong("expires-in"),
            help: "How long it is valid: 90d, 12h, 30m (default: until revoked)."
        )
        var expiresIn: String?

        func run() async throws {
            let lifetime = try expiresIn.map(Self.duration)
            let (name, role) = (self.name, self.role)
            let (token, record) = try await settings.withStores { stores, _, _ in
                try await Accounts(store: stores.accounts).createToken(name: name, role: role, lifetime: lifetime)
            }
            print(token)
            printError(
                "created token \(record.name) (\(record.role.rawValue)"
                    + (record.expiresAt.map { ", expires \($0.formatted(.iso8601))" } ?? ", no expiry")
                    + "); it is shown only this once"
            )
        }

        /// `90d`, `12h`, `30m`.
        static func duration(_ text: String) throws -> Duration {
            let units: [Character: Int] = ["d": 86_400, "h": 3_600, "m": 60]
            guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0,
                count <= 3_650 * 86_400 / unit
            else {
                throw ValidationError("--expires-in takes a positive number of days, hours or minutes: 90d, 12h, 30m")
            }
            return .seconds(count * unit)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never the tokens themselves).")
        @OptionGroup var settings: QueueSettings

        func run() async throws {
            let tokens = try await settings.withStores { stores, _, _ in try await stores.accounts.apiTokens() }
            let rows = tokens.map { token in
                [
                    token.name, token.role.rawValue, token.createdAt.formatted(.iso8601),
                    token.lastUsedAt?.formatted(.iso8601) ?? "never", token.expiresAt?.formatted(.iso8601) ?? "never",
                    token.id,
                ]
            }
            print(Table.render([["NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "ID"]] + rows))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token by name or id: its next request is refused."
        )
        @OptionGroup var settings: QueueSettings
        @Argument(help: "The token's name or id.") var token: String

        func run() async throws {
            let token = self.token
            guard
                try await settings.withStores({ stores, _, _ in
                    try await stores.accounts.deleteAPIToken(idOrName: token)
                })
            else {
                throw ValidationError("no API token is named or numbered '\(token)'")
            }
            print("revoked \(token)")
        }
    }
}
