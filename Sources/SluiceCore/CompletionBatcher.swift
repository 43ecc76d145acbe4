import Foundation
import Synchronization

/// Group commit for job completions: a completion is written at once when no write is in flight; completions that
/// arrive while one is in flight wait and are then written together, in one statement, by the first of them. No
/// timer, so a lone worker pays no extra latency, and busy workers share round trips.
final class CompletionBatcher: Sendable {
    /// Most completions one statement carries.
    let maxBatch: Int

    private struct State {
        var writing = false
        var queued: [(completion: JobCompletion, slot: Slot)] = []
    }

    private let state = Mutex(State())

    init(maxBatch: Int = 500) {
        self.maxBatch = max(1, maxBatch)
    }

    /// Writes `completion` with `write`, alone or in a batch; returns whether its lease was still held.
    func complete(
        _ completion: JobCompletion,
        write: @escaping @Sendable ([JobCompletion]) async throws -> [Bool]
    ) async throws -> Bool {
        let slot = Slot()
        let leads = state.withLock { state -> Bool in
            guard state.writing else {
                state.writing = true
                return true
            }
            state.queued.append((completion, slot))
            return false
        }
        if leads { return try await lead([(completion, slot)], write: write) }
        switch try await slot.wait() {
        case .done(let held): return held
        case .lead(let batch): return try await lead(batch, write: write)
        }
    }

    /// Writes `batch` (whose first entry is the caller's), hands the next batch to the first waiting completion,
    /// and answers everyone in `batch`.
    private func lead(
        _ batch: [(completion: JobCompletion, slot: Slot)],
        write: @Sendable ([JobCompletion]) async throws -> [Bool]
    ) async throws -> Bool {
        let outcome: Result<[Bool], any Error>
        do {
            outcome = .success(try await write(batch.map(\.completion)))
        } catch {
            outcome = .failure(error)
        }
        let next = state.withLock { state -> [(completion: JobCompletion, slot: Slot)] in
            let next = Array(state.queued.prefix(maxBatch))
            state.queued.removeFirst(next.count)
            if next.isEmpty { state.writing = false }
            return next
        }
        if let first = next.first { first.slot.fulfil(.success(.lead(next))) }
        for (index, entry) in batch.enumerated().dropFirst() {
            entry.slot.fulfil(outcome.map { .done($0[index]) })
        }
        return try outcome.get()[0]
    }

    enum Answer: Sendable {
        /// Written: whether the lease was still held.
        case done(Bool)
        /// Not written yet: write this batch (yours first).
        case lead([(completion: JobCompletion, slot: Slot)])
    }

    /// Where a waiting completion gets its answer, whether it arrives before or after the completion waits.
    final class Slot: Sendable {
        private let state = Mutex<
            (answer: Result<Answer, any Error>?, waiter: CheckedContinuation<Answer, any Error>?)
        >(
            (nil, nil)
        )

        func fulfil(_ answer: Result<Answer, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<Answer, any Error>? in
                if let waiter = state.waiter { return waiter }
                state.answer = answer
                return nil
            }
            waiter?.resume(with: answer)
        }

        func wait() async throws -> Answer {
            try await withCheckedThrowingContinuation { continuation in
                let answer = state.withLock { state -> Result<Answer, any Error>? in
                    if let answer = state.answer { return answer }
                    state.waiter = continuation
                    return nil
                }
                if let answer { continuation.resume(with: answer) }
            }
        }
    }
}
