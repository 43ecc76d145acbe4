import Foundation
import PostgresNIO
import SluiceCore
import SluiceEmbeddings
import SluicePipeline
import SluicePostgres
import Testing

@testable import SluiceStores

/// Records with fields of every kind a filter meets: nested objects, arrays and scalars, numbers written as
/// integers and decimals, dates with and without offsets, a string that is no date, the same word precomposed and
/// decomposed.
let filterFixtures: [JSONValue] = [
    [
        "id": "a", "text": "markets rallied", "category": "news", "year": 2019, "tags": ["x", "y"],
        "meta": ["lang": "en", "score": 0.5], "published": "2019-06-01T10:00:00Z", "flag": true,
    ],
    [
        "id": "b", "text": "an election", "category": "news", "year": 2021, "tags": ["y"], "meta": ["lang": "de"],
        "published": "2021-01-15", "flag": false,
    ],
    [
        "id": "c", "text": "a cup final", "category": "sport", "year": 2023.0, "tags": "x",
        "meta": ["lang": "en", "score": 2], "published": "2023-03-01T00:00:00+02:00", "note": .null,
    ],
    ["id": "d", "text": "a derby", "category": "Sport", "year": "2022", "published": "not a date", "meta": "flat"],
    [
        "id": "e", "text": "coffee prices", "category": "caf\u{E9}", "year": 2020, "tags": [],
        "nested": ["deep": ["er": 1]],
    ],
    ["id": "f", "text": "old news", "category": "cafe\u{301}", "year": 1_000, "published": "1000-02-29"],
]

/// Each filter with the records it must find, by hand.
let filterCases: [(filter: String, expected: Set<String>)] = [
    (#"{"category": "news"}"#, ["a", "b"]),
    (#"{"category": {"$eq": "news"}}"#, ["a", "b"]),
    (#"{"category": {"$ne": "news"}}"#, ["c", "d", "e", "f"]),
    (#"{"year": {"$gte": 2020, "$lt": 2024}}"#, ["b", "c", "e"]),
    (#"{"year": {"$gt": 2019.5}}"#, ["b", "c", "e"]),
    (#"{"year": {"$lte": 2019}}"#, ["a", "f"]),
    (#"{"year": 2023}"#, ["c"]),
    (#"{"year": "2022"}"#, ["d"]),
    (#"{"tags": "x"}"#, ["a", "c"]),
    (#"{"tags": {"$in": ["y", "z"]}}"#, ["a", "b"]),
    (#"{"tags": {"$nin": ["y"]}}"#, ["c", "d", "e", "f"]),
    (#"{"tags": {"$in": []}}"#, []),
    (#"{"meta.lang": "en"}"#, ["a", "c"]),
    (#"{"meta.score": {"$gt": 1}}"#, ["c"]),
    (#"{"meta.lang.x": "en"}"#, []),
    (#"{"meta": "flat"}"#, ["d"]),
    (#"{"nested.deep.er": 1}"#, ["e"]),
    (#"{"nested.deep": 1}"#, []),
    (#"{"note": {"$exists": true}}"#, ["c"]),
    (#"{"note": null}"#, ["c"]),
    (#"{"tags": {"$exists": false}}"#, ["d", "f"]),
    (#"{"flag": true}"#, ["a"]),
    (#"{"flag": false}"#, ["b"]),
    (#"{"flag": 1}"#, []),
    (#"{"published": {"$gte": "2021-01-01"}}"#, ["b", "c"]),
    (#"{"published": {"$lt": "2019-06-01T12:00:00+01:00"}}"#, ["a"]),  // 1000-02-29 is no date
    (#"{"published": {"$gt": "2023-02-28T21:59:59Z", "$lt": "2023-02-28T22:00:01Z"}}"#, ["c"]),
    (#"{"published": {"$gte": 2000}}"#, []),
    (#"{"year": {"$gte": "2020-01-01"}}"#, []),
    (#"{"$or": [{"category": "sport"}, {"year": {"$lt": 2000}}]}"#, ["c", "f"]),
    (#"{"$not": {"category": "news"}}"#, ["c", "d", "e", "f"]),
    (#"{"$and": [{"category": "news"}, {"flag": true}]}"#, ["a"]),
    (#"{"meta": {"$exists": true}, "category": {"$in": ["Sport", "sport"]}}"#, ["c", "d"]),
    (#"{"category": "caf\u00e9"}"#, ["e"]),
    (#"{"category": "cafe\u0301"}"#, ["f"]),
    (#"{"$or": [{"$and": [{"tags": "y"}, {"$not": {"flag": true}}]}, {"meta.score": 0.5}]}"#, ["a", "b"]),
    ("{}", ["a", "b", "c", "d", "e", "f"]),
]

@Suite("Search filters", .timeLimit(.minutes(5)))
struct SearchFilterTests {
    static let embedder = LocalEmbedder(dimensions: 16)

    @Test("the definition gives the hand-written answers")
    func definition() throws {
        for (text, expected) in filterCases {
            let filter = try SearchFilter(parsing: try JSONValue(parsing: text))
            let found = Set(filterFixtures.filter { filter.matches($0) }.compactMap { $0["id"]?.stringValue })
            #expect(found == expected, "\(text)")
        }
    }

    @Test("every filter finds the same records on every store", arguments: StoreKind.allCases)
    func sameOnEveryStore(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            let project = try await TestProjects.embedded(
                stores.pipeline,
                objects: filterFixtures,
                embedder: Self.embedder
            )
            let query = try await Self.embedder.embed(["news of the day"])[0]
            func check(_ label: String) async throws {
                for (text, expected) in filterCases {
                    let filter = try SearchFilter(parsing: try JSONValue(parsing: text))
                    let hits = try await stores.pipeline.nearest(
                        projectID: project,
                        to: query,
                        model: Self.embedder.model,
                        limit: 100,
                        filter: filter
                    )
                    #expect(Set(hits.compactMap(\.externalID)) == expected, "\(label): \(text)")
                    #expect(hits.count == expected.count, "each record once: \(text)")
                }
            }
            try await check("exact")
            if kind == .postgres {
                // Through the approximate index, where the filter is tested as the index hands chunks over.
                #expect(try await stores.pipeline.prepareVectorIndex(dimensions: 16) == .approximate)
                try await check("indexed")
            }
        }
    }

    @Test("a filtered search returns k records whenever k match, and all when fewer do", arguments: StoreKind.allCases)
    func kUnderFilters(kind: StoreKind) async throws {
        try await withServerStore(kind) { stores in
            // 1,500 records, of which 1% are "rare": a selective filter for an approximate index.
            let objects: [JSONValue] = (0..<1_500).map { n in
                [
                    "id": .string("r\(n)"), "text": .string("item \(n) of the catalogue"),
                    "kind": n % 100 == 7 ? "rare" : "common",
                ]
            }
            let project = try await TestProjects.embedded(stores.pipeline, objects: objects, embedder: Self.embedder)
            if kind == .postgres {
                #expect(try await stores.pipeline.prepareVectorIndex(dimensions: 16) == .approximate)
            }
            let query = try await Self.embedder.embed(["item 3 of the catalogue"])[0]
            let rare = try SearchFilter(parsing: ["kind": "rare"])
            let ten = try await stores.pipeline.nearestRecords(
                projectID: project,
                to: query,
                model: Self.embedder.model,
                limit: 10,
                filter: rare
            )
            #expect(ten.hits.count == 10)
            #expect(ten.hits.allSatisfy { $0.data["kind"] == "rare" })
            let all = try await stores.pipeline.nearest(
                projectID: project,
                to: query,
                model: Self.embedder.model,
                limit: 100,
                filter: rare
            )
            #expect(all.count == 15, "every rare record, though fewer than k")
            // The same records, nearest first, as an exact scan of the rare ones finds them.
            let exact = all.prefix(10).map(\.id)
            #expect(ten.hits.map(\.id) == Array(exact))
        }
    }

    @Test("bad filters are refused with the path and what is wrong")
    func refusals() throws {
        let cases: [(String, String)] = [
            (#"{"year": {"$gtx": 1}}"#, "filter at year.$gtx: unknown operator $gtx"),
            (#"{"$nor": []}"#, "filter at $nor: unknown operator $nor"),
            (#"{"year": {"$gte": "soon"}}"#, "filter at year.$gte: $gte takes a number or an ISO-8601 date"),
            (#"{"year": {"$gte": true}}"#, "filter at year.$gte: $gte takes a number or an ISO-8601 date"),
            (#"{"year": {"$gte": "2024-02-30"}}"#, "filter at year.$gte: $gte takes a number"),
            (#"{"tag": {"$in": "a"}}"#, "filter at tag.$in: takes a list of values"),
            (#"{"tag": {"$in": [["a"]]}}"#, "filter at tag.$in[0]: equality compares a string"),
            (#"{"tag": ["a"]}"#, "filter at tag: to match one of several values, use"),
            (#"{"meta": {"lang": "en"}}"#, #"write the path with dots, such as "meta.lang""#),
            (#"{"flag": {"$exists": 1}}"#, "filter at flag.$exists: $exists takes true or false"),
            (#"{"$or": [{"a": 1}, 2]}"#, "filter at $or[1]: a filter is a JSON object"),
            (#"{"$and": []}"#, "filter at $and: $and takes a non-empty list"),
            (#"{"a..b": 1}"#, "filter at a..b: a field path is keys joined by dots"),
            (#"{"a": {}}"#, "filter at a: an empty object"),
            (#"{"a": "x\u0000"}"#, "filter at a: a string with a NUL character"),
            ("[1]", "filter: a filter is a JSON object"),
        ]
        for (text, message) in cases {
            #expect(throws: FilterError.self, "\(text)") { try SearchFilter(parsing: try JSONValue(parsing: text)) }
            do {
                _ = try SearchFilter(parsing: try JSONValue(parsing: text))
            } catch let error as FilterError {
                #expect(error.description.hasPrefix(message) || error.description.contains(message), "\(error)")
            }
        }
        // Too deep, too many.
        var deep: JSONValue = ["a": 1]
        for _ in 0..<20 { deep = ["$not": deep] }
        #expect(throws: FilterError.self) { try SearchFilter(parsing: deep) }
        let many = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<300).map { ("f\($0)", JSONValue.int(1)) }))
        #expect(throws: FilterError.self) { try SearchFilter(parsing: many) }
        let fine = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<200).map { ("f\($0)", JSONValue.int(1)) }))
        #expect(throws: Never.self) { try SearchFilter(parsing: fine) }
    }

    @Test("PostgreSQL's sluice_instant reads dates exactly as ISOInstant does")
    func instantsAgree() async throws {
        try await withServerStore(.postgres) { stores in
            let postgres = try #require(stores.queue as? PostgresJobStore)
            let samples = [
                "2024-01-31", "2024-01-31T12:00", "2024-01-31T12:00:05", "2024-01-31t12:00:05.123456Z",
                "2024-01-31 12:00:05.5+05:30", "2024-01-31T12:00:05-0800", "2024-01-31T12:00+01", "2024-02-29",
                "2023-02-29", "2024-13-01", "2024-00-10", "0000-01-01", "0001-01-01", "9999-12-31T23:59:59.999999999Z",
                "2024-01-31T24:00", "2024-01-31T23:60", "2024-01-31T23:59:60", "2024-01-31T12:00:05.", "2024-1-31",
                "2024-01-31T12", "2024-01-31T12:00+05:", "2024-01-31T12:00+24:00", "2024-01-31Z", "today", "",
                "1969-12-31T23:59:59Z", "2024-01-31T12:00:00.1234567890Z", " 2024-01-31", "2024-01-31T12:00:00Z ",
            ]
            for sample in samples {
                let stored = try await postgres.client.query("SELECT sluice_instant(\(sample))").collect().first?
                    .decode(Double?.self)
                #expect(stored == ISOInstant.seconds(sample), "\(sample)")
            }
        }
    }
}
