import Allocation
import Testing

/// Properties every pure strategy must have, over random members (non-ASCII, emoji, names that
/// differ only in case or normalization) and partitions, with repeats and in any order.
@Suite struct StrategyPropertyTests {
    static let strategies: [PureStrategy] = [.roundRobin, .range, .consistent, .sticky]

    @Test(arguments: strategies)
    func givesEveryPartitionToExactlyOneGivenMember(strategy: PureStrategy) {
        var inputs = RandomInputs(seed: 1)
        for _ in 0..<150 {
            let members = inputs.members(inputs.int(in: 1...12))
            let partitions = inputs.partitions(inputs.int(in: 0...120), topics: inputs.int(in: 1...4))
            let allocation = strategy.allocate(members: members, partitions: partitions)
            let uniqueMembers = Set(members.map { Array($0.utf8) })
            let uniquePartitions = Set(partitions)
            #expect(Set(allocation.members.map { Array($0.utf8) }) == uniqueMembers)
            #expect(allocation.partitions.count == uniquePartitions.count)
            #expect(Set(allocation.partitions) == uniquePartitions)
            var seen: [Partition] = []
            for member in allocation.members {
                let held = allocation.partitions(of: member)
                #expect(held.allSatisfy { allocation.owner(of: $0).map { Array($0.utf8) } == Array(member.utf8) })
                seen += held
            }
            #expect(seen.count == uniquePartitions.count && Set(seen) == uniquePartitions)
        }
    }

    @Test(arguments: strategies)
    func dependsOnlyOnTheSetsNotOnOrderOrRepeats(strategy: PureStrategy) {
        var inputs = RandomInputs(seed: 2)
        for _ in 0..<100 {
            let members = inputs.members(inputs.int(in: 1...10))
            let partitions = inputs.partitions(inputs.int(in: 0...100), topics: inputs.int(in: 1...3))
            let allocation = strategy.allocate(members: members, partitions: partitions)
            let again = strategy.allocate(
                members: inputs.shuffled(members + members.prefix(3)),
                partitions: inputs.shuffled(partitions + partitions.prefix(10)))
            #expect(again == allocation)
            #expect(again.digest == allocation.digest)
            #expect(again.json == allocation.json)
        }
    }

    @Test(arguments: [PureStrategy.roundRobin, .consistent, .sticky])
    func balancesTheTotals(strategy: PureStrategy) {
        var inputs = RandomInputs(seed: 3)
        for _ in 0..<100 {
            let allocation = strategy.allocate(
                members: inputs.members(inputs.int(in: 1...15)),
                partitions: inputs.partitions(inputs.int(in: 0...200), topics: inputs.int(in: 1...5)))
            let counts = allocation.members.map { allocation.partitions(of: $0).count }
            #expect(counts.max()! - counts.min()! <= 1, "\(counts)")
        }
    }

    @Test func rangeGivesContiguousRunsPerTopicFirstMembersOneMore() {
        var inputs = RandomInputs(seed: 4)
        for _ in 0..<100 {
            let allocation = PureStrategy.range.allocate(
                members: inputs.members(inputs.int(in: 1...8)),
                partitions: inputs.partitions(inputs.int(in: 0...100), topics: inputs.int(in: 1...4)))
            let topics = Set(allocation.partitions.map(\.topic))
            for topic in topics {
                let ids = allocation.partitions.filter { $0.topic == topic }.map(\.id).sorted()
                let (base, extra) = ids.count.quotientAndRemainder(dividingBy: allocation.members.count)
                var next = 0
                for (index, member) in allocation.members.enumerated() {
                    let held = allocation.share(of: member)[topic] ?? []
                    let expected = base + (index < extra ? 1 : 0)
                    #expect(held == Array(ids[next..<next + expected]))
                    next += expected
                }
            }
        }
    }

    @Test func rangeExample() throws {
        let partitions = try PartitionSpec(parsing: "orders:0-6,payments:0-1").partitions
        let allocation = PureStrategy.range.allocate(members: ["c", "a", "b"], partitions: partitions)
        #expect(allocation.mapping == [
            "a": ["orders": [0, 1, 2], "payments": [0]],
            "b": ["orders": [3, 4], "payments": [1]],
            "c": ["orders": [5, 6]],
        ])
    }

    @Test func roundRobinFollowsTheSortedStrings() {
        var inputs = RandomInputs(seed: 5)
        for _ in 0..<100 {
            let members = inputs.members(inputs.int(in: 1...9))
            let partitions = inputs.partitions(inputs.int(in: 0...80), topics: 3)
            let allocation = PureStrategy.roundRobin.allocate(members: members, partitions: partitions)
            let sortedMembers = allocation.members
            let sortedStrings = Set(partitions.map(\.description)).sorted { utf8Precedes($0, $1) }
            for (index, text) in sortedStrings.enumerated() {
                let owner = allocation.owner(of: try! Partition(parsing: text))
                #expect(owner.map { Array($0.utf8) } == Array(sortedMembers[index % sortedMembers.count].utf8))
            }
        }
    }
}
