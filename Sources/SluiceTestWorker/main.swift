import Foundation
import SluiceCore
import SluiceStores

// A worker process for the multi-process concurrency tests: claims no-op jobs of one type with N concurrent
// claimers until the queue has none left, completes each, and prints every completed id on its own line.
//
// Usage: sluice-test-worker DATABASE_URL JOB_TYPE CLAIMERS BATCH

let arguments = CommandLine.arguments
guard arguments.count == 5, let claimers = Int(arguments[3]), let batch = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: SluiceTestWorker DATABASE_URL JOB_TYPE CLAIMERS BATCH\n".utf8))
    exit(2)
}
let type = JobType(rawValue: arguments[2])

do {
    let completed = try await withStores(try StoreSettings(url: arguments[1])) { stores in
        let queue = DatabaseQueue(store: stores.queue)
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<claimers {
                group.addTask {
                    var done: [String] = []
                    var idleRounds = 0
                    // Stop after a few empty claims in a row: the other process may still be enqueueing retries.
                    while idleRounds < 3 {
                        let jobs = try await queue.claimJobs([type], limit: batch)
                        if jobs.isEmpty {
                            idleRounds += 1
                            try await Task.sleep(for: .milliseconds(20))
                            continue
                        }
                        idleRounds = 0
                        for claimed in jobs {
                            try await queue.completeJob(claimed.lease, result: ["pid": .int(Int64(getpid()))])
                            done.append(claimed.job.id)
                        }
                    }
                    return done
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }
    print(completed.joined(separator: "\n"))
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
