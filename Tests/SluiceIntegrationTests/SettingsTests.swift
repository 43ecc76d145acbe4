import Foundation
import SluiceCore
import SluiceServer
import Testing

@testable import SluiceCLI

/// The one table of environment variables, and what is made from it: the README's configuration table, the help
/// of `serve` and `work`, and refusals of bad values.
@Suite("Settings", .timeLimit(.minutes(5)))
struct SettingsTests {
    /// Every builder the commands call, as `sluice serve` does at start.
    static func readEverything(_ reader: SettingsReader) throws {
        _ = try reader.serverConfiguration()
        _ = try reader.accountOptions()
        _ = try reader.ingestionOptions()
        _ = try reader.vectorizationOptions()
        _ = try reader.embeddingSettings()
        _ = try reader.queueOptions(leaseSeconds: nil, retryBaseSeconds: nil)
        _ = try reader.logLevel(flag: nil)
        _ = try reader.flag(Settings.autoMigrate)
    }

    /// Settings whose value is free text (a URL checked where it is opened, a secret, a name).
    static let freeText: Set<String> = [
        "DATABASE_URL", "TEST_DATABASE_URL", "CRON_SECRET", "SLUICE_ADMIN_EMAIL", "SLUICE_ADMIN_PASSWORD",
        "EMBEDDING_API_KEY", "EMBEDDING_MODEL",
    ]

    @Test("the README's configuration table is the one `sluice settings --markdown` prints")
    func readmeTable() async throws {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../README.md"
            ),
            encoding: .utf8
        )
        let printed = try await runProduct("sluice", ["settings", "--markdown"])
        #expect(printed.status == 0)
        let table = printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(table.split(separator: "\n").count == Settings.all.count + 2)
        #expect(readme.contains(table + "\n\n"), "README.md's table differs from `sluice settings --markdown`")
        #expect(Set(Settings.all.map(\.name)).count == Settings.all.count, "each variable once")
    }

    @Test("`serve --help` and `work --help` list every variable they read, with its default")
    func help() async throws {
        let serve = try await runProduct("sluice", ["serve", "--help"])
        let work = try await runProduct("sluice", ["work", "--help"])
        // The help is wrapped at 80 columns: compare without line breaks.
        func flat(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        for setting in Settings.server + Settings.workers + Settings.common {
            #expect(flat(serve.stdout).contains(setting.name), "serve --help lacks \(setting.name)")
        }
        for setting in Settings.workers + Settings.common {
            #expect(flat(work.stdout).contains(setting.name), "work --help lacks \(setting.name)")
        }
        #expect(flat(serve.stdout).contains("SLUICE_RETENTION_DAYS (default 7)"))
    }

    @Test("a malformed value of any setting is refused, naming it; nothing is clamped")
    func refusals() throws {
        #expect(throws: Never.self) { try Self.readEverything(SettingsReader([:])) }
        for setting in Settings.all where !Self.freeText.contains(setting.name) {
            for bad in ["not a value", "0", "-3"] {
                // `0` and `-3` are fine only where they are not numbers at all (a flag such as false is `0`).
                // An overlap of 0 is a fine overlap.
                if bad != "not a value",
                    setting == Settings.autoMigrate || setting == Settings.embeddingSendDimensions
                        || (setting == Settings.chunkOverlap && bad == "0")
                {
                    continue
                }
                do {
                    try Self.readEverything(SettingsReader([setting.name: bad]))
                    Issue.record("\(setting.name)=\(bad) was accepted")
                } catch let refusal as QueueError {
                    #expect(refusal.code == .invalidConfiguration)
                    #expect(refusal.message.contains(setting.name), "\(refusal.message)")
                }
            }
        }
        // Whitespace around a value is not an error; an empty value is the default.
        let padded = try SettingsReader(["PORT": " 8080 ", "SLUICE_RETENTION_DAYS": ""]).serverConfiguration()
        #expect(padded.port == 8080)
        #expect(padded.retentionDays == 7)
        #expect(try SettingsReader(["SLUICE_AUTO_MIGRATE": "No"]).flag(Settings.autoMigrate) == false)
    }

    @Test("bad values stop the command with the variable's name and a non-zero exit")
    func commandRefuses() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-settings-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = "sqlite:\(folder.appendingPathComponent("s.sqlite").path)"
        for (name, value, arguments) in [
            ("SLUICE_AUTO_MIGRATE", "maybe", ["stats"]), ("SLUICE_WORKER_CONCURRENCY", "0", ["work"]),
            ("PORT", "http", ["serve"]), ("EMBEDDING_DIMENSIONS", "many", ["work"]),
        ] {
            let result = try await runProduct(
                "sluice",
                arguments + ["--database-url", url],
                environment: [name: value]
            )
            #expect(result.status != 0, "\(name)=\(value) \(arguments)")
            #expect(result.stderr.contains(name), "\(result.stderr)")
        }
    }
}
