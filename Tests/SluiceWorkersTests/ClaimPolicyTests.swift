import Testing

@testable import SluiceWorkers

/// The continuous worker's claim policy, driven event by event: no tasks, no clock, no database.
@Suite("Claim policy", .timeLimit(.minutes(1)))
struct ClaimPolicyTests {
    private let poll = Duration.seconds(1)

    @Test("claims every free slot in one statement; under load waits for a quarter of the slots")
    func batching() {
        var policy = ClaimPolicy(concurrency: 8, batchClaims: true, pollInterval: poll)
        #expect(policy.start(now: .zero) == [.claim(limit: 8)])
        #expect(policy.handle(.tick, now: .zero) == [], "every slot is asked for already")
        #expect(policy.handle(.claimed(requested: 8, received: 8), now: .zero) == [.run])
        #expect(policy.running == 8 && policy.claiming == 0)
        #expect(policy.handle(.jobFinished, now: .zero) == [], "one free slot of eight: wait for a second")
        #expect(policy.handle(.jobFinished, now: .zero) == [.claim(limit: 2)])
        // A full answer is followed by another claim at once, for whatever is free by then.
        #expect(policy.handle(.jobFinished, now: .zero) == [])
        #expect(policy.handle(.claimed(requested: 2, received: 2), now: .zero) == [.run, .claim(limit: 1)])
        #expect(policy.running == 7 && policy.claiming == 1)
    }

    @Test("a claim that comes back short waits for a wake-up or a tick")
    func shortClaims() {
        var policy = ClaimPolicy(concurrency: 4, batchClaims: true, pollInterval: poll)
        #expect(policy.start(now: .zero) == [.claim(limit: 4)])
        #expect(policy.handle(.claimed(requested: 4, received: 1), now: .zero) == [.run])
        #expect(policy.running == 1 && policy.claiming == 0)
        #expect(policy.handle(.wake, now: .zero) == [.claim(limit: 3)])
        #expect(policy.handle(.claimed(requested: 3, received: 0), now: .zero) == [.run])
        #expect(policy.handle(.tick, now: .seconds(1)) == [.claim(limit: 3)])
    }

    @Test("with batching off, one claim per free slot")
    func oneJobPerClaim() {
        var policy = ClaimPolicy(concurrency: 3, batchClaims: false, pollInterval: poll)
        #expect(policy.start(now: .zero) == Array(repeating: .claim(limit: 1), count: 3))
        #expect(
            policy.handle(.claimed(requested: 1, received: 1), now: .zero) == [.run],
            "the other slots are asked for"
        )
        #expect(policy.handle(.jobFinished, now: .zero) == [.claim(limit: 1)], "every freed slot is claimed at once")
    }

    @Test("failed claims pause claiming, doubling from the poll interval to at most 30 s; a success resets it")
    func backOff() {
        var policy = ClaimPolicy(concurrency: 2, batchClaims: true, pollInterval: poll)
        #expect(policy.start(now: .zero) == [.claim(limit: 2)])
        #expect(policy.handle(.claimFailed(requested: 2), now: .zero) == [])
        #expect(policy.pausedUntil == .seconds(2))
        #expect(policy.handle(.tick, now: .seconds(1)) == [], "still paused")
        #expect(policy.handle(.tick, now: .seconds(2)) == [.claim(limit: 2)])
        #expect(policy.handle(.claimFailed(requested: 2), now: .seconds(2)) == [])
        #expect(policy.pausedUntil == .seconds(6), "2 + 4: doubled")
        var now = Duration.seconds(6)
        for _ in 0..<6 {
            #expect(policy.handle(.tick, now: now) == [.claim(limit: 2)])
            _ = policy.handle(.claimFailed(requested: 2), now: now)
            #expect(policy.pausedUntil - now <= .seconds(30))
            now = policy.pausedUntil
        }
        #expect(policy.pausedUntil - now == .zero)
        #expect(policy.handle(.tick, now: now) == [.claim(limit: 2)])
        #expect(policy.handle(.claimed(requested: 2, received: 0), now: now) == [.run])
        #expect(policy.failures == 0)
    }

    @Test("shutdown with nothing running stops at once")
    func idleShutdown() {
        var policy = ClaimPolicy(concurrency: 2, batchClaims: true, pollInterval: poll)
        _ = policy.start(now: .zero)
        #expect(policy.handle(.claimed(requested: 2, received: 0), now: .zero) == [.run])
        #expect(policy.handle(.shutdown, now: .zero) == [.stop])
        #expect(policy.phase == .stopped)
        #expect(policy.handle(.tick, now: .seconds(5)) == [], "nothing after stopping")
    }

    @Test("on shutdown: no more claims, claims in flight are handed back, running jobs may finish")
    func drain() {
        var policy = ClaimPolicy(concurrency: 4, batchClaims: true, pollInterval: poll)
        _ = policy.start(now: .zero)
        #expect(policy.handle(.claimed(requested: 4, received: 2), now: .zero) == [.run])
        #expect(policy.handle(.tick, now: .zero) == [.claim(limit: 2)])
        #expect(policy.handle(.shutdown, now: .zero) == [.startGracePeriod])
        #expect(policy.phase == .draining)
        #expect(policy.handle(.tick, now: .seconds(1)) == [], "no claim while draining")
        #expect(policy.handle(.claimed(requested: 2, received: 2), now: .zero) == [.release])
        #expect(policy.handle(.jobFinished, now: .zero) == [])
        #expect(policy.handle(.jobFinished, now: .zero) == [.stop], "the last running job finished")
    }

    @Test("when the grace period ends, the worker stops once no claim is in flight; running jobs go back")
    func graceOver() {
        var policy = ClaimPolicy(concurrency: 4, batchClaims: true, pollInterval: poll)
        _ = policy.start(now: .zero)
        #expect(policy.handle(.claimed(requested: 4, received: 3), now: .zero) == [.run])
        #expect(policy.handle(.wake, now: .zero) == [.claim(limit: 1)])
        #expect(policy.handle(.shutdown, now: .zero) == [.startGracePeriod])
        #expect(policy.handle(.graceOver, now: .zero) == [], "a claim is still in flight: its jobs must go back first")
        #expect(policy.handle(.claimFailed(requested: 1), now: .zero) == [.stop])
        #expect(policy.running == 3, "three jobs still running are handed back by stopping")
    }
}
