import Allocator
import Configuration
import Glibc

/// What the daemon decides about its supervised consumer (spec §15), apart from processes and
/// timers: events in (documents delivered, the guard's reports, the clock), actions out, which
/// `ConsumerSupervisor` performs.
///
/// - A consumer starts once the member is `active`, under the document's lease (its guard holds
///   it, and each later lease, so that it never runs past the last one even if the daemon
///   cannot act).
/// - It gets the change signal once per change of its share (allocation, revoking, generation).
/// - It is stopped when the member is `lost` or `stopped`, when a `suspended` member's lease
///   comes within the stop timeout of its end, and when the daemon stops; it starts again once
///   the member is `active` again (not after the daemon's stop).
/// - One that dies of a signal the daemon sent it (the change signal at its start, before it
///   had a handler) is started again at once: a share change never ends the daemon.
/// - One that exits by itself otherwise ends the supervision with its status, or with
///   `on-failure` and a failure is started again after 1 s, doubling up to 30 s, back to 1 s
///   once a run lasted a minute.
/// - With consumer handover, what is revoking while no consumer runs is released (once).
struct ConsumerSupervision {
    /// A share as the consumer is told of it.
    struct Share: Equatable {
        var allocation: [String: [Int]]
        var revoking: [String: [Int]]
        var generation: Int64

        init(_ document: MemberDocument) {
            (allocation, revoking, generation) = (document.allocation, document.revoking, document.generation)
        }
    }

    /// A consumer from its start (its guard's, that is) to its end.
    struct Run: Equatable {
        var startedAt: ContinuousClock.Instant
        /// The share it was started with or last signalled about.
        var told: Share
        /// The lease its guard was last given.
        var lease: Int64?
        /// The signals the daemon sent it (change signals, passed-on signals).
        var sent: Set<Int32> = []
    }

    /// What follows a stop the daemon asked for.
    enum AfterStop: Equatable {
        /// The member is still in the group: started again once it is `active`.
        case startWhenActive
        /// The daemon stops.
        case shutDown
    }

    enum State: Equatable {
        /// No consumer runs; one starts once the member is `active`, not before `notBefore`.
        case waiting(notBefore: ContinuousClock.Instant?)
        case running(Run)
        /// Told to stop (its guard ends the tree); then `then`.
        case stopping(Run, then: AfterStop)
        /// It exited by itself and is not started again: the daemon leaves and exits with `status`.
        case finished(status: Int32)
        /// The daemon stops: no consumer runs and none starts.
        case shutDown
    }

    enum Action: Equatable {
        /// Start a consumer (its guard) under this lease (`valid_until_boottime_ns`).
        case start(lease: Int64?)
        /// The consumer's lease now ends at this instant; `nil` for none (an empty share).
        case renew(lease: Int64?)
        /// Send this signal to the consumer's process group.
        case signal(Int32)
        /// Stop the consumer: SIGTERM, SIGKILL at the earlier of the stop timeout and the lease.
        case stop(reason: String)
        /// Tell the member the consumer released everything revoked up to this epoch.
        case release(epoch: Int64)
        /// A restart after a failure is due in `delay`.
        case restartLater(delay: Duration)
        /// The consumer was killed by a signal the daemon sent it; it starts again at once.
        case restartKilledBySignal(Int32)
        /// The supervision is over: `finished` or `shutDown`.
        case done
    }

    /// The time as the machine reads it: the monotonic clock, and `CLOCK_BOOTTIME` (ns) for leases.
    struct Now {
        var instant: ContinuousClock.Instant
        var boot: Int64
    }

    enum Event: Equatable {
        case delivered(MemberDocument)
        /// The guard ended its tree (or could not start it).
        case ended(ConsumerEnding)
        /// The guard could not start the program.
        case couldNotStart
        /// The lease had ended by the time the guard would have started the consumer.
        case expiredBeforeStart
        /// A signal the daemon got, to pass on.
        case forward(Int32)
        /// A deadline the machine asked for (`nextWake`) came.
        case tick
        case shutDown
    }

    private(set) var state = State.waiting(notBefore: nil)
    let changeSignal: Int32?
    let stopTimeout: Duration
    let restart: ConsumerProgram.Restart
    /// A consumer killed by signal N through `/bin/sh -c` makes the shell exit with 128+N.
    let throughShell: Bool
    let consumerHandover: Bool
    private var latest: MemberDocument?
    /// The wait before the next restart after a failure.
    private(set) var restartDelay = Self.firstRestartDelay
    /// What was last released on the consumer's behalf (consumer handover): the documents that
    /// repeat it (renewals, a restart's wait) release nothing more. A new generation, or other
    /// revocations in the same one, are released again; a document with nothing revoking
    /// forgets it.
    private var released: (generation: Int64, revoking: [String: [Int]])?

    static let firstRestartDelay = Duration.seconds(1)
    static let longestRestartDelay = Duration.seconds(30)
    /// A run this long counts as healthy: the restart delay starts again from the first.
    static let healthyRun = Duration.seconds(60)

    init(program: ConsumerProgram, consumerHandover: Bool) {
        changeSignal = program.changeSignal
        stopTimeout = program.stopTimeout
        restart = program.restart
        throughShell = program.runsThroughShell
        self.consumerHandover = consumerHandover
    }

    /// The status the daemon exits with, once the consumer ended it.
    var exitStatus: Int32? {
        if case .finished(let status) = state { status } else { nil }
    }

    var isOver: Bool {
        switch state {
        case .finished, .shutDown: true
        default: false
        }
    }

    mutating func handle(_ event: Event, now: Now) -> [Action] {
        switch event {
        case .delivered(let document):
            latest = document
            if document.revoking.isEmpty { released = nil }
            return reconsider(now: now)
        case .ended(let ending):
            return ended(ending, now: now)
        case .couldNotStart:
            // Like a shell's "command not found".
            return ended(ConsumerEnding(status: .exited(127), cause: .itself, killed: false), now: now)
        case .expiredBeforeStart:
            return ended(ConsumerEnding(status: .exited(0), cause: .lease, killed: false), now: now)
        case .forward(let number):
            switch state {
            case .running(var run):
                run.sent.insert(number)
                state = .running(run)
            case .stopping(var run, let then):
                run.sent.insert(number)
                state = .stopping(run, then: then)
            default: return []
            }
            return [.signal(number)]
        case .tick:
            return reconsider(now: now)
        case .shutDown:
            switch state {
            case .waiting, .finished:
                state = .shutDown
                return releaseIfIdle() + [.done]
            case .running(let run):
                state = .stopping(run, then: .shutDown)
                return [.stop(reason: "the daemon is stopping")]
            case .stopping(let run, _):
                state = .stopping(run, then: .shutDown)
                return []
            case .shutDown:
                return []
            }
        }
    }

    /// When the machine wants a `.tick`: a restart's time, or a suspended member's SIGTERM
    /// (a stop timeout before the lease ends). A restart whose time has come and that did not
    /// start (the document's lease was over) waits for the next document, not for a tick.
    func nextWake(now: Now) -> ContinuousClock.Instant? {
        switch state {
        case .waiting(let notBefore?) where latest?.state == .active:
            // Due and not started: the lease was over (`reconsider`); the next document decides.
            guard notBefore > now.instant || latest?.validUntilBoottime.map({ $0 > now.boot }) == true else { return nil }
            return notBefore
        case .running:
            guard let stopAt = suspendedStop() else { return nil }
            return now.instant + .nanoseconds(stopAt - now.boot)
        default:
            return nil
        }
    }

    // MARK: Deciding

    private mutating func reconsider(now: Now) -> [Action] {
        guard let document = latest else { return [] }
        switch state {
        case .waiting(let notBefore):
            var actions = releaseIfIdle()
            guard document.state == .active else { return actions }
            if let notBefore, now.instant < notBefore { return actions }
            // A document read late (the daemon was frozen): its lease is over, the next one is due.
            if let lease = document.validUntilBoottime, lease <= now.boot { return actions }
            state = .running(Run(startedAt: now.instant, told: Share(document), lease: document.validUntilBoottime))
            actions.append(.start(lease: document.validUntilBoottime))
            return actions
        case .running(var run):
            var actions: [Action] = []
            switch document.state {
            case .active, .suspended:
                if run.lease != document.validUntilBoottime {
                    run.lease = document.validUntilBoottime
                    actions.append(.renew(lease: run.lease))
                }
                if run.told != Share(document) {
                    run.told = Share(document)
                    if let changeSignal {
                        run.sent.insert(changeSignal)
                        actions.append(.signal(changeSignal))
                    }
                }
                state = .running(run)
                if let stopAt = suspendedStop(), now.boot >= stopAt {
                    state = .stopping(run, then: .startWhenActive)
                    actions.append(.stop(reason: "the lease ends within the stop timeout while ZooKeeper is unreachable"))
                }
            case .lost, .stopped:
                state = .stopping(run, then: .startWhenActive)
                actions.append(.stop(reason: "the member is \(document.state.rawValue)"))
            case .joining:
                break
            }
            return actions
        case .stopping(var run, let then):
            // The stop's SIGKILL comes no later than the lease, which a live member still renews.
            guard [.active, .suspended].contains(document.state), run.lease != document.validUntilBoottime else { return [] }
            run.lease = document.validUntilBoottime
            state = .stopping(run, then: then)
            return [.renew(lease: run.lease)]
        case .finished, .shutDown:
            return releaseIfIdle()
        }
    }

    /// When a suspended member's consumer gets SIGTERM: a stop timeout before the lease ends,
    /// so that the SIGKILL after the stop timeout lands before it.
    private func suspendedStop() -> Int64? {
        guard let document = latest, document.state == .suspended, let lease = document.validUntilBoottime else { return nil }
        return lease - stopTimeout.nanoseconds
    }

    private mutating func ended(_ ending: ConsumerEnding, now: Now) -> [Action] {
        let run: Run
        let byItself: Bool
        switch state {
        case .running(let running):
            run = running
            byItself = ending.cause == .itself
        case .stopping(let stopping, then: .shutDown):
            state = .shutDown
            _ = stopping
            return releaseIfIdle() + [.done]
        case .stopping(let stopping, then: .startWhenActive):
            run = stopping
            byItself = false
        case .waiting, .finished, .shutDown:
            return []
        }
        state = .waiting(notBefore: nil)
        var actions: [Action] = []
        if byItself {
            if let signal = killingSignal(ending.status), run.sent.contains(signal) {
                actions.append(.restartKilledBySignal(signal))
            } else if restart == .onFailure, ending.status.failed {
                if run.startedAt.duration(to: now.instant) >= Self.healthyRun { restartDelay = Self.firstRestartDelay }
                state = .waiting(notBefore: now.instant + restartDelay)
                actions.append(.restartLater(delay: restartDelay))
                restartDelay = min(restartDelay * 2, Self.longestRestartDelay)
            } else {
                state = .finished(status: ending.status.code)
                return releaseIfIdle() + [.done]
            }
        }
        return actions + reconsider(now: now)
    }

    /// The signal that ended the consumer: its leader's, or through `/bin/sh -c` the one the
    /// shell's status 128+N names.
    private func killingSignal(_ status: ConsumerEnding.Status) -> Int32? {
        switch status {
        case .signaled(let signal): signal
        case .exited(let code) where throughShell && code > 128 && code < 160: code - 128
        case .exited: nil
        }
    }

    /// With consumer handover and no consumer running: what the latest document has revoking
    /// is released, unless that was done already.
    private mutating func releaseIfIdle() -> [Action] {
        guard consumerHandover, let document = latest, !document.revoking.isEmpty else { return [] }
        if let released, released.generation == document.generation, released.revoking == document.revoking { return [] }
        released = (document.generation, document.revoking)
        return [.release(epoch: document.generation)]
    }
}
