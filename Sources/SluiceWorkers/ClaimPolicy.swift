/// The continuous worker's decisions, with no tasks, clock or store: events in, actions out. ``ContinuousWorker``
/// performs the actions; tests drive this type alone, synchronously.
///
/// While working it keeps every slot busy or asked for: it claims for all free slots at once (or one claim per
/// slot with batching off), claims again at once while claims come back full, and under load waits until a quarter
/// of the slots are free so that one claim fetches several jobs. A failed claim pauses claiming, doubling from the
/// poll interval up to 30 s. On shutdown it claims no more, hands back jobs that claims in flight bring, lets running
/// jobs finish within the grace period, and then stops, which hands the rest back.
struct ClaimPolicy: Sendable {
    enum Event: Sendable, Hashable {
        /// A job this worker ran is done: a slot is free.
        case jobFinished
        /// A claim for `requested` slots came back with `received` jobs (fewer when fewer were ready).
        case claimed(requested: Int, received: Int)
        /// A claim for `requested` slots failed.
        case claimFailed(requested: Int)
        /// The poll interval passed.
        case tick
        /// The store says jobs of a type this worker runs may be ready.
        case wake
        /// Graceful shutdown began.
        case shutdown
        /// The shutdown grace period is over.
        case graceOver
    }

    enum Action: Sendable, Hashable {
        /// Claim up to this many jobs (the answer comes back as ``Event/claimed(requested:received:)``).
        case claim(limit: Int)
        /// Run the jobs the claim that was just answered brought.
        case run
        /// Hand the jobs the claim that was just answered brought back to the queue unrun.
        case release
        /// Start the shutdown grace period (its end comes back as ``Event/graceOver``).
        case startGracePeriod
        /// Stop now: running jobs, if any, are stopped and handed back.
        case stop
    }

    enum Phase: Sendable, Hashable {
        case working
        case draining
        case stopped
    }

    let concurrency: Int
    let batchClaims: Bool
    let pollInterval: Duration
    /// Under load, how many slots must be free before claiming again.
    let claimBatch: Int

    private(set) var phase = Phase.working
    /// Jobs being run.
    private(set) var running = 0
    /// Slots asked for by claims still in flight.
    private(set) var claiming = 0
    /// Claims that failed in a row.
    private(set) var failures = 0
    /// No claim before this much time since the start of the worker (after failures).
    private(set) var pausedUntil = Duration.zero
    private var graceOver = false

    init(concurrency: Int, batchClaims: Bool, pollInterval: Duration) {
        self.concurrency = max(1, concurrency)
        self.batchClaims = batchClaims
        self.pollInterval = pollInterval
        self.claimBatch = batchClaims ? max(1, self.concurrency / 4) : 1
    }

    /// The first claims. `now` is the time since the worker started.
    mutating func start(now: Duration) -> [Action] {
        phase == .working ? claims(now: now) : []
    }

    /// What to do about `event`; `now` is the time since the worker started.
    mutating func handle(_ event: Event, now: Duration) -> [Action] {
        switch phase {
        case .working: working(event, now: now)
        case .draining: draining(event)
        case .stopped: []
        }
    }

    private mutating func working(_ event: Event, now: Duration) -> [Action] {
        switch event {
        case .jobFinished:
            running -= 1
            if running + claiming > 0, free < claimBatch { return [] }
            return claims(now: now)
        case .claimed(let requested, let received):
            claiming -= requested
            running += received
            failures = 0
            // Fewer than asked for: nothing more is ready; wait for a wake-up or a tick.
            return received < requested ? [.run] : [.run] + claims(now: now)
        case .claimFailed(let requested):
            claiming -= requested
            failures += 1
            pausedUntil = now + min(.seconds(30), pollInterval * (1 << min(failures, 5)))
            return []
        case .tick, .wake:
            return claims(now: now)
        case .shutdown:
            guard running + claiming > 0 else {
                phase = .stopped
                return [.stop]
            }
            phase = .draining
            return [.startGracePeriod]
        case .graceOver:
            return []
        }
    }

    private mutating func draining(_ event: Event) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .jobFinished:
            running -= 1
        case .claimed(let requested, _):
            // Claimed while shutting down: handed straight back, the attempt not counted.
            claiming -= requested
            actions.append(.release)
        case .claimFailed(let requested):
            claiming -= requested
        case .graceOver:
            graceOver = true
        case .tick, .wake, .shutdown:
            break
        }
        // Done when nothing runs or is being claimed, or when the grace period is over and no claim is in flight
        // (a claim's jobs must be handed back before the worker goes).
        if running + claiming == 0 || (graceOver && claiming == 0) {
            phase = .stopped
            actions.append(.stop)
        }
        return actions
    }

    private var free: Int { concurrency - running - claiming }

    /// Claims for every free slot: one claim for all of them, or one per slot with batching off.
    private mutating func claims(now: Duration) -> [Action] {
        guard now >= pausedUntil else { return [] }
        var actions: [Action] = []
        while free > 0 {
            let limit = batchClaims ? free : 1
            claiming += limit
            actions.append(.claim(limit: limit))
        }
        return actions
    }
}
