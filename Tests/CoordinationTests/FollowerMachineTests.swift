import Allocation
import Coordination
import Testing

/// The follower's life without ZooKeeper: what it publishes, and when it acknowledges.
@Suite struct FollowerMachineTests {
    let start = ContinuousClock.now
    let timeout = Duration.milliseconds(3000)

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    func partitions(_ spec: String) -> Set<Partition> { Set(try! PartitionSpec(parsing: spec).partitions) }

    func publications(_ actions: [FollowerMachine.Action]) -> [Publication] {
        actions.compactMap { if case .publish(let publication) = $0 { publication } else { nil } }
    }

    /// A member connected in session 7, joined, with a summary naming `grant` (its node made
    /// by zxid `made`) and the grant read (at node `version`): two publications so far
    /// (joining, active).
    func joined(
        grant: Grant, version: Int32 = -1, made: Int64 = 0, handover: FollowerMachine.Handover = .daemon
    ) -> FollowerMachine {
        var machine = FollowerMachine(member: "a", handover: handover)
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.joined(), now: at(1))
        _ = machine.handle(.summaryRead(GroupSummary(
            epoch: grant.epoch, leader: "a", strategy: "consistent", members: ["a", "b"], partitionCount: 8,
            grants: ["a": grant.epoch]), made: made), now: at(2))
        _ = machine.handle(.grantRead(grant, version: version), now: at(3))
        return machine
    }

    @Test func joinsThenPublishesItsGrantAndAcknowledgesOnceDelivered() {
        var machine = FollowerMachine(member: "a", weight: 2)
        let started = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        #expect(started.contains(.join(MemberRecord(ackedEpoch: 0, weight: 2))))
        #expect(publications(started).map(\.state) == [.joining])
        #expect(machine.handle(.joined(), now: at(1)).first == .readSummary)
        // The summary names a grant: it is read, and both go out together.
        let summary = GroupSummary(epoch: 4, leader: "a", strategy: "consistent", members: ["a"], partitionCount: 4, grants: ["a": 4])
        #expect(machine.handle(.summaryRead(summary), now: at(2)).contains(.readGrant))
        #expect(machine.latest?.state == .joining)

        let grant = Grant(epoch: 4, session: 7, partitions: partitions("t:0-3"))
        let read = machine.handle(.grantRead(grant), now: at(5))
        let publication = try! #require(publications(read).first)
        #expect(publication.state == .active)
        #expect(publication.partitions == grant.partitions)
        #expect(publication.lease == at(0) + timeout - .milliseconds(300))
        #expect(publication.epoch == 4)
        #expect(publication.members == ["a"])
        // Not acknowledged before the publication is delivered.
        #expect(!read.contains(.acknowledge(MemberRecord(ackedEpoch: 4, weight: 2))))
        let delivered = machine.handle(.delivered(count: 2), now: at(6))
        #expect(delivered.contains(.acknowledge(MemberRecord(ackedEpoch: 4, weight: 2))))
        _ = machine.handle(.acknowledged(epoch: 4), now: at(7))
        #expect(machine.record.ackedEpoch == 4)
    }

    /// The group's state deleted and made again by a new leader that found no record of the
    /// old epochs (it starts at 1): the summary node is another (its `czxid`), so its lower
    /// epochs are not stale; the old share is dropped until the new grant is read, and that
    /// grant is acknowledged. (Seed 13184139212189570402: the member never read the summary
    /// absent, and waited for epochs past the old ones for good.)
    @Test func aSummaryMadeAnewStartsTheEpochsAgain() {
        var machine = FollowerMachine(member: "a")
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.joined(), now: at(1))
        let old = GroupSummary(epoch: 12, leader: "b", strategy: "consistent", members: ["a", "b"], partitionCount: 8, grants: ["a": 12])
        _ = machine.handle(.summaryRead(old, made: 100), now: at(2))
        _ = machine.handle(.grantRead(Grant(epoch: 12, session: 7, partitions: partitions("t:0-3"))), now: at(3))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 12), now: at(5))
        #expect(machine.latest?.partitions == partitions("t:0-3"))

        let anew = GroupSummary(epoch: 2, leader: "a", strategy: "consistent", members: ["a"], partitionCount: 8, grants: ["a": 2])
        let read = machine.handle(.summaryRead(anew, made: 900), now: at(6))
        #expect(read.contains(.readGrant))
        #expect(machine.latest?.partitions.isEmpty == true, "the old share is dropped")
        let granted = machine.handle(.grantRead(Grant(epoch: 2, session: 7, partitions: partitions("t:0-7"))), now: at(7))
        #expect(publications(granted).last?.partitions == partitions("t:0-7"))
        #expect(publications(granted).last?.epoch == 2)
        let delivered = machine.handle(.delivered(count: 4), now: at(8))
        #expect(delivered.contains(.acknowledge(MemberRecord(ackedEpoch: 2))))

        // The same node read again with an epoch below the one acknowledged: a session's reads
        // never go back in time, so the leader lost track of the epochs (summary, grant and
        // record overwritten by hand) and started lower; the share is dropped as for a node
        // made anew, and the record acknowledges nothing until a grant is read again. (Seed
        // 4474465780476091625: the member kept publishing its epoch-6 share while the leader,
        // at epoch 5, took its restored "acknowledged 6" for an acknowledgement of epoch 5.)
        let lower = GroupSummary(epoch: 1, leader: "a", strategy: "consistent", members: ["a"], partitionCount: 8, grants: ["a": 1])
        #expect(machine.handle(.summaryRead(lower, made: 900), now: at(9)).contains(.readGrant))
        #expect(machine.latest?.partitions.isEmpty == true)
        #expect(machine.record.ackedEpoch == 0)
    }

    /// An acknowledgement written for the old life of the group's state, whose reply comes after
    /// the summary made anew was read, does not raise the epoch acknowledged in the new one:
    /// the member would otherwise never acknowledge the new, lower epochs.
    @Test func anAcknowledgementOfAnEarlierLifeCountsForNothing() {
        var machine = FollowerMachine(member: "a")
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.joined(), now: at(1))
        let old = GroupSummary(epoch: 12, leader: "b", strategy: "consistent", members: ["a", "b"], partitionCount: 8, grants: ["a": 12])
        _ = machine.handle(.summaryRead(old, made: 100), now: at(2))
        _ = machine.handle(.grantRead(Grant(epoch: 12, session: 7, partitions: partitions("t:0-3"))), now: at(3))
        #expect(machine.handle(.delivered(count: 2), now: at(4)).contains(.acknowledge(MemberRecord(ackedEpoch: 12))))
        // The write of 12 is under way when the summary made anew is read.
        let anew = GroupSummary(epoch: 2, leader: "a", strategy: "consistent", members: ["a"], partitionCount: 8, grants: ["a": 2])
        _ = machine.handle(.summaryRead(anew, made: 900), now: at(5))
        _ = machine.handle(.acknowledged(epoch: 12), now: at(6))
        #expect(machine.record.ackedEpoch == 0)
        _ = machine.handle(.grantRead(Grant(epoch: 2, session: 7, partitions: partitions("t:0-7"))), now: at(7))
        #expect(machine.handle(.delivered(count: 4), now: at(8)).contains(.acknowledge(MemberRecord(ackedEpoch: 2))))
    }

    @Test func aGrantOfAnotherSessionIsNeverPublished() {
        var machine = FollowerMachine(member: "a")
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.joined(), now: at(1))
        let stale = machine.handle(.grantRead(Grant(epoch: 9, session: 6, partitions: partitions("t:0-3"))), now: at(2))
        #expect(publications(stale).allSatisfy { $0.partitions.isEmpty })
        #expect(machine.latest?.state == .joining)
        #expect(!stale.contains { if case .acknowledge = $0 { true } else { false } })
    }

    @Test func aShrunkenGrantIsPublishedBeforeItIsAcknowledged() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 4), now: at(5))

        let shrunk = Grant(epoch: 5, session: 7, partitions: partitions("t:0-1"), releasing: partitions("t:2-3"))
        let actions = machine.handle(.grantRead(shrunk), now: at(10))
        #expect(publications(actions).map(\.partitions) == [partitions("t:0-1")])
        #expect(!actions.contains(.acknowledge(MemberRecord(ackedEpoch: 5))))
        // Delivered: only now.
        #expect(!machine.handle(.delivered(count: 2), now: at(11)).contains(.acknowledge(MemberRecord(ackedEpoch: 5))))
        #expect(machine.handle(.delivered(count: 3), now: at(12)).contains(.acknowledge(MemberRecord(ackedEpoch: 5))))
    }

    /// A leader's own follower takes the leader's write as read: the summary and its grant make
    /// one publication, and no read of the grant is asked for (the leader was the last to
    /// acknowledge its own revocations while it read them back). A write that did not touch its
    /// grant is the summary alone.
    @Test func whatItsLeaderWroteIsTakenAsRead() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 4), now: at(5))
        let summary = GroupSummary(
            epoch: 5, leader: "a", strategy: "consistent", members: ["a", "b"], partitionCount: 8,
            grants: ["a": 5], awaited: ["a": 5])
        let shrunk = Grant(epoch: 5, session: 7, partitions: partitions("t:0-1"), releasing: partitions("t:2-3"))
        let actions = machine.handle(.written(summary, made: 0, grant: .set(shrunk)), now: at(10))
        #expect(!actions.contains(.readGrant) && !actions.contains(.readSummary))
        #expect(publications(actions).map(\.partitions) == [partitions("t:0-1")])
        #expect(publications(actions).map(\.epoch) == [5])
        #expect(machine.handle(.delivered(count: 3), now: at(11)).contains(.acknowledge(MemberRecord(ackedEpoch: 5))))

        var unchanged = summary
        unchanged.epoch = 6
        unchanged.members = ["a", "b", "c"]
        let alone = machine.handle(.written(unchanged, made: 0, grant: .unchanged), now: at(20))
        #expect(!alone.contains(.readGrant))
        #expect(publications(alone).map(\.members) == [["a", "b", "c"]])
    }

    /// A summary whose write changed this member's grant, and says how from the very node it
    /// holds (epoch and version), gives the new grant without a read of the node: published,
    /// and acknowledged once delivered, as if read. A change from another version of the node
    /// (written by someone else since), or from another epoch, is not taken: the grant is read.
    @Test func aGrantChangedFromTheNodeHeldIsTakenFromTheSummary() {
        func summary(_ epoch: Int64, change: GrantChange?) -> GroupSummary {
            GroupSummary(
                epoch: epoch, leader: "b", strategy: "consistent", members: ["a", "b", "c"], partitionCount: 8,
                grants: ["a": epoch], awaited: ["a": epoch], changes: change.map { ["a": $0] } ?? [:])
        }
        func joinedAtVersion(_ version: Int32) -> FollowerMachine {
            var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")), version: version, made: 90)
            _ = machine.handle(.delivered(count: 2), now: at(4))
            _ = machine.handle(.acknowledged(epoch: 4), now: at(5))
            return machine
        }
        let change = GrantChange(
            fromEpoch: 4, fromVersion: 2, added: partitions("t:7"), removed: partitions("t:2-3"), releasing: partitions("t:2-3"))

        var machine = joinedAtVersion(2)
        let actions = machine.handle(.summaryRead(summary(5, change: change), made: 90), now: at(10))
        #expect(!actions.contains(.readGrant))
        #expect(publications(actions).map(\.partitions) == [partitions("t:0-1,7")])
        #expect(publications(actions).map(\.epoch) == [5])
        #expect(machine.handle(.delivered(count: 3), now: at(11)).contains(.acknowledge(MemberRecord(ackedEpoch: 5))))
        // The node is now at version 3: the next change from there is taken too.
        _ = machine.handle(.acknowledged(epoch: 5), now: at(12))
        let next = GrantChange(fromEpoch: 5, fromVersion: 3, removed: partitions("t:7"), releasing: partitions("t:7"))
        let again = machine.handle(.summaryRead(summary(6, change: next), made: 90), now: at(20))
        #expect(!again.contains(.readGrant))
        #expect(publications(again).map(\.partitions) == [partitions("t:0-1")])

        var rewritten = joinedAtVersion(3)
        let other = rewritten.handle(.summaryRead(summary(5, change: change), made: 90), now: at(10))
        #expect(other.contains(.readGrant))
        #expect(publications(other).isEmpty)

        var unknown = joinedAtVersion(-1)
        #expect(unknown.handle(.summaryRead(summary(5, change: change), made: 90), now: at(10)).contains(.readGrant))

        var earlier = joinedAtVersion(2)
        var fromEarlier = change
        fromEarlier.fromEpoch = 3
        #expect(earlier.handle(.summaryRead(summary(5, change: fromEarlier), made: 90), now: at(10)).contains(.readGrant))

        // Another life of the summary node: the grant is dropped and read, whatever the change.
        var madeAnew = joinedAtVersion(2)
        let anew = madeAnew.handle(.summaryRead(summary(5, change: change), made: 95), now: at(10))
        #expect(anew.contains(.readGrant))
        #expect(publications(anew).allSatisfy { $0.partitions.isEmpty })
    }

    /// A grant whose lease ran out is read again, never taken from a summary's change (the
    /// leader may have waited the lease out and given the share away).
    @Test func aGrantWhoseLeaseRanOutIsNotTakenFromTheSummary() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")), version: 2, made: 90)
        let changed = GroupSummary(
            epoch: 5, leader: "a", strategy: "consistent", members: ["a", "b"], partitionCount: 8, grants: ["a": 5],
            changes: ["a": GrantChange(fromEpoch: 4, fromVersion: 2, added: partitions("t:4"))])
        let late = machine.handle(.summaryRead(changed, made: 90), now: at(2900))
        #expect(late.contains(.readGrant))
        #expect(publications(late).allSatisfy { $0.partitions.isEmpty })
    }

    /// A grant read after the leader wrote again is newer than the summary that named it: it
    /// waits for its own summary (the watch fires for it) rather than go out with the older
    /// member list under its generation. (BadInputTests saw such a document: generation 7, the
    /// member list of 6.)
    @Test func aGrantNewerThanItsSummaryWaitsForItsSummary() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-1")))
        func summary(_ epoch: Int64, _ members: [String]) -> GroupSummary {
            GroupSummary(epoch: epoch, leader: "b", strategy: "consistent", members: members, partitionCount: 8, grants: ["a": epoch])
        }
        #expect(machine.handle(.summaryRead(summary(6, ["a", "b"])), now: at(10)).contains(.readGrant))
        let early = machine.handle(.grantRead(Grant(epoch: 7, session: 7, partitions: partitions("t:0-2"))), now: at(11))
        #expect(publications(early).isEmpty)
        #expect(machine.latest?.epoch == 4)
        // Its summary: the grant again, and then both.
        #expect(machine.handle(.summaryRead(summary(7, ["a", "b", "c"])), now: at(12)).contains(.readGrant))
        let both = machine.handle(.grantRead(Grant(epoch: 7, session: 7, partitions: partitions("t:0-2"))), now: at(13))
        #expect(publications(both).map(\.epoch) == [7])
        #expect(publications(both).map(\.members) == [["a", "b", "c"]])
        #expect(publications(both).map(\.partitions) == [partitions("t:0-2")])
    }

    /// Only what someone waits for is acknowledged: the session's first grant (a record that
    /// acknowledged something is how a leader finds a grant node lost), then a grant that
    /// releases something, or one the summary awaits the member for; not one that only grew.
    @Test func aGrantThatOnlyGrewIsNotAcknowledged() {
        func acknowledges(_ actions: [FollowerMachine.Action]) -> Bool {
            actions.contains { if case .acknowledge = $0 { true } else { false } }
        }
        func summary(_ epoch: Int64, awaited: [String: Int64] = [:]) -> GroupSummary {
            GroupSummary(
                epoch: epoch, leader: "b", strategy: "consistent", members: ["a", "b"], partitionCount: 8,
                grants: ["a": epoch], awaited: awaited)
        }
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-1")))
        #expect(acknowledges(machine.handle(.delivered(count: 2), now: at(4))), "the session's first grant")
        _ = machine.handle(.acknowledged(epoch: 4), now: at(5))

        // Grown: published, never acknowledged.
        _ = machine.handle(.summaryRead(summary(5)), now: at(10))
        let grown = machine.handle(.grantRead(Grant(epoch: 5, session: 7, partitions: partitions("t:0-3"))), now: at(11))
        #expect(publications(grown).map(\.partitions) == [partitions("t:0-3")])
        #expect(!acknowledges(grown) && !acknowledges(machine.handle(.delivered(count: 3), now: at(12))))
        #expect(machine.record.ackedEpoch == 4)

        // Awaited by the summary (its node lost its record, say), though the grant only grew.
        _ = machine.handle(.summaryRead(summary(6, awaited: ["a": 6])), now: at(20))
        _ = machine.handle(.grantRead(Grant(epoch: 6, session: 7, partitions: partitions("t:0-4"))), now: at(21))
        #expect(acknowledges(machine.handle(.delivered(count: 4), now: at(22))))
        _ = machine.handle(.acknowledged(epoch: 6), now: at(23))

        // Shrunk: releasing something, so awaited.
        _ = machine.handle(.summaryRead(summary(7, awaited: ["a": 7])), now: at(30))
        _ = machine.handle(
            .grantRead(Grant(epoch: 7, session: 7, partitions: partitions("t:0-2"), releasing: partitions("t:3-4"))), now: at(31))
        #expect(acknowledges(machine.handle(.delivered(count: 5), now: at(32))))
    }

    @Test func aLostConnectionKeepsTheShareUntilTheLeaseThenPublishesLost() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.heard(at: at(1000)), now: at(1001))
        let suspended = publications(machine.handle(.disconnected, now: at(1100)))
        #expect(suspended.map(\.state) == [.suspended])
        #expect(suspended.first?.partitions == partitions("t:0-3"))
        let deadline = at(1000) + timeout - .milliseconds(300)
        #expect(suspended.first?.lease == deadline)
        let lost = publications(machine.handle(.tick, now: deadline))
        #expect(lost.map(\.state) == [.lost])
        #expect(lost.first?.partitions.isEmpty == true)
        #expect(lost.first?.lease == nil)
        // Heard again within the session: the grant is still this member's.
        _ = machine.handle(.heard(at: at(3000)), now: at(3001))
        let back = publications(machine.handle(.reconnected, now: at(3002)))
        #expect(back.map(\.state) == [.active])
    }

    @Test func theLeaseIsRenewedEveryThirdOfTheTimeout() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.heard(at: at(900)), now: at(900))
        let renewed = publications(machine.handle(.tick, now: at(1003)))
        #expect(renewed.first?.lease == at(900) + timeout - .milliseconds(300))
        // Between renewals, a fresher answer alone publishes nothing.
        _ = machine.handle(.heard(at: at(1100)), now: at(1100))
        #expect(publications(machine.handle(.tick, now: at(1200))).isEmpty)
    }

    /// The node made again says what the file shows: the grant whose share is out is
    /// acknowledged from the start (its own acknowledgement's write went with the node), never
    /// "nothing held" (seed 4099104684309640210).
    @Test func aDeletedMemberNodeIsCreatedAgainAndTheShareKept() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        let actions = machine.handle(.memberNodeDeleted, now: at(10))
        #expect(!actions.contains { if case .join = $0 { true } else { false } }, "the grant's document is not out yet")
        #expect(machine.handle(.delivered(count: 2), now: at(11)).contains(.join(MemberRecord(ackedEpoch: 4))))
        #expect(machine.latest?.partitions == partitions("t:0-3"))
    }

    /// A summary that leaves this member out makes it look at its node, unless the summary
    /// was written before the node was made (a joiner's first read: it cannot list it yet).
    @Test func aSummaryOlderThanTheNodeIsNoSignTheNodeIsGone() {
        let without = GroupSummary(epoch: 4, leader: "b", strategy: "consistent", members: ["b"], partitionCount: 8)
        var machine = FollowerMachine(member: "a")
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.joined(made: 500), now: at(1))
        #expect(!machine.handle(.summaryRead(without, made: 90, modified: 400), now: at(2)).contains(.checkMemberNode))
        var later = without
        later.epoch = 5
        #expect(machine.handle(.summaryRead(later, made: 90, modified: 600), now: at(3)).contains(.checkMemberNode))

        // Not knowing when either was written, it looks.
        var unknown = FollowerMachine(member: "a")
        _ = unknown.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = unknown.handle(.joined(), now: at(1))
        #expect(unknown.handle(.summaryRead(without, made: 90, modified: 400), now: at(2)).contains(.checkMemberNode))
    }

    /// The node seen gone while its join is under way (an acknowledgement's write lost before
    /// the join made the node, say): one join at a time, and one more once that one is done.
    @Test func aNodeSeenGoneDuringItsJoinIsJoinedAgainAfterIt() {
        func joins(_ actions: [FollowerMachine.Action]) -> Int {
            actions.filter { if case .join = $0 { true } else { false } }.count
        }
        var machine = FollowerMachine(member: "a")
        #expect(joins(machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))) == 1)
        #expect(joins(machine.handle(.memberNodeDeleted, now: at(1))) == 0, "one join at a time")
        #expect(joins(machine.handle(.joined(), now: at(2))) == 1)
        #expect(joins(machine.handle(.joined(), now: at(3))) == 0)
    }

    /// Seed 11651532783079144138: the group's state deleted and made anew by this member as the
    /// new leader. Its node, made again at once with the epochs forgotten (acknowledged 0), told
    /// the leader it held nothing while its file still showed the old share under a valid lease;
    /// the leader granted it nothing, known. The node is made again only once the dropped share
    /// is out.
    @Test func aNodeMadeAgainWaitsForTheDroppedShareToBeOut() {
        var machine = FollowerMachine(member: "a")
        _ = machine.handle(.sessionStarted(session: 7, timeout: timeout), now: at(0))
        _ = machine.handle(.delivered(count: 1), now: at(1))
        _ = machine.handle(.joined(), now: at(1))
        let old = GroupSummary(epoch: 9, leader: "b", strategy: "consistent", members: ["a", "b"], partitionCount: 8, grants: ["a": 9])
        _ = machine.handle(.summaryRead(old, made: 100), now: at(2))
        _ = machine.handle(.grantRead(Grant(epoch: 9, session: 7, partitions: partitions("t:0-3"))), now: at(3))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 9), now: at(5))

        let anew = GroupSummary(epoch: 1, leader: "a", strategy: "consistent", members: [], partitionCount: 8, grants: [:])
        let read = machine.handle(.summaryRead(anew, made: 900), now: at(6))
        #expect(publications(read).last?.partitions.isEmpty == true, "the old share is dropped")
        #expect(read.contains(.checkMemberNode))
        let deleted = machine.handle(.memberNodeDeleted, now: at(7))
        #expect(!deleted.contains { if case .join = $0 { true } else { false } }, "the file still shows the share")
        #expect(machine.handle(.delivered(count: 3), now: at(8)).contains(.join(MemberRecord(ackedEpoch: 0))))
    }

    @Test func anEndedSessionDropsTheGrant() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        let ended = publications(machine.handle(.sessionEnded, now: at(10)))
        #expect(ended.map(\.state) == [.lost])
        #expect(ended.first?.partitions.isEmpty == true)
        // The next session publishes nothing before its own grant.
        let next = machine.handle(.sessionStarted(session: 8, timeout: timeout), now: at(20))
        #expect(next.contains(.join(MemberRecord(ackedEpoch: 0))), "the earlier session's lease is over")
        _ = machine.handle(.grantRead(Grant(epoch: 4, session: 7, partitions: partitions("t:0-3"))), now: at(21))
        #expect(machine.latest?.partitions.isEmpty == true)
    }

    @Test func stopPublishesStoppedAndLeavesOnceItIsDelivered() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        let stopping = machine.handle(.stop, now: at(10))
        #expect(publications(stopping).map(\.state) == [.stopped])
        #expect(!stopping.contains(.leave))
        #expect(!machine.handle(.delivered(count: 2), now: at(11)).contains(.leave))
        #expect(machine.handle(.delivered(count: 3), now: at(12)).contains(.leave))
    }

    // MARK: Consumer handover (spec §15)

    func acknowledges(_ actions: [FollowerMachine.Action], _ epoch: Int64) -> Bool {
        actions.contains(.acknowledge(MemberRecord(ackedEpoch: epoch)))
    }

    /// A member with consumer handover holding t:0-3, acknowledged, that then loses t:2-3 at
    /// epoch 5 (three publications so far: joining, active, the shrunken one).
    func revokedTwo() -> FollowerMachine {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")), handover: .consumer(releaseTimeout: .seconds(30)))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 4), now: at(5))
        _ = machine.handle(.grantRead(Grant(epoch: 5, session: 7, partitions: partitions("t:0-1"), releasing: partitions("t:2-3"))), now: at(10))
        return machine
    }

    @Test func whatTheConsumerMustReleaseIsPublishedAsRevokingAndAcknowledgedOnlyAfterItsRelease() throws {
        var machine = revokedTwo()
        let shrunk = try #require(machine.latest)
        #expect(shrunk.partitions == partitions("t:0-1"))
        #expect(shrunk.revoking == partitions("t:2-3"))
        #expect(shrunk.lease != nil)
        // Delivered, but the consumer has not released: no acknowledgement.
        #expect(!acknowledges(machine.handle(.delivered(count: 3), now: at(11)), 5))
        // A release of an earlier epoch frees nothing revoked at 5.
        #expect(publications(machine.handle(.released(epoch: 4), now: at(12))).isEmpty)
        let released = machine.handle(.released(epoch: 5), now: at(13))
        #expect(publications(released).map(\.revoking) == [[]])
        #expect(!acknowledges(released, 5))
        #expect(acknowledges(machine.handle(.delivered(count: 4), now: at(14)), 5))
    }

    @Test func theReleaseTimeoutReleasesByForceAndSaysSo() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")), handover: .consumer(releaseTimeout: .milliseconds(500)))
        _ = machine.handle(.delivered(count: 2), now: at(4))
        _ = machine.handle(.acknowledged(epoch: 4), now: at(5))
        let revoked = machine.handle(.grantRead(Grant(epoch: 5, session: 7, partitions: partitions("t:0-1"), releasing: partitions("t:2-3"))), now: at(10))
        // It asks to be woken when the timeout is due.
        #expect(revoked.contains(.wake(at: at(510))))
        _ = machine.handle(.delivered(count: 3), now: at(11))
        #expect(machine.handle(.tick, now: at(509)).allSatisfy { if case .releaseTimedOut = $0 { false } else { true } })
        let due = machine.handle(.tick, now: at(510))
        #expect(due.contains(.releaseTimedOut(partitions("t:2-3"))))
        #expect(machine.latest?.revoking == [])
        #expect(acknowledges(machine.handle(.delivered(count: 4), now: at(511)), 5))
    }

    @Test func aPartitionGrantedBackLeavesRevoking() {
        var machine = revokedTwo()
        _ = machine.handle(.grantRead(Grant(epoch: 6, session: 7, partitions: partitions("t:0-2"), releasing: partitions("t:3"))), now: at(20))
        #expect(machine.latest?.partitions == partitions("t:0-2"))
        #expect(machine.latest?.revoking == partitions("t:3"))
    }

    @Test func revokingEndsWithTheLease() {
        var machine = revokedTwo()
        _ = machine.handle(.disconnected, now: at(11))
        // Lease: last heard at 0, 3000 ms sessions, 300 ms margin.
        _ = machine.handle(.tick, now: at(2700))
        #expect(machine.latest?.state == .lost)
        #expect(machine.latest?.held == [])
        #expect(machine.latest?.lease == nil)
    }

    @Test func aStopWaitsForTheConsumerToReleaseEverything() {
        var machine = revokedTwo()
        _ = machine.handle(.released(epoch: 5), now: at(11))
        let stop = machine.handle(.stop, now: at(20))
        let stopping = publications(stop)
        #expect(stopping.map(\.state) == [.stopped])
        #expect(stopping.first?.partitions == [])
        #expect(stopping.first?.revoking == partitions("t:0-1"))
        #expect(stopping.first?.lease != nil)
        #expect(!machine.handle(.delivered(count: 5), now: at(21)).contains(.leave))
        let released = machine.handle(.released(epoch: 5), now: at(22))
        #expect(publications(released).map(\.held) == [[]])
        #expect(machine.handle(.delivered(count: 6), now: at(23)).contains(.leave))
    }

    @Test func withDaemonHandoverNothingIsEverRevoking() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.grantRead(Grant(epoch: 5, session: 7, partitions: partitions("t:0-1"), releasing: partitions("t:2-3"))), now: at(10))
        #expect(machine.latest?.revoking == [])
        #expect(publications(machine.handle(.stop, now: at(11))).map(\.held) == [[]])
    }

    /// Seed 4040013526444792919: a member cut off past its lease (published `lost`) came back
    /// within its session, and the first answer revived its old grant under a new lease before
    /// it had read anything; the leader, finding no trace of it (the group's state deleted), had
    /// waited out that lease and given the share away. A lease that ran out drops the grant
    /// until it is read again.
    @Test func aLeaseThatRanOutDropsTheGrantUntilItIsReadAgain() {
        var machine = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        _ = machine.handle(.disconnected, now: at(10))
        _ = machine.handle(.tick, now: at(2800))
        #expect(machine.latest?.state == .lost)
        let back = machine.handle(.reconnected, now: at(2900))
        #expect(back.contains(.readSummary))
        let heard = publications(machine.handle(.heard(at: at(2900)), now: at(2905)))
        #expect(heard.allSatisfy { $0.partitions.isEmpty }, "nothing published before the grant is read again")
        // The summary still names the grant: it is read again, and published once read.
        let summary = GroupSummary(epoch: 4, leader: "a", strategy: "consistent", members: ["a", "b"], partitionCount: 8, grants: ["a": 4])
        #expect(machine.handle(.summaryRead(summary), now: at(2910)).contains(.readGrant))
        let read = publications(machine.handle(.grantRead(Grant(epoch: 4, session: 7, partitions: partitions("t:0-3"))), now: at(2915)))
        #expect(read.last?.partitions == partitions("t:0-3"))
        #expect(read.last?.state == .active)

        // Connected all along but not heard from (a process paused past its lease): the grant
        // is dropped and read again at once (seed 14053182800925303969 never settled).
        var paused = joined(grant: Grant(epoch: 4, session: 7, partitions: partitions("t:0-3")))
        let resumed = paused.handle(.tick, now: at(2800))
        #expect(resumed.contains(.readSummary))
        #expect(paused.latest?.partitions.isEmpty == true)
    }
}
