import Coordination
import Testing

/// The election without ZooKeeper: a lost create reply, surplus nodes of one session, a node
/// made by hand, a contender deleted behind the member's back.
@Suite struct ElectionMachineTests {
    let session: Int64 = 0x1234
    let other: Int64 = 0x99

    func name(_ session: Int64, nonce: UInt64, sequence: Int) -> String {
        ContenderName.prefix(session: session, nonce: nonce) + String(format: "%010d", sequence)
    }

    func prefix(nonce: UInt64) -> String {
        ContenderName.prefix(session: session, nonce: nonce)
    }

    @Test func theLowestContenderLeadsAndTheOthersWatchTheOneAheadOfThem() {
        var machine = ElectionMachine()
        #expect(machine.handle(.sessionStarted(session: session)) == [.create(prefix: prefix(nonce: 1))])
        let mine = name(session, nonce: 1, sequence: 7)
        let ahead = name(other, nonce: 1, sequence: 5)
        #expect(machine.handle(.created(name: mine)) == [.list])
        #expect(machine.handle(.listed([name(3, nonce: 1, sequence: 2), ahead, mine, name(4, nonce: 1, sequence: 9)])) == [.watch(ahead)])
        #expect(machine.handle(.predecessorFound(owner: other)) == [])
        #expect(machine.handle(.predecessorChanged) == [.list])
        #expect(machine.handle(.listed([mine, name(4, nonce: 1, sequence: 9)])) == [.elected])
        #expect(machine.isLeading)
        #expect(machine.contender == mine)
    }

    /// The create was applied but its reply was lost with the connection: the node of its
    /// prefix is adopted, never a second one made (the hole of issue 20: two nodes of one
    /// session, the member waiting on its own orphan for ever).
    @Test func aCreateWhoseReplyWasLostIsAdoptedByItsPrefix() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        #expect(machine.handle(.createOutcomeUnknown) == [.list])
        #expect(machine.contender == nil)
        let applied = name(session, nonce: 1, sequence: 1)
        let leader = name(other, nonce: 1, sequence: 0)
        #expect(machine.handle(.listed([leader, applied])) == [.watch(leader)])
        #expect(machine.contender == applied)
    }

    @Test func aCreateWhoseReplyWasLostAndThatWasNotAppliedIsMadeAgainWithTheSamePrefix() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        _ = machine.handle(.createOutcomeUnknown)
        #expect(machine.handle(.listed([name(other, nonce: 1, sequence: 0)])) == [.create(prefix: prefix(nonce: 1))])
    }

    /// Nodes of this session other than its contender (a create of an older version retried
    /// blindly, an adoption that found two) are deleted and never waited on.
    @Test func surplusNodesOfTheSessionAreDeletedAndNeverWaitedOn() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        _ = machine.handle(.createOutcomeUnknown)
        let orphan = name(session, nonce: 1, sequence: 1)
        let adopted = orphan
        let second = name(session, nonce: 1, sequence: 2)
        let older = name(session, nonce: 0, sequence: 0)
        #expect(machine.handle(.listed([older, orphan, second])) == [.delete(older), .delete(second), .elected])
        #expect(machine.contender == adopted)
    }

    /// A node that is not ephemeral never vanishes with a session: waiting on it would leave
    /// the group without a leader for good.
    @Test func aPredecessorThatIsNotEphemeralIsPassedOver() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        let fake = "00000000000000000000000000000000__lock__0000000000"
        let mine = name(session, nonce: 1, sequence: 4)
        _ = machine.handle(.created(name: mine))
        #expect(machine.handle(.listed([fake, mine])) == [.watch(fake)])
        #expect(machine.handle(.predecessorFound(owner: 0)) == [.passOver(fake), .list])
        #expect(machine.handle(.listed([fake, mine])) == [.elected])
        #expect(machine.passedOver == [fake])
    }

    /// A predecessor whose owner is this session under a name that does not say so is surplus.
    @Test func aPredecessorOwnedByThisSessionIsDeleted() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        let disguised = "ffffffffffffffff0000000000000001__lock__0000000000"
        let mine = name(session, nonce: 1, sequence: 4)
        _ = machine.handle(.created(name: mine))
        #expect(machine.handle(.listed([disguised, mine])) == [.watch(disguised)])
        #expect(machine.handle(.predecessorFound(owner: session)) == [.delete(disguised), .list])
    }

    @Test func aContenderDeletedBehindTheMembersBackContendsAgainWithANewPrefix() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        let mine = name(session, nonce: 1, sequence: 4)
        _ = machine.handle(.created(name: mine))
        #expect(machine.handle(.listed([name(other, nonce: 1, sequence: 5)])) == [.create(prefix: prefix(nonce: 2))])
        // A leader whose fenced write found its node gone does the same.
        _ = machine.handle(.created(name: name(session, nonce: 2, sequence: 6)))
        _ = machine.handle(.listed([name(session, nonce: 2, sequence: 6)]))
        #expect(machine.isLeading)
        #expect(machine.handle(.contenderGone) == [.create(prefix: prefix(nonce: 3))])
        #expect(!machine.isLeading)
    }

    @Test func aFailedCreateOrAMissingLockIsTriedAgainLater() {
        var machine = ElectionMachine()
        _ = machine.handle(.sessionStarted(session: session))
        #expect(machine.handle(.createFailed) == [.retry(after: ElectionMachine.retryDelay)])
        #expect(machine.handle(.retryDue) == [.create(prefix: prefix(nonce: 1))])
        _ = machine.handle(.created(name: name(session, nonce: 1, sequence: 0)))
        #expect(machine.handle(.listFailed) == [.retry(after: ElectionMachine.retryDelay)])
        #expect(machine.handle(.retryDue) == [.create(prefix: prefix(nonce: 2))])
    }

    /// Results of requests made before the state moved on change nothing.
    @Test func staleResultsAreIgnored() {
        var machine = ElectionMachine()
        #expect(machine.handle(.created(name: "x")) == [])
        _ = machine.handle(.sessionStarted(session: session))
        #expect(machine.handle(.predecessorChanged) == [])
        #expect(machine.handle(.retryDue) == [])
        _ = machine.handle(.sessionEnded)
        #expect(machine.state == .idle)
        #expect(machine.handle(.listed([])) == [])
    }
}
