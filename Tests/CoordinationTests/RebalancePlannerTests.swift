import Allocation
import Coordination
import Testing
import TestSupport

/// The leader's planning on its own: revoke, acknowledge, grant; sessions that end; member
/// and grant nodes lost behind the leader's back; and, on random histories, I1 and I3.
@Suite struct RebalancePlannerTests {
    /// A group as the leader sees it, changed by the tests and planned again.
    struct Group {
        var epoch: Int64 = 0
        var members: [String: PartyMember] = [:]
        var contenderSessions: Set<Int64> = []
        var grants: [String: Grant] = [:]
        var partitions: [Partition]
        var strategy = PureStrategy.consistent

        init(partitions: String) {
            self.partitions = try! PartitionSpec(parsing: partitions).partitions
        }

        mutating func join(_ name: String, session: Int64, kiel: Bool = false) {
            members[name] = PartyMember(name: name, session: session, record: kiel ? nil : MemberRecord())
            if !kiel { contenderSessions.insert(session) }
        }

        /// The session ends: both its nodes vanish.
        mutating func end(_ name: String) {
            let session = members.removeValue(forKey: name)!.session
            contenderSessions.remove(session)
        }

        mutating func acknowledge(_ name: String) {
            if let grant = grants[name] { members[name]!.record!.ackedEpoch = grant.epoch }
        }

        /// The strategy's result: member → partitions.
        var target: [String: Set<Partition>] {
            let allocation = strategy.allocate(members: Array(members.keys), partitions: partitions)
            var target: [String: Set<Partition>] = [:]
            for member in allocation.members { target[member] = Set(allocation.partitions(of: member)) }
            return target
        }

        var input: RebalanceInput {
            RebalanceInput(epoch: epoch, members: members, contenderSessions: contenderSessions, grants: grants, target: target)
        }

        /// Plans once and applies the writes, as the leader's `multi` would.
        @discardableResult
        mutating func plan() -> Rebalance {
            let rebalance = RebalancePlanner.plan(input)
            if !rebalance.writes.isEmpty {
                epoch = rebalance.epoch
                grants = rebalance.grants
            }
            return rebalance
        }

        /// Plans, then `members` acknowledge, `times` times over.
        mutating func planAndAcknowledge(_ members: [String], times: Int) {
            for _ in 0..<times {
                plan()
                for member in members { acknowledge(member) }
            }
        }

        /// What each member would publish with every grant acknowledged.
        var settled: Bool {
            let target = self.target
            return members.values.allSatisfy { node in
                node.record == nil || (grants[node.name]?.partitions == target[node.name] && grants[node.name]?.releasing == [])
            }
        }
    }

    @Test func aJoinRevokesThenGrantsOnceAcknowledged() {
        var group = Group(partitions: "t:0-11")
        group.join("a", session: 1)
        let first = group.plan()
        #expect(first.writes == [.create(member: "a", Grant(epoch: 1, session: 1, partitions: Set(group.partitions)))])
        #expect(first.awaited.isEmpty)

        group.join("b", session: 2)
        let revoke = group.plan()
        let bTarget = group.target["b"]!
        #expect(revoke.epoch == 2)
        #expect(group.grants["a"]!.releasing == bTarget)
        #expect(group.grants["b"]!.partitions.isEmpty)
        #expect(revoke.awaited == ["a": 2])
        // Nothing moves before a acknowledges.
        #expect(group.plan().writes.isEmpty)

        group.acknowledge("a")
        let grant = group.plan()
        #expect(grant.epoch == 3)
        #expect(group.grants["b"]!.partitions == bTarget)
        #expect(group.grants["a"]!.releasing.isEmpty)
        #expect(grant.awaited.isEmpty)
        #expect(group.settled)
        #expect(group.plan().writes.isEmpty)
    }

    @Test func aSessionThatEndsGivesItsPartitionsAtOnce() {
        var group = Group(partitions: "t:0-11")
        group.join("a", session: 1)
        group.join("b", session: 2)
        group.plan()
        group.acknowledge("a")
        group.acknowledge("b")
        group.plan()
        #expect(group.settled)
        group.end("b")
        let rebalance = group.plan()
        #expect(rebalance.writes.contains(.delete(member: "b")))
        #expect(group.grants["a"]!.partitions == Set(group.partitions))
        #expect(group.grants["b"] == nil)
    }

    @Test func aDeletedMemberNodeIsNotAnEndedSession() {
        var group = Group(partitions: "t:0-11")
        group.join("a", session: 1)
        group.join("b", session: 2)
        group.planAndAcknowledge(["a", "b"], times: 3)
        #expect(group.settled)
        let held = group.grants["b"]!.partitions
        // An operator deletes b's node; b's session (and its contender node) lives.
        group.members["b"] = nil
        group.plan()
        #expect(group.grants["b"]!.releasing == held)
        #expect(group.grants["a"]!.partitions.isDisjoint(with: held))
        #expect(group.plan().writes.isEmpty)
        // b joins again with the same session and acknowledges: its release is over, and the
        // strategy gives it its share again.
        group.members["b"] = PartyMember(name: "b", session: 2, record: MemberRecord(ackedEpoch: group.grants["b"]!.epoch))
        group.plan()
        #expect(group.grants["b"]!.releasing.isEmpty)
        #expect(group.grants["b"]!.partitions == held)
        // Its session ends: a has everything at once.
        group.end("b")
        group.plan()
        #expect(group.grants["a"]!.partitions == Set(group.partitions))
    }

    @Test func aLostGrantNodeHoldsEverythingUnheldBackUntilAcknowledged() {
        var group = Group(partitions: "t:0-11")
        group.join("a", session: 1)
        group.join("b", session: 2)
        group.planAndAcknowledge(["a", "b"], times: 3)
        // Someone deletes b's grant node; a new leader reads what is left.
        group.grants["b"] = nil
        group.partitions.append(Partition(topic: "u", id: 0))
        let rebalance = group.plan()
        #expect(group.grants["b"]!.unknownHoldings)
        #expect(rebalance.awaited["b"] == rebalance.epoch)
        let everyGranted = group.grants.values.reduce(into: Set<Partition>()) { $0.formUnion($1.partitions) }
        #expect(everyGranted == group.grants["a"]!.partitions)
        group.acknowledge("b")
        group.plan()
        group.acknowledge("a")
        group.acknowledge("b")
        group.plan()
        #expect(group.settled)
    }

    @Test func kielMembersAreNeverGrantedNorAwaited() {
        var group = Group(partitions: "t:0-9")
        group.strategy = .roundRobin
        group.join("a", session: 1)
        group.join("k", session: 2, kiel: true)
        let rebalance = group.plan()
        #expect(group.grants["k"] == nil)
        #expect(rebalance.awaited.isEmpty)
        #expect(group.grants["a"]!.partitions == group.target["a"])
    }

    /// A member node written over by someone else (no record in it) whose grant holds nothing,
    /// so nothing is revoked from it: its member is awaited all the same, for members
    /// acknowledge only what they are awaited for, and the acknowledgement writes the record
    /// back. (Seed 13729119905475025518: nobody awaited it, its record never came back, it was
    /// never granted its share.)
    @Test func aMemberWhoseNodeLostItsRecordIsAwaited() throws {
        var group = Group(partitions: "t:0-1")
        for (number, name) in ["a", "b", "c"].enumerated() { group.join(name, session: Int64(number + 1)) }
        group.planAndAcknowledge(["a", "b", "c"], times: 3)
        #expect(group.settled)
        let empty = try #require(group.grants.first { $0.value.partitions.isEmpty }?.key)
        let session = group.members[empty]!.session
        group.members[empty] = PartyMember(name: empty, session: session, record: nil, recordUnreadable: true)
        let rebalance = group.plan()
        #expect(rebalance.awaited == [empty: group.grants[empty]!.epoch])
        // The record back: nobody awaited.
        group.members[empty] = PartyMember(name: empty, session: session, record: MemberRecord(ackedEpoch: group.grants[empty]!.epoch))
        #expect(group.plan().awaited.isEmpty)
    }

    @Test func epochsOnlyGrowEvenWhenTheSummaryIsLost() {
        var group = Group(partitions: "t:0-3")
        group.join("a", session: 1)
        group.plan()
        group.acknowledge("a")
        group.epoch = 0  // the assignments node was deleted
        group.partitions.append(Partition(topic: "t", id: 4))
        let rebalance = group.plan()
        #expect(rebalance.epoch == 2)
    }

    /// Random histories: joins, kiel joins, session ends, node deletions and rejoins, partition
    /// changes, acknowledgements in any order, and a plan after each. I1 and I3 hold after
    /// every plan; once changes stop and everyone acknowledges, the grants reach the target.
    @Test(arguments: 0..<40) func invariantsHoldOnRandomHistories(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var group = Group(partitions: "t:0-23,u:0-5")
        var nextSession: Int64 = 1
        let names = ["a", "b", "c", "d", "e", "k"]
        for _ in 0..<300 {
            let name = names[Int(random.next() % UInt64(names.count))]
            switch random.next() % 10 {
            case 0, 1:
                if group.members[name] == nil {
                    group.join(name, session: nextSession, kiel: name == "k")
                    nextSession += 1
                }
            case 2:
                if group.members[name] != nil { group.end(name) }
            case 3:
                // The member node alone vanishes (its session lives), or comes back.
                if let node = group.members[name], node.record != nil {
                    group.members[name] = nil
                } else if group.members[name] == nil, let grant = group.grants[name], group.contenderSessions.contains(grant.session) {
                    group.members[name] = PartyMember(name: name, session: grant.session, record: MemberRecord())
                }
            case 4:
                let partition = Partition(topic: "t", id: Int(random.next() % 30))
                if let index = group.partitions.firstIndex(of: partition) {
                    group.partitions.remove(at: index)
                } else {
                    group.partitions.append(partition)
                }
            default:
                if group.members[name]?.record != nil { group.acknowledge(name) }
            }
            let before = group.grants
            group.plan()
            checkInvariants(before: before, after: group.grants, input: group.input)
        }
        // Quiet: sessions left without a member node expire (their processes are gone), everyone
        // else acknowledges, and a few plans reach the target.
        group.contenderSessions = group.contenderSessions.filter { session in group.members.values.contains { $0.session == session } }
        for _ in 0..<4 {
            for name in group.members.keys where group.members[name]?.record != nil { group.acknowledge(name) }
            group.plan()
        }
        #expect(group.settled, "seed \(seed)")
    }

    private func checkInvariants(before: [String: Grant], after: [String: Grant], input: RebalanceInput) {
        var owner: [Partition: String] = [:]
        for (member, grant) in after {
            for partition in grant.held {
                #expect(owner[partition] == nil, "I1: \(partition) in \(member) and \(owner[partition] ?? "")")
                owner[partition] = member
            }
        }
        for (member, grant) in after {
            for partition in grant.partitions where before[member]?.held.contains(partition) != true {
                // I3: newly granted; before, no other grant of a session that may live held it
                // unless that member had acknowledged the grant that revoked it.
                for (other, old) in before where other != member && old.held.contains(partition) {
                    let alive = input.sessionMayBeAlive(old.session)
                    let acknowledged = input.members[other].map { $0.session == old.session && ($0.record?.ackedEpoch ?? -1) >= old.epoch } ?? false
                    #expect(!alive || acknowledged, "I3: \(partition) to \(member) while \(other) may hold it")
                }
            }
        }
    }
}
