import PostgresNIO
import SluiceCore
import SluicePostgres
import SluiceStores
import Testing

@Suite("DATABASE_URL", .timeLimit(.minutes(5)))
struct StoreSettingsTests {
    @Test("a postgres:// URL gives host, port, user, password, database, TLS mode and pool size")
    func postgresURL() throws {
        let settings = try StoreSettings(
            url: "postgres://sluice:p%40ss@db.internal:6543/queue?sslmode=disable&pool_max=7"
        )
        guard case .postgres(let configuration) = settings else {
            Issue.record("expected PostgreSQL settings")
            return
        }
        #expect(configuration.client.host == "db.internal")
        #expect(configuration.client.port == 6543)
        #expect(configuration.client.username == "sluice")
        #expect(configuration.client.password == "p@ss")
        #expect(configuration.client.database == "queue")
        #expect(configuration.client.options.maximumConnections == 7)
        #expect(configuration.sslMode == .disable)
        #expect(!settings.redactedURL.contains("p%40ss") && !settings.redactedURL.contains("p@ss"))
        #expect(settings.redactedURL.contains("db.internal:6543/queue"))
    }

    @Test("postgresql:// works too, with defaults for what the URL leaves out")
    func postgresDefaults() throws {
        guard case .postgres(let configuration) = try StoreSettings(url: "postgresql://localhost") else {
            Issue.record("expected PostgreSQL settings")
            return
        }
        #expect(configuration.client.port == 5432)
        #expect(configuration.client.username == "postgres")
        #expect(configuration.client.database == "postgres")
        #expect(configuration.sslMode == .prefer)
    }

    @Test("sqlite: URLs name a file path")
    func sqliteURL() throws {
        #expect(try StoreSettings(url: StoreSettings.defaultURL).redactedURL == "sqlite:./data/sluice.sqlite")
        guard case .sqlite(let path) = try StoreSettings(url: "sqlite:///var/lib/sluice/queue.sqlite") else {
            Issue.record("expected SQLite settings")
            return
        }
        #expect(path == "/var/lib/sluice/queue.sqlite")
    }

    @Test("malformed URLs are configuration errors that never show the password")
    func malformedURLs() {
        for url in [
            "mysql://root:topsecret@localhost/db", "sqlite:", "sqlite::memory:",
            "postgres://u:topsecret@h/db?sslmode=sometimes", "postgres://u:topsecret@h/db?pool_max=0",
        ] {
            let error = #expect(throws: QueueError.self) { try StoreSettings(url: url) }
            #expect(error?.code == .invalidConfiguration, "\(url)")
            #expect(error?.message.contains("topsecret") == false, "\(url)")
        }
    }
}
