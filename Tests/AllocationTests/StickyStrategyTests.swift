import Allocation
import Testing

/// What `sticky` promises (spec §14, docs/strategies.md): within the weighted quotas, exactly
/// the fewest moves; a join or a leave moves only the joiner's or the leaver's share; its own
/// result is a fixed point; with nothing held it is `consistent`. And weights: each member
/// within one partition of its weighted quota under `consistent` and `sticky`, ignored by
/// `round-robin` and `range`.
@Suite struct StickyStrategyTests {
    /// A random group: members with weights from 1 to 4 (or all 1), partitions, and current
    /// holdings that include members that left and partitions that are gone.
    struct Case {
        var members: [String]
        var partitions: [Partition]
        var weights: MemberWeights
        var current: [Partition: String]

        init(_ inputs: inout RandomInputs, weighted: Bool) {
            members = inputs.members(inputs.int(in: 1...12))
            partitions = inputs.partitions(inputs.int(in: 0...150), topics: inputs.int(in: 1...4))
            weights = MemberWeights()
            if weighted { for member in members { weights[member] = inputs.int(in: 1...4) } }
            let holders = members + inputs.members(2)
            current = [:]
            for partition in Set(partitions + inputs.partitions(4, topics: 1)).sorted() where inputs.int(in: 0...4) > 0 {
                current[partition] = holders[inputs.int(in: 0...holders.count - 1)]
            }
        }

        var holdings: CurrentHoldings { CurrentHoldings(current.map { ($0.value, [$0.key]) }) }

        func sticky() -> Allocation {
            PureStrategy.sticky.allocate(members: members, partitions: partitions, weights: weights, current: holdings)
        }
    }

    /// The fewest partitions any allocation within the quotas must move from `current`,
    /// computed from the quotas alone: members keep at most min(held, floor), plus one for
    /// each extra given to a member that holds more than its floor.
    static func minimumMoves(_ allocation: Allocation, weights: MemberWeights, current: [Partition: String]) -> Int {
        let (floors, remainders, extras) = quotas(allocation, weights)
        var kept = 0
        var over = 0
        for (index, member) in allocation.members.enumerated() {
            let held = allocation.partitions.filter { current[$0].map { Array($0.utf8) == Array(member.utf8) } ?? false }.count
            kept += min(held, floors[index])
            if remainders[index] > 0 && held > floors[index] { over += 1 }
        }
        return allocation.partitions.count - kept - min(extras, over)
    }

    static func quotas(_ allocation: Allocation, _ weights: MemberWeights) -> (floors: [Int], remainders: [Int], extras: Int) {
        let count = allocation.partitions.count
        let total = allocation.members.reduce(0) { $0 + weights[$1] }
        let floors = allocation.members.map { count * weights[$0] / total }
        let remainders = allocation.members.map { count * weights[$0] % total }
        return (floors, remainders, count - floors.reduce(0, +))
    }

    static func moved(from current: [Partition: String], to allocation: Allocation) -> Int {
        allocation.partitions.filter { partition in
            current[partition].map { Array($0.utf8) } != allocation.owner(of: partition).map { Array($0.utf8) }
        }.count
    }

    /// Every member holds its floor, or floor + 1 if its quota is not a whole number.
    static func expectWithinQuotas(_ allocation: Allocation, weights: MemberWeights, sourceLocation: SourceLocation = #_sourceLocation) {
        let (floors, remainders, _) = quotas(allocation, weights)
        for (index, member) in allocation.members.enumerated() {
            let count = allocation.partitions(of: member).count
            #expect(count == floors[index] || (remainders[index] > 0 && count == floors[index] + 1),
                    "\(member): \(count), quota floor \(floors[index])", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [false, true])
    func movesExactlyTheFewestWithinTheQuotas(weighted: Bool) {
        var inputs = RandomInputs(seed: weighted ? 131 : 130)
        for _ in 0..<300 {
            let group = Case(&inputs, weighted: weighted)
            let allocation = group.sticky()
            Self.expectWithinQuotas(allocation, weights: group.weights)
            #expect(Self.moved(from: group.current, to: allocation) == Self.minimumMoves(allocation, weights: group.weights, current: group.current))
            if !weighted {
                let counts = allocation.members.map { allocation.partitions(of: $0).count }
                #expect(counts.max()! - counts.min()! <= 1)
            }
        }
    }

    @Test func itsOwnResultIsAFixedPoint() {
        var inputs = RandomInputs(seed: 132)
        for round in 0..<200 {
            let group = Case(&inputs, weighted: round % 2 == 0)
            let allocation = group.sticky()
            let again = PureStrategy.sticky.allocate(
                members: group.members, partitions: group.partitions, weights: group.weights,
                current: CurrentHoldings(mapping: allocation.mapping))
            #expect(again == allocation)
        }
    }

    @Test func withNothingHeldItIsConsistent() {
        var inputs = RandomInputs(seed: 133)
        for round in 0..<200 {
            let group = Case(&inputs, weighted: round % 2 == 0)
            let consistent = PureStrategy.consistent.allocate(members: group.members, partitions: group.partitions, weights: group.weights)
            #expect(PureStrategy.sticky.allocate(members: group.members, partitions: group.partitions, weights: group.weights) == consistent)
        }
    }

    /// 20 consecutive random joins and leaves: each moves exactly the joiner's share or the
    /// leaver's, and the group stays balanced.
    @Test(arguments: [false, true])
    func joinsAndLeavesMoveOnlyTheJoinersOrTheLeaversShare(weighted: Bool) {
        var inputs = RandomInputs(seed: weighted ? 135 : 134)
        for _ in 0..<20 {
            var members = Array(Set((0..<inputs.int(in: 2...15)).map { "host-\($0)" })).sorted()
            let partitions = inputs.partitions(inputs.int(in: 20...300), topics: inputs.int(in: 1...5), maximumID: 200)
            var weights = MemberWeights()
            var allocation = PureStrategy.sticky.allocate(members: members, partitions: partitions)
            var joined = members.count
            for _ in 0..<20 {
                let current = Dictionary(uniqueKeysWithValues: allocation.partitions.map { ($0, allocation.owner(of: $0)!) })
                let joining = members.count < 2 || inputs.int(in: 0...1) == 0
                let changed: String
                if joining {
                    changed = "joiner-\(joined)"
                    joined += 1
                    members.append(changed)
                    if weighted { weights[changed] = inputs.int(in: 1...4) }
                } else {
                    changed = members.remove(at: inputs.int(in: 0...members.count - 1))
                }
                let before = allocation
                allocation = PureStrategy.sticky.allocate(
                    members: members, partitions: partitions, weights: weights, current: CurrentHoldings(mapping: before.mapping))
                let moved = Self.moved(from: current, to: allocation)
                #expect(moved == Self.minimumMoves(allocation, weights: weights, current: current))
                Self.expectWithinQuotas(allocation, weights: weights)
                if !weighted {
                    // Equal weights: exactly the joiner's share, or the leaver's.
                    #expect(moved == (joining ? allocation : before).partitions(of: changed).count)
                    let counts = allocation.members.map { allocation.partitions(of: $0).count }
                    #expect(counts.max()! - counts.min()! <= 1)
                }
            }
        }
    }

    @Test func weightedConsistentGivesEachMemberItsQuota() {
        var inputs = RandomInputs(seed: 136)
        for _ in 0..<200 {
            let group = Case(&inputs, weighted: true)
            let allocation = PureStrategy.consistent.allocate(members: group.members, partitions: group.partitions, weights: group.weights)
            Self.expectWithinQuotas(allocation, weights: group.weights)
        }
    }

    /// Weight 2 counts like two members of weight 1: a member of weight 2 among three of
    /// weight 1 holds 2/5 of 1000 partitions, and weights beyond the maximum count as it.
    @Test func aWeightIsAShareOfTheWhole() throws {
        let partitions = try PartitionSpec(parsing: "t:0-999").partitions
        for strategy in [PureStrategy.consistent, .sticky] {
            let allocation = strategy.allocate(
                members: ["a", "b", "c", "d"], partitions: partitions, weights: MemberWeights([("b", 2)]))
            #expect(allocation.members.map { allocation.partitions(of: $0).count } == [200, 400, 200, 200])
            let capped = strategy.allocate(
                members: ["a", "b"], partitions: partitions, weights: MemberWeights([("a", 1000), ("b", 0)]))
            #expect(capped == strategy.allocate(
                members: ["a", "b"], partitions: partitions, weights: MemberWeights([("a", MemberWeights.maximum)])))
        }
    }

    @Test(arguments: [PureStrategy.roundRobin, .range])
    func roundRobinAndRangeIgnoreWeightsAndHoldings(strategy: PureStrategy) {
        var inputs = RandomInputs(seed: 137)
        for _ in 0..<100 {
            let group = Case(&inputs, weighted: true)
            #expect(strategy.allocate(members: group.members, partitions: group.partitions, weights: group.weights, current: group.holdings)
                == strategy.allocate(members: group.members, partitions: group.partitions))
        }
    }

    /// A partition held by two members counts as held by the one whose name comes first in
    /// UTF-8 order; "e\u{301}" (65 CC 81) comes before "é" (C3 A9), and they are two members.
    @Test func aPartitionHeldTwiceCountsForTheFirstNameInUTF8Order() {
        let partition = Partition(topic: "t", id: 0)
        let members = ["é", "e\u{301}"]
        for holdings in [[("é", [partition]), ("e\u{301}", [partition])], [("e\u{301}", [partition]), ("é", [partition])]] {
            let allocation = PureStrategy.sticky.allocate(members: members, partitions: [partition], current: CurrentHoldings(holdings))
            #expect(allocation.owner(of: partition).map { Array($0.utf8) } == Array("e\u{301}".utf8))
        }
        let other = PureStrategy.sticky.allocate(members: members, partitions: [partition], current: CurrentHoldings([("é", [partition])]))
        #expect(other.owner(of: partition).map { Array($0.utf8) } == Array("é".utf8))
    }
}
