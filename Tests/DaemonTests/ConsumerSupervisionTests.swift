import Allocator
import Configuration
import Foundation
import Glibc
import Testing

@testable import Daemon

/// The supervised consumer's decisions (`ConsumerSupervision`, spec §15), without processes:
/// documents and the guard's reports in, actions out, time as an input.
@Suite struct ConsumerSupervisionTests {
    typealias Action = ConsumerSupervision.Action

    /// A clock the test moves: both readings advance together.
    final class Clock: @unchecked Sendable {
        let start = ContinuousClock.now
        var elapsed = Duration.zero
        var now: ConsumerSupervision.Now {
            .init(instant: start + elapsed, boot: 1_000_000_000_000 + elapsed.nanoseconds)
        }
        func advance(_ duration: Duration) { elapsed += duration }
    }

    let clock = Clock()

    func document(
        _ state: MemberState, _ partitions: [Int] = [0, 1], revoking: [Int] = [], generation: Int64 = 1, lease: Duration = .seconds(2)
    ) -> MemberDocument {
        let empty = partitions.isEmpty && revoking.isEmpty
        return MemberDocument(
            group: "g", member: "a", state: state, generation: generation, strategy: "sticky",
            allocation: partitions.isEmpty ? [:] : ["t": partitions], revoking: revoking.isEmpty ? [:] : ["t": revoking],
            members: ["a"], partitionCount: 4, validUntil: empty ? nil : Date() + 2,
            validUntilBoottime: empty || ![.active, .suspended, .stopped].contains(state) ? nil : clock.now.boot + lease.nanoseconds,
            updatedAt: Date())
    }

    func machine(
        restart: ConsumerProgram.Restart = .never, shell: Bool = false, handover: Bool = false, stopTimeout: Duration = .seconds(5)
    ) -> ConsumerSupervision {
        let command: ConsumerProgram.Command = shell ? .shell("consume") : .program(["consume"])
        return ConsumerSupervision(
            program: ConsumerProgram(command: command, stopTimeout: stopTimeout, restart: restart), consumerHandover: handover)
    }

    func ended(_ status: ConsumerEnding.Status, _ cause: ConsumerEnding.Cause = .itself) -> ConsumerSupervision.Event {
        .ended(ConsumerEnding(status: status, cause: cause, killed: false))
    }

    @Test func startsOnceActiveUnderTheDocumentsLease() {
        var supervision = machine()
        #expect(supervision.handle(.delivered(document(.joining, [])), now: clock.now) == [])
        let active = document(.active)
        #expect(supervision.handle(.delivered(active), now: clock.now) == [.start(lease: active.validUntilBoottime)])
        // A renewal moves the lease; the same share is no change.
        clock.advance(.milliseconds(600))
        let renewal = document(.active)
        #expect(supervision.handle(.delivered(renewal), now: clock.now) == [.renew(lease: renewal.validUntilBoottime)])
        // A new share: the change signal, once.
        clock.advance(.milliseconds(600))
        let changed = document(.active, [0], generation: 2)
        #expect(supervision.handle(.delivered(changed), now: clock.now) == [.renew(lease: changed.validUntilBoottime), .signal(SIGHUP)])
        #expect(supervision.handle(.delivered(changed), now: clock.now) == [])
        // An empty share has no lease: its guard holds no deadline.
        #expect(supervision.handle(.delivered(document(.active, [], generation: 3)), now: clock.now) == [.renew(lease: nil), .signal(SIGHUP)])
    }

    @Test func aDocumentWhoseLeaseIsOverStartsNothing() {
        var supervision = machine()
        let late = document(.active)
        clock.advance(.seconds(3))
        #expect(supervision.handle(.delivered(late), now: clock.now) == [])
        let fresh = document(.active)
        #expect(supervision.handle(.delivered(fresh), now: clock.now) == [.start(lease: fresh.validUntilBoottime)])
    }

    @Test func aSuspendedMembersConsumerStopsAStopTimeoutBeforeTheLeaseEnds() {
        var supervision = machine(stopTimeout: .seconds(1))
        _ = supervision.handle(.delivered(document(.active, lease: .seconds(3))), now: clock.now)
        let suspended = document(.suspended, lease: .seconds(3))
        #expect(supervision.handle(.delivered(suspended), now: clock.now) == [])
        #expect(supervision.nextWake(now: clock.now) == clock.now.instant + .seconds(2))
        clock.advance(.seconds(2))
        #expect(supervision.handle(.tick, now: clock.now) == [.stop(reason: "the lease ends within the stop timeout while ZooKeeper is unreachable")])
        // Stopped for the lease: started again once active.
        #expect(supervision.handle(ended(.signaled(SIGTERM), .stopped), now: clock.now) == [])
        let again = document(.active, generation: 2)
        #expect(supervision.handle(.delivered(again), now: clock.now) == [.start(lease: again.validUntilBoottime)])
    }

    @Test func lostStopsTheConsumerAndActiveStartsItAgain() {
        var supervision = machine()
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        #expect(supervision.handle(.delivered(document(.lost, [])), now: clock.now) == [.stop(reason: "the member is lost")])
        // The guard ended it by itself when the lease ran out (the daemon was frozen): no failure.
        #expect(supervision.handle(ended(.exited(0), .lease), now: clock.now) == [])
        #expect(supervision.state == .waiting(notBefore: nil))
        let active = document(.active, generation: 2)
        #expect(supervision.handle(.delivered(active), now: clock.now) == [.start(lease: active.validUntilBoottime)])
    }

    @Test func aConsumerKilledByTheChangeSignalItWasSentStartsAgainAtOnce() {
        for shell in [false, true] {
            var supervision = machine(shell: shell)
            _ = supervision.handle(.delivered(document(.active)), now: clock.now)
            let changed = document(.active, [0], generation: 2)
            _ = supervision.handle(.delivered(changed), now: clock.now)
            // Through `/bin/sh -c`, the shell exits with 128 + the signal.
            let death: ConsumerEnding.Status = shell ? .exited(128 + SIGHUP) : .signaled(SIGHUP)
            #expect(
                supervision.handle(ended(death), now: clock.now)
                    == [.restartKilledBySignal(SIGHUP), .start(lease: changed.validUntilBoottime)])
            #expect(supervision.exitStatus == nil)
        }
    }

    @Test func aSignalTheDaemonDidNotSendIsAFailure() {
        var supervision = machine()
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        #expect(supervision.handle(ended(.signaled(SIGHUP)), now: clock.now) == [.done])
        #expect(supervision.exitStatus == 128 + SIGHUP)
        // Without a shell, exit status 129 is only a status.
        var plain = machine()
        _ = plain.handle(.delivered(document(.active)), now: clock.now)
        _ = plain.handle(.delivered(document(.active, [0], generation: 2)), now: clock.now)
        #expect(plain.handle(ended(.exited(129)), now: clock.now) == [.done])
        #expect(plain.exitStatus == 129)
    }

    @Test func onFailureRestartsBackOffFromOneSecondToThirtyAndStartOverAfterAHealthyMinute() {
        var supervision = machine(restart: .onFailure)
        var delays: [Duration] = []
        for _ in 0..<7 {
            if let due = supervision.nextWake(now: clock.now) { clock.advance(clock.now.instant.duration(to: due)) }
            let active = document(.active)
            #expect(supervision.handle(.delivered(active), now: clock.now) == [.start(lease: active.validUntilBoottime)])
            let actions = supervision.handle(ended(.exited(3)), now: clock.now)
            guard case .restartLater(let delay) = actions.first else { Issue.record("\(actions)"); return }
            delays.append(delay)
            // Not before its time.
            #expect(supervision.handle(.delivered(document(.active)), now: clock.now) == [])
        }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30].map { Duration.seconds($0) })
        // A run of a minute: the next failure waits a second again.
        clock.advance(.seconds(30))
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        clock.advance(.seconds(61))
        #expect(supervision.handle(ended(.exited(3)), now: clock.now).first == .restartLater(delay: .seconds(1)))
        // A clean exit ends the daemon with 0, even with on-failure.
        clock.advance(.seconds(1))
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        #expect(supervision.handle(ended(.exited(0)), now: clock.now) == [.done])
        #expect(supervision.exitStatus == 0)
    }

    /// A restart due while the latest document's lease is over (the daemon was frozen, the host
    /// suspended) waits for the next document, not for a tick: the tick found nothing to do,
    /// asked for one at the same past instant, and the supervisor's timer fired again at once,
    /// a core's worth of CPU until a document came.
    @Test func aRestartDueUnderALeaseThatIsOverWaitsForTheNextDocument() {
        var supervision = machine(restart: .onFailure)
        let active = document(.active, lease: .seconds(2))
        _ = supervision.handle(.delivered(active), now: clock.now)
        guard case .restartLater(let delay) = supervision.handle(ended(.exited(3)), now: clock.now).first else {
            Issue.record("no restart")
            return
        }
        #expect(supervision.nextWake(now: clock.now) == clock.now.instant + delay)
        clock.advance(.seconds(5))
        #expect(supervision.handle(.tick, now: clock.now) == [])
        #expect(supervision.nextWake(now: clock.now) == nil, "a wake in the past: the timer fires again at once")
        let renewed = document(.active)
        #expect(supervision.handle(.delivered(renewed), now: clock.now) == [.start(lease: renewed.validUntilBoottime)])
    }

    @Test func aProgramThatCannotStartIsStatus127() {
        var supervision = machine()
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        #expect(supervision.handle(.couldNotStart, now: clock.now) == [.done])
        #expect(supervision.exitStatus == 127)
    }

    @Test func aStopOfTheDaemonStopsTheConsumerThenIsDone() {
        var supervision = machine()
        _ = supervision.handle(.delivered(document(.active)), now: clock.now)
        #expect(supervision.handle(.forward(SIGUSR1), now: clock.now) == [.signal(SIGUSR1)])
        #expect(supervision.handle(.shutDown, now: clock.now) == [.stop(reason: "the daemon is stopping")])
        // A renewal while it stops still bounds the SIGKILL.
        let renewal = document(.active, lease: .seconds(3))
        #expect(supervision.handle(.delivered(renewal), now: clock.now) == [.renew(lease: renewal.validUntilBoottime)])
        #expect(supervision.handle(ended(.signaled(SIGTERM), .stopped), now: clock.now) == [.done])
        #expect(supervision.state == .shutDown)
        #expect(supervision.exitStatus == nil)
        // Nothing starts after.
        #expect(supervision.handle(.delivered(document(.active)), now: clock.now) == [])

        var idle = machine()
        #expect(idle.handle(.shutDown, now: clock.now) == [.done])
    }

    @Test func withConsumerHandoverWhatIsRevokingWhileNoneRunsIsReleasedOnce() {
        var supervision = machine(handover: true)
        let revoking = document(.joining, [], revoking: [2], generation: 4)
        #expect(supervision.handle(.delivered(revoking), now: clock.now) == [.release(epoch: 4)])
        #expect(supervision.handle(.delivered(revoking), now: clock.now) == [])
        // A consumer that starts now never worked on what is revoking: released first.
        let active = document(.active, [0], revoking: [2], generation: 5)
        #expect(supervision.handle(.delivered(active), now: clock.now) == [.release(epoch: 5), .start(lease: active.validUntilBoottime)])
        // While it runs, it releases (on the socket); once it is stopped, its exit is the release.
        #expect(supervision.handle(.delivered(document(.active, [], revoking: [0], generation: 6)), now: clock.now).contains(.signal(SIGHUP)))
        #expect(supervision.handle(.delivered(document(.lost, [], revoking: [0], generation: 6)), now: clock.now) == [.stop(reason: "the member is lost")])
        #expect(supervision.handle(ended(.exited(0), .stopped), now: clock.now) == [.release(epoch: 6)])
    }
}
