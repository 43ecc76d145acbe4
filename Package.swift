// swift-tools-version:6.1
import PackageDescription

/// Swift 6 language mode everywhere, plus the gates Hummingbird and postgres-nio build with.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["SluiceCLI"]),
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluicePostgres", targets: ["SluicePostgres"]),
        .library(name: "SluiceSQLite", targets: ["SluiceSQLite"]),
        .library(name: "SluiceStores", targets: ["SluiceStores"]),
        .library(name: "SluiceAccounts", targets: ["SluiceAccounts"]),
        .library(name: "SluiceWorkers", targets: ["SluiceWorkers"]),
        .library(name: "SluiceServer", targets: ["SluiceServer"]),
        .library(name: "SluiceEmbeddings", targets: ["SluiceEmbeddings"]),
        .library(name: "SluicePipeline", targets: ["SluicePipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // Tests only: runs the built `sluice` and collects its output (no Foundation pipe handlers).
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Without the ConfigurationSupport trait: Sluice reads its settings itself, and it saves a package.
        .package(
            url: "https://github.com/hummingbird-project/hummingbird.git",
            from: "2.28.1",
            traits: ["FullFoundation"]
        ),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The metrics API Hummingbird's MetricsMiddleware records HTTP requests with; swift-prometheus backs it.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV.git", from: "0.10.0"),
        // The queue monitor's server-rendered HTML: logic-less templates that HTML-escape every value by default.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // The embedding providers' HTTP client (and the tests' client for `sluice serve`).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // The queue itself: job model, states, backoff, the store protocol and an in-memory store.
        // It imports no database.
        .target(
            name: "SluiceCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Users, roles, sessions and password hashing; the stores implement its `AccountStore`.
        .target(
            name: "SluiceAccounts",
            dependencies: [
                "SluiceCore",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Embedding providers: the offline local embedder and an OpenAI-compatible client (async-http-client).
        .target(
            name: "SluiceEmbeddings",
            dependencies: [
                "SluiceCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ingestion and vectorization pipeline: projects, ingest jobs, records, processAndStore.
        .target(
            name: "SluicePipeline",
            dependencies: [
                "SluiceCore", "SluiceWorkers", "SluiceEmbeddings",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftCSV", package: "SwiftCSV"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Running jobs: the handler registry, the worker routine behind the worker endpoints, continuous workers,
        // the rescuer and the scheduler, as swift-service-lifecycle services. Imports no database and no HTTP.
        .target(
            name: "SluiceWorkers",
            dependencies: [
                "SluiceCore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The queue's PostgreSQL store (postgres-nio): the production store, shared by many servers. Queue only.
        .target(
            name: "SluicePostgres",
            dependencies: [
                "SluiceCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The queue's SQLite store (GRDB, WAL): the embedded default. Queue only.
        .target(
            name: "SluiceSQLite",
            dependencies: [
                "SluiceCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The application's tables on each database (accounts, the pipeline) beside the queue store, on its pool,
        // with their migrations; opens the stores a DATABASE_URL names.
        .target(
            name: "SluiceStores",
            dependencies: [
                "SluiceCore", "SluiceAccounts", "SluicePipeline", "SluicePostgres", "SluiceSQLite",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP server (Hummingbird 2): accounts, the admin queue API, the worker endpoints, health, metrics,
        // and the queue monitor (Mustache templates, CSS and JavaScript in Resources/).
        .target(
            name: "SluiceServer",
            dependencies: [
                .product(name: "Mustache", package: "swift-mustache"),
                "SluiceCore", "SluiceAccounts", "SluiceWorkers", "SluicePipeline", "SluiceEmbeddings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        // `sluice bench`: the queue measured on a fresh database, and the plain-SQL ceiling on PostgreSQL.
        .target(
            name: "SluiceBenchmarks",
            dependencies: [
                "SluiceCore", "SluiceStores", "SluiceAccounts", "SluiceWorkers", "SluiceServer", "SluicePostgres",
                "SluicePipeline",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `sluice` command.
        .executableTarget(
            name: "SluiceCLI",
            dependencies: [
                "SluiceCore", "SluiceStores", "SluiceAccounts", "SluiceWorkers", "SluiceServer", "SluicePipeline",
                "SluiceEmbeddings", "SluiceBenchmarks",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A no-op worker process used by the multi-process concurrency tests (not shipped as a product).
        .executableTarget(
            name: "SluiceTestWorker",
            dependencies: [
                "SluiceCore", "SluiceStores",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SluiceCoreTests",
            dependencies: ["SluiceCore"],
            swiftSettings: swiftSettings
        ),
        // The workers' logic without a database: the continuous worker's claim policy, event by event.
        .testTarget(
            name: "SluiceWorkersTests",
            dependencies: ["SluiceWorkers"],
            swiftSettings: swiftSettings
        ),
        // The conformance suite (every store), concurrency across processes, migrations and the CLI, against real
        // SQLite files and a real PostgreSQL (TEST_DATABASE_URL; scripts/test starts one).
        .testTarget(
            name: "SluiceIntegrationTests",
            dependencies: [
                "SluiceCore", "SluicePostgres", "SluiceSQLite", "SluiceStores", "SluiceCLI", "SluiceTestWorker",
                "SluiceAccounts", "SluiceWorkers", "SluiceServer", "SluiceEmbeddings", "SluicePipeline",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Databases made by older builds (SQL dumps) and the script that made them.
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
