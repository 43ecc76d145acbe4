import Foundation
import SluiceCore

/// The OpenAPI 3.1 description of every API route, served at `/openapi.json`: the resource file
/// `Resources/openapi.json`, read once. A test checks that it lists exactly the router's API routes and that every
/// answer the server gives matches it, so it stays true.
enum OpenAPIDocument {
    static let json: Result<String, any Error> = Result {
        guard
            let url = Bundle.module.url(forResource: "Resources", withExtension: nil)?
                .appendingPathComponent("openapi.json")
        else {
            throw QueueError.invalidConfiguration("the SluiceServer resource bundle has no Resources folder")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }
}
