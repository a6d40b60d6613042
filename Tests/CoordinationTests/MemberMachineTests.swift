import Coordination
import Testing

/// The member's own policies around its three machines, without ZooKeeper.
@Suite struct MemberMachineTests {
    let start = ContinuousClock.now

    /// A machine whose session has started, and the requests it sent for it.
    func started() -> (MemberMachine, [(MemberMachine.RequestTag, NodeRequest)]) {
        let (machine, actions) = startedWithActions()
        return (machine, sends(actions))
    }

    func startedWithActions() -> (MemberMachine, [MemberMachine.Action]) {
        var machine = MemberMachine(
            member: "a", paths: GroupPaths(group: "/g"), settings: MemberMachine.Settings(), sessionTimeout: .seconds(4))
        var actions = machine.handle(.follower(.tick), now: start)
        actions += machine.handle(.sessionStarted(session: 0x1234, timeout: .seconds(4)), now: start)
        for case .prepareGroup(let tag) in actions {
            actions += machine.handle(.groupPrepared(tag, failure: nil), now: start)
        }
        return (machine, actions)
    }

    func sends(_ actions: [MemberMachine.Action]) -> [(MemberMachine.RequestTag, NodeRequest)] {
        actions.compactMap { if case .send(let tag, let request) = $0 { (tag, request) } else { nil } }
    }

    /// A leader elected: the machine, and what its reign's first reads sent.
    func elected() throws -> (MemberMachine, [(MemberMachine.RequestTag, NodeRequest)]) {
        var (machine, sent) = started()
        let contenderCreate = try #require(sent.first { if case .create(_, _, .ephemeralSequential) = $0.1 { true } else { false } })
        let contender = "00000000000000001234000000000001__lock__0000000007"
        var actions = machine.handle(.replied(contenderCreate.0, NodeReply(.success(.created("/g/leader/" + contender)))), now: start)
        let list = try #require(sends(actions).first { $0.1 == .getChildren("/g/leader", watch: false) })
        let lockStat = NodeStat(czxid: 1, version: 0, cversion: 1, ephemeralOwner: 0)
        actions = machine.handle(.replied(list.0, NodeReply(.success(.children([contender], lockStat)))), now: start)
        sent = sends(actions)
        #expect(machine.leader.isLeading || sent.contains { $0.1 == .getChildren("/g/members", watch: true) })
        return (machine, sent)
    }


    /// A group of one member, a, leading over three partitions, as `serve` answers it.
    let groupNodes: [String: [UInt8]] = [
        "/g": Array(#"{"strategy":"consistent","protocol":2}"#.utf8),
        "/g/partitions": Array(#"["t:0","t:1","t:2"]"#.utf8),
        "/g/members": [], "/g/members/a": Array(#"{"version":2,"acked_epoch":0,"weight":1}"#.utf8),
        "/g/leader": [], "/g/leader/00000000000000001234000000000001__lock__0000000007": [],
    ]

    /// Answers the machine's requests from `nodes` (path: data; a node's children are the
    /// paths one level below it), and the requests those answers make, until it asks nothing
    /// more (a thousand requests at most: more is a loop, recorded); writes succeed without
    /// changing `nodes`. Returns every action.
    func serve(
        _ machine: inout MemberMachine, _ sent: [(MemberMachine.RequestTag, NodeRequest)], _ nodes: [String: [UInt8]],
        failing: (NodeRequest) -> NodeFailure? = { _ in nil }, now: ContinuousClock.Instant
    ) -> [MemberMachine.Action] {
        var queue = sent, all: [MemberMachine.Action] = [], answered = 0
        while !queue.isEmpty {
            answered += 1
            guard answered <= 1000 else {
                Issue.record("requests without end, e.g. \(queue.prefix(4).map(\.1))")
                return all
            }
            let (tag, request) = queue.removeFirst()
            let stat = NodeStat(czxid: 1, version: 1, cversion: 1, ephemeralOwner: 0x1234)
            func children(_ path: String) -> [String] {
                nodes.keys.filter { $0.hasPrefix(path + "/") && !$0.dropFirst(path.count + 1).contains("/") }
                    .map { String($0.dropFirst(path.count + 1)) }
            }
            let result: Result<NodeResponse, NodeFailure> = if let failure = failing(request) {
                .failure(failure)
            } else {
                switch request {
                case .getData(let path, _): nodes[path].map { .success(.data($0, stat)) } ?? .failure(.noNode)
                case .exists(let path, _): .success(.exists(nodes[path].map { _ in stat }))
                case .getChildren(let path, _): nodes[path].map { _ in .success(.children(children(path), stat)) } ?? .failure(.noNode)
                case .create(let path, _, _): .success(.created(path))
                case .setData: .success(.written(stat))
                case .multi(let operations): .success(.multi(operations.map { _ in .written(stat) }))
                default: .failure(.other(code: -1))
                }
            }
            let actions = machine.handle(.replied(tag, NodeReply(result)), now: now)
            all += actions
            queue += sends(actions)
        }
        return all
    }

    /// A partition set the leader cannot read (no right to, say) is not taken for an empty
    /// one: the leader keeps the set it knew, writes nothing, and reads again after a pause
    /// (it revoked every partition).
    @Test func aPartitionSetNotReadIsNotTakenForEmpty() throws {
        var (machine, sent) = try elected()
        let nodes = groupNodes
        /// The partitions each write granted to a.
        func granted(_ actions: [MemberMachine.Action]) -> [Int] {
            actions.compactMap { action in
                guard case .report(.wrote(let write)) = action else { return nil }
                return write.grants.map(\.0).reduce(0) { count, change in
                    switch change {
                    case .create("a", let grant), .set("a", let grant): count + grant.partitions.count
                    default: count
                    }
                }
            }
        }
        let first = serve(&machine, sent, nodes, now: start)
        #expect(granted(first) == [3])
        sent = sends(machine.handle(.watchFired(path: "/g/partitions", children: false, deleted: false), now: start))
        #expect(sent.map(\.1) == [.getData("/g/partitions", watch: true)])
        let refused = serve(&machine, sent, nodes, failing: { $0 == .getData("/g/partitions", watch: true) ? .other(code: -102) : nil }, now: start)
        #expect(granted(refused).isEmpty)
        #expect(refused.contains { if case .report(.readFailed("the partition set", .other(code: -102))) = $0 { true } else { false } })
        #expect(machine.lastError == "the leader cannot read the partition set /g/partitions (noAuth: no right to it (its ACL?)); no rebalance until it can")
        let retry = machine.handle(.timersDue, now: start + .seconds(1))
        #expect(retry.contains { if case .prepareGroup = $0 { true } else { false } })
        // Refused again: the next look waits twice as long (each reads every member node).
        let noAuth: (NodeRequest) -> NodeFailure? = { $0 == .getData("/g/partitions", watch: true) ? .other(code: -102) : nil }
        var again: [MemberMachine.Action] = []
        for case .prepareGroup(let tag) in retry {
            let after = machine.handle(.groupPrepared(tag, failure: nil), now: start + .seconds(1))
            again += serve(&machine, sends(after), nodes, failing: noAuth, now: start + .seconds(1))
        }
        #expect(again.contains { if case .report(.readFailed("the partition set", _)) = $0 { true } else { false } })
        #expect(!machine.handle(.timersDue, now: start + .seconds(2)).contains { if case .prepareGroup = $0 { true } else { false } })
        #expect(machine.handle(.timersDue, now: start + .seconds(3)).contains { if case .prepareGroup = $0 { true } else { false } })
        // A member that leads no more says nothing of the partition set any more.
        _ = machine.handle(.sessionEnded, now: start + .seconds(1))
        #expect(machine.lastError == nil)
    }

    /// The grants the leader cannot read at a reign's start (no right to list them, say) are
    /// not taken for none: nothing is written on that view, and the reign reads again after a
    /// pause. (Taken for none, the reign's one first look at the sessions saw no grant: once
    /// readable, a grant of a session without nodes went away at once instead of lingering.)
    /// Nor does a grant list it may not read loop through `exists`, which ZooKeeper answers.
    @Test func grantsNotReadAreNotTakenForNone() throws {
        var (machine, sent) = try elected()
        var nodes = groupNodes
        nodes["/g/assignments"] = []
        let noAuth = NodeFailure.other(code: -102)
        let actions = serve(&machine, sent, nodes, failing: { request in
            if case .getChildren("/g/assignments", _) = request { noAuth } else { nil }
        }, now: start)
        #expect(!actions.contains { if case .report(.wrote) = $0 { true } else { false } })
        #expect(!sends(actions).contains { $0.1 == .exists("/g/assignments", watch: true) })
        #expect(actions.contains { if case .report(.readFailed("the grant list", noAuth)) = $0 { true } else { false } })
        let retry = machine.handle(.timersDue, now: start + .seconds(1))
        #expect(retry.contains { if case .prepareGroup = $0 { true } else { false } })
    }

    /// A join that finds the member node already made by its own session (an earlier create
    /// whose reply was lost, an earlier join) adopts it; if it was written since it was made, it
    /// is read, and a record of garbage (written by someone else) is written over with what the
    /// member acknowledges. Adopted as it was, the leader read no record in it and awaited the
    /// member for good (seed 14771417775917702037).
    @Test func anAdoptedMemberNodeOfGarbageIsWrittenOver() throws {
        var (machine, sent) = started()
        let create = try #require(sent.first { if case .create("/g/members/a", _, .ephemeral) = $0.1 { true } else { false } })
        let look = try #require(sends(machine.handle(.replied(create.0, NodeReply(.failure(.nodeExists))), now: start)).first)
        #expect(look.1 == .exists("/g/members/a", watch: true))
        let ours = NodeStat(czxid: 5, version: 2, cversion: 0, ephemeralOwner: 0x1234)
        let adopted = sends(machine.handle(.replied(look.0, NodeReply(.success(.exists(ours)))), now: start))
        let read = try #require(adopted.first { $0.1 == .getData("/g/members/a", watch: false) })
        let garbage = sends(machine.handle(.replied(read.0, NodeReply(.success(.data(Array("[]".utf8), ours)))), now: start))
        #expect(garbage.contains { if case .setData("/g/members/a", let data, 2) = $0.1 { MemberRecord(decoding: data) != nil } else { false } })
        // A record of its own there (its earlier join's, an acknowledgement) is kept.
        var (other, otherSent) = started()
        let otherCreate = try #require(otherSent.first { if case .create("/g/members/a", _, .ephemeral) = $0.1 { true } else { false } })
        let otherLook = try #require(sends(other.handle(.replied(otherCreate.0, NodeReply(.failure(.nodeExists))), now: start)).first)
        let otherRead = try #require(sends(other.handle(.replied(otherLook.0, NodeReply(.success(.exists(ours)))), now: start)).first { $0.1 == .getData("/g/members/a", watch: false) })
        let record = Array(#"{"version":2,"acked_epoch":3,"weight":1}"#.utf8)
        otherSent = sends(other.handle(.replied(otherRead.0, NodeReply(.success(.data(record, ours)))), now: start))
        #expect(!otherSent.contains { if case .setData("/g/members/a", _, _) = $0.1 { true } else { false } })
    }

    /// A partition set the leader cannot make (the group node is gone with the group's
    /// subtree) is tried again after a pause, once the group is prepared: it was read and
    /// made again at once, for good, two requests a round trip.
    @Test func aPartitionSetThatCannotBeMadeIsTriedAgainAfterAPause() throws {
        var (machine, sent) = try elected()
        let read = try #require(sent.first { $0.1 == .getData("/g/partitions", watch: true) })
        let made = sends(machine.handle(.replied(read.0, NodeReply(.failure(.noNode))), now: start))
        let create = try #require(made.first)
        #expect(create.1 == .create("/g/partitions", data: Array("[]".utf8), .persistent))
        let failed = machine.handle(.replied(create.0, NodeReply(.failure(.noNode))), now: start)
        #expect(sends(failed).isEmpty)
        #expect(failed.contains { if case .report(.readFailed("the partition set", .noNode)) = $0 { true } else { false } })
        let retry = machine.handle(.timersDue, now: start + .seconds(1))
        #expect(retry.contains { if case .prepareGroup = $0 { true } else { false } })
    }

    /// Requests refused because the session is over (or closing) are not sent again: the
    /// client refuses them at once, and its refusal came back at once, for good (two members of
    /// one process held both threads of the concurrency pool so). The session's end starts
    /// everything anew.
    @Test func aReplyThatTheSessionEndedAsksNothingAgain() {
        var (machine, sent) = started()
        #expect(!sent.isEmpty)
        for (tag, _) in sent {
            #expect(sends(machine.handle(.replied(tag, NodeReply(.failure(.sessionExpired))), now: start)).isEmpty)
        }
    }

    /// A reply lost with the connection asks again what must be known (sent once connected):
    /// the member node's create again (a create applied is found by its `nodeExists`), and the
    /// lock listed to find whether the contender's sequential create was applied.
    @Test func aReplyLostWithTheConnectionIsAskedAgain() {
        var (machine, sent) = started()
        let resent = sent.flatMap { tag, _ in sends(machine.handle(.replied(tag, NodeReply(.failure(.connectionLoss))), now: start)) }
        let memberCreate = sent.map(\.1).filter { if case .create("/g/members/a", _, _) = $0 { true } else { false } }
        #expect(memberCreate.count == 1)
        #expect(resent.count == 2)
        #expect(resent.contains { $0.1 == memberCreate.first })
        #expect(resent.contains { $0.1 == .getChildren("/g/leader", watch: false) })
    }

    /// A leader's reads lost with the connection are read again once, not once for each: a
    /// round for each lost read, lost again, made every read of that round ask for a round of
    /// its own, and the leader's requests grew sevenfold at each loss of the connection (seed
    /// 11453049691854484129: ~8 000 requests from one member in a few seconds, its own rejoin
    /// queued behind them for 25 s).
    @Test func aLeadersReadsLostWithTheConnectionAreReadAgainOnce() throws {
        var (machine, sent) = try elected()
        #expect(machine.leader.isLeading)
        let round = sent.count
        #expect(round >= 6)
        for loss in 1...3 {
            let again = sent.flatMap { tag, _ in sends(machine.handle(.replied(tag, NodeReply(.failure(.connectionLoss))), now: start)) }
            #expect(again.count == round, "loss \(loss): \(again.count) requests for \(round) lost")
            #expect(again.map { "\($0.1)" }.sorted() == sent.map { "\($0.1)" }.sorted())
            sent = again
        }
        // Answered, the round ends as a first one would: the leader writes.
        let answered = serve(&machine, sent, groupNodes, now: start)
        #expect(answered.contains { if case .report(.wrote) = $0 { true } else { false } })
    }

    /// The lease runs from answers of the ensemble's leader (writes, and the executor's `sync`
    /// heartbeats), not from reads: a server that lost the leader goes on answering reads for
    /// up to `syncLimit` ticks after the leader expired the session, and a lease those answers
    /// prolonged outlived the session while another member was given the share.
    @Test func aReadsAnswerDoesNotProlongTheLease() throws {
        var (machine, sent) = try elected()
        _ = serve(&machine, sent, groupNodes, now: start)
        let lease = try #require(machine.follower.latest?.lease, "a leads and holds nothing")
        // Two seconds on, the partition set read again (a watch fired), answered: a read.
        let later = start + .seconds(2)
        sent = sends(machine.handle(.watchFired(path: "/g/partitions", children: false, deleted: false), now: later))
        #expect(sent.map(\.1) == [.getData("/g/partitions", watch: true)])
        _ = serve(&machine, sent, groupNodes, now: later)
        _ = machine.handle(.follower(.tick), now: later)
        #expect(machine.follower.latest?.lease == lease)
        // A write's answer does (here the heartbeat's, as the executor reports it).
        _ = machine.handle(.follower(.heard(at: later)), now: later)
        _ = machine.handle(.follower(.tick), now: later)
        #expect(try #require(machine.follower.latest?.lease) > lease)
    }

    /// The group's whole subtree deleted (the leader lock and the group node with it): the
    /// contender's create fails, and a second later the member prepares the group, making every
    /// missing node again, before it contends again. Making only the lock's node failed for
    /// good without its parent, every second: nobody led again, and the members, their nodes
    /// gone unseen, waited for a summary nobody would write (TamperingFaultTests, 1 run in 8).
    @Test func anElectionRetryPreparesTheGroupFirst() throws {
        var (machine, sent) = started()
        func contend(_ request: NodeRequest) -> Bool {
            if case .create(let path, _, .ephemeralSequential) = request { path.hasPrefix("/g/leader/") } else { false }
        }
        let create = try #require(sent.first { contend($0.1) })
        #expect(sends(machine.handle(.replied(create.0, NodeReply(.failure(.noNode))), now: start)).isEmpty)
        let due = machine.handle(.timersDue, now: start + ElectionMachine.retryDelay)
        let prepare = due.compactMap { if case .prepareGroup(let tag) = $0 { tag } else { nil } }
        #expect(prepare.count == 1)
        #expect(!sends(due).contains { contend($0.1) })
        let after = machine.handle(.groupPrepared(try #require(prepare.first), failure: nil), now: start + ElectionMachine.retryDelay)
        #expect(sends(after).filter { contend($0.1) }.count == 1)
    }

    /// A stop while the member node's create is under way: the member leaves once it is
    /// answered, deleting its member node and its contender node in one transaction (a close
    /// the server never gets would leave them for a session timeout), then closes.
    @Test func aMemberLeavesWithItsNodesDeletedTogetherOnceItsCreateIsAnswered() throws {
        var (machine, startActions) = startedWithActions()
        let sent = sends(startActions)
        var publications = 0
        func delivered(_ actions: [MemberMachine.Action]) -> [MemberMachine.Action] {
            publications += actions.filter { if case .publish = $0 { true } else { false } }.count
            return actions + machine.handle(.follower(.delivered(count: publications)), now: start)
        }
        _ = delivered(startActions)
        let contenderCreate = try #require(sent.first { if case .create(let path, _, .ephemeralSequential) = $0.1 { path.hasPrefix("/g/leader/") } else { false } })
        let memberCreate = try #require(sent.first { if case .create("/g/members/a", _, _) = $0.1 { true } else { false } })
        let contender = "00000000000000001234000000000001__lock__0000000007"
        var actions = delivered(machine.handle(.replied(contenderCreate.0, NodeReply(.success(.created("/g/leader/" + contender)))), now: start))
        actions += delivered(machine.handle(.follower(.stop), now: start))
        // The follower has left, but the create is still out: nothing is deleted or closed yet.
        #expect(!sends(actions).contains { if case .multi = $0.1 { true } else if case .close = $0.1 { true } else { false } })
        actions = delivered(machine.handle(.replied(memberCreate.0, NodeReply(.success(.created("/g/members/a")))), now: start))
        // The member node is looked at first: deleted only as its session's node.
        let look = try #require(sends(actions).first { $0.1 == .exists("/g/members/a", watch: false) })
        let ours = NodeStat(czxid: 5, version: 2, cversion: 0, ephemeralOwner: 0x1234)
        actions = machine.handle(.replied(look.0, NodeReply(.success(.exists(ours)))), now: start)
        let leave = try #require(sends(actions).first { if case .multi = $0.1 { true } else { false } })
        #expect(leave.1 == .multi([.delete(path: "/g/leader/" + contender, version: -1), .delete(path: "/g/members/a", version: 2)]))
        #expect(!sends(actions).contains { if case .close = $0.1 { true } else { false } })
        // Deleted or not, the session is closed next.
        let close = sends(machine.handle(.replied(leave.0, NodeReply(.failure(.noNode))), now: start))
        #expect(close.map(\.1) == [.close])
    }

    /// A grant node of garbage (written by hand) is deleted, only as it was read: the leader,
    /// which reads a grant node only when it writes it, sees a grant lost and writes it again
    /// (seed 1476807390482400813: the member held nothing for good).
    @Test func anUnreadableGrantIsDeletedAsItWasRead() throws {
        var (machine, sent) = started()
        let memberCreate = try #require(sent.first { if case .create("/g/members/a", _, _) = $0.1 { true } else { false } })
        var actions = machine.handle(.replied(memberCreate.0, NodeReply(.success(.created("/g/members/a")))), now: start)
        let summaryRead = try #require(sends(actions).first { $0.1 == .getData("/g/assignments", watch: true) })
        let summary = GroupSummary(epoch: 1, leader: "b", strategy: "consistent", members: ["a", "b"], partitionCount: 2, grants: ["a": 1, "b": 1])
        let stat = NodeStat(czxid: 1, version: 0, cversion: 0, ephemeralOwner: 0)
        actions = machine.handle(.replied(summaryRead.0, NodeReply(.success(.data(summary.encoded, stat)))), now: start)
        let grantRead = try #require(sends(actions).first { $0.1 == .getData("/g/assignments/a", watch: false) })
        let garbage = NodeStat(czxid: 2, version: 3, cversion: 0, ephemeralOwner: 0)
        actions = machine.handle(.replied(grantRead.0, NodeReply(.success(.data(Array("[]".utf8), garbage)))), now: start)
        #expect(sends(actions).map(\.1).contains(.delete("/g/assignments/a", version: 3)))
    }

    /// A member node another session made under this member's name (a kiel consumer's that
    /// took it) is never deleted as the member leaves (spec §4): only its contender node goes.
    @Test func aMemberLeavingNeverDeletesAnotherSessionsNode() throws {
        var (machine, startActions) = startedWithActions()
        let sent = sends(startActions)
        var publications = startActions.filter { if case .publish = $0 { true } else { false } }.count
        _ = machine.handle(.follower(.delivered(count: publications)), now: start)
        let contenderCreate = try #require(sent.first { if case .create(_, _, .ephemeralSequential) = $0.1 { true } else { false } })
        let memberCreate = try #require(sent.first { if case .create("/g/members/a", _, _) = $0.1 { true } else { false } })
        let contender = "00000000000000001234000000000001__lock__0000000007"
        _ = machine.handle(.replied(contenderCreate.0, NodeReply(.success(.created("/g/leader/" + contender)))), now: start)
        _ = machine.handle(.replied(memberCreate.0, NodeReply(.success(.created("/g/members/a")))), now: start)
        var actions = machine.handle(.follower(.stop), now: start)
        publications += actions.filter { if case .publish = $0 { true } else { false } }.count
        actions += machine.handle(.follower(.delivered(count: publications)), now: start)
        let look = try #require(sends(actions).first { $0.1 == .exists("/g/members/a", watch: false) })
        let theirs = NodeStat(czxid: 9, version: 0, cversion: 0, ephemeralOwner: 0x9999)
        let leave = try #require(sends(machine.handle(.replied(look.0, NodeReply(.success(.exists(theirs)))), now: start)).first)
        #expect(leave.1 == .multi([.delete(path: "/g/leader/" + contender, version: -1)]))
    }
}

/// Names that are one text in two byte forms (NFC "é", NFD "e\u{301}"): two znodes that the
/// machines' dictionaries (`String`, canonical equivalence) would take for one member.
@Suite struct CanonicalTwinTests {
    let start = ContinuousClock.now

    @Test func aListingWithTwinsIsNotTakenAndSaysWhy() throws {
        let tests = MemberMachineTests()
        var (machine, sent) = try tests.elected()
        let listing = try #require(sent.first { $0.1 == .getChildren("/g/members", watch: true) })
        let stat = NodeStat(czxid: 1, version: 0, cversion: 3, ephemeralOwner: 0)
        let twins = ["a", "caf\u{E9}", "cafe\u{301}"]
        let actions = machine.handle(.replied(listing.0, NodeReply(.success(.children(twins, stat)))), now: start)
        #expect(!tests.sends(actions).contains { if case .getData(let path, _) = $0.1 { path.hasPrefix("/g/members/") } else { false } })
        #expect(actions.contains { if case .report(.canonicalTwins("/g/members", let names)) = $0 { names.count == 2 } else { false } })
        #expect(machine.lastError?.contains("cannot tell apart") == true)

        // One twin gone: the listing is taken, its members read, the error gone.
        let relisted = machine.handle(.watchFired(path: "/g/members", children: true, deleted: false), now: start)
        let again = try #require(tests.sends(relisted).first { $0.1 == .getChildren("/g/members", watch: true) })
        let taken = machine.handle(.replied(again.0, NodeReply(.success(.children(["a", "caf\u{E9}"], stat)))), now: start)
        #expect(tests.sends(taken).contains { $0.1 == .getData("/g/members/caf\u{E9}", watch: true) })
        #expect(machine.lastError == nil)
    }
}
