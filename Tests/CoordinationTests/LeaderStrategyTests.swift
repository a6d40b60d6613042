import Allocation
import Coordination
import Testing

/// What the leader gives the strategy (spec §14): the weights in the member records, and for
/// `sticky` the grants as they stand (`partitions` and `releasing`); round-robin and range
/// ignore weights and the leader says so once.
@Suite struct LeaderStrategyTests {
    let partitions = try! PartitionSpec(parsing: "t:0-5").partitions

    func grant(_ ids: [Int], releasing: [Int] = [], session: Int64) -> GrantNodes.Node {
        GrantNodes.Node(
            grant: Grant(
                epoch: 1, session: session, partitions: Set(ids.map { Partition(topic: "t", id: $0) }),
                releasing: Set(releasing.map { Partition(topic: "t", id: $0) })),
            version: 0)
    }

    /// A leader elected in a group of `weights.keys` (sessions 1, 2, ... in name order) with
    /// `grants`; returns its first actions.
    func elect(
        _ strategy: Strategy, weights: [String: Int], grants: [String: GrantNodes.Node] = [:]
    ) -> (LeaderMachine, [LeaderMachine.Action]) {
        let names = weights.keys.sorted()
        var machine = LeaderMachine(member: names[0], configuredStrategy: nil, sessionTimeout: .seconds(10))
        _ = machine.handle(.elected)
        var actions = machine.handle(.groupRead(strategy))
        actions += machine.handle(.partitionsRead(partitions, PartitionSetState()))
        actions += machine.handle(.membersListed(names))
        actions += machine.handle(.contendersListed(Set(names.indices.map { Int64($0 + 1) })))
        actions += machine.handle(.grantsRead(GrantNodes(grants: grants)))
        actions += machine.handle(.grantsListed(Set(grants.keys)))
        for (index, name) in names.enumerated() {
            let record = MemberRecord(ackedEpoch: 1, weight: weights[name]!)
            actions += machine.handle(.memberRead(name, PartyMember(name: name, session: Int64(index + 1), record: record)))
        }
        return (machine, actions)
    }

    func summary(_ actions: [LeaderMachine.Action]) -> GroupSummary? {
        actions.compactMap { if case .write(let write) = $0 { write.summary } else { nil } }.first
    }

    @Test func stickyTargetsWhatTheGrantsHoldReleasingIncluded() throws {
        let grants = ["a": grant([0], releasing: [1], session: 1), "b": grant([2, 3], session: 2), "c": grant([4], session: 3)]
        let (_, actions) = elect(.sticky, weights: ["a": 1, "b": 1, "c": 1], grants: grants)
        let held = CurrentHoldings(grants.map { name, node in (name, Array(node.grant!.held)) })
        let expected = PureStrategy.sticky.allocate(members: ["a", "b", "c"], partitions: partitions, current: held)
        #expect(expected.partitions(of: "a").map(\.id) == [0, 1])
        #expect(expected.partitions(of: "b").map(\.id) == [2, 3])
        #expect(try #require(summary(actions)).digest == expected.digest)
    }

    @Test func weightsComeFromTheMemberRecords() throws {
        for strategy in [PureStrategy.consistent, .sticky] {
            let (_, actions) = elect(Strategy(strategy), weights: ["a": 1, "b": 2])
            let weighted = strategy.allocate(members: ["a", "b"], partitions: partitions, weights: MemberWeights([("b", 2)]))
            #expect(weighted.partitions(of: "b").count == 4)
            #expect(try #require(summary(actions)).digest == weighted.digest)
        }
    }

    @Test(arguments: [Strategy.roundRobin, .range])
    func roundRobinAndRangeReportIgnoredWeightsOnce(strategy: Strategy) throws {
        var (machine, actions) = elect(strategy, weights: ["a": 1, "b": 2, "c": 3])
        #expect(actions.contains(.reportIgnoredWeights(strategy, members: ["b", "c"])))
        let unweighted = try #require(strategy.pure).allocate(members: ["a", "b", "c"], partitions: partitions)
        #expect(try #require(summary(actions)).digest == unweighted.digest)
        // Planning again with the same weights says nothing more.
        _ = machine.handle(.written(LeaderWrite.Versions(summary: 0, grants: ["a": 0, "b": 0, "c": 0])))
        let again = machine.handle(.membersListed(["a", "b", "c"])) + machine.handle(.memberRead("b", PartyMember(name: "b", session: 2, record: MemberRecord(ackedEpoch: 1, weight: 2))))
        #expect(!again.contains { if case .reportIgnoredWeights = $0 { true } else { false } })
        let (_, equal) = elect(strategy, weights: ["a": 1, "b": 1])
        #expect(!equal.contains { if case .reportIgnoredWeights = $0 { true } else { false } })
        let (_, consistent) = elect(.consistent, weights: ["a": 1, "b": 2])
        #expect(!consistent.contains { if case .reportIgnoredWeights = $0 { true } else { false } })
    }
}
