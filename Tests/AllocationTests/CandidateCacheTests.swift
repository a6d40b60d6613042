import Allocation
import Testing
import TestSupport

/// A table keeps `consistent`'s candidate lists from one allocation to the next and scores only
/// the members that changed: every allocation must be the one computed from scratch, through
/// joins, leaves, weight changes, several at once, and member counts that change the lists'
/// length.
@Suite struct CandidateCacheTests {
    @Test func anAllocationThroughTheTableIsTheAllocationFromScratch() {
        var random = SplitMix64(seed: 31)
        let pool = (0..<40).map { "member-\($0)" } + ["é", "e\u{301}", "z"]
        for round in 0..<12 {
            let partitions = (0..<Int.random(in: 1...1500, using: &random)).map {
                Partition(topic: ["t", "u", "v:w"][$0 % 3], id: $0)
            }
            let table = PartitionTable(partitions)
            var members = Array(pool.shuffled(using: &random).prefix(Int.random(in: 1...8, using: &random)))
            var weights: [String: Int] = [:]
            for step in 0..<30 {
                switch Int.random(in: 0..<5, using: &random) {
                case 0, 1:  // joins, one or a few
                    for _ in 0..<Int.random(in: 1...3, using: &random) {
                        if let name = pool.filter({ !members.contains($0) }).randomElement(using: &random) { members.append(name) }
                    }
                case 2:  // leaves
                    for _ in 0..<Int.random(in: 1...3, using: &random) where members.count > 1 {
                        members.remove(at: Int.random(in: 0..<members.count, using: &random))
                    }
                case 3:  // a weight changes
                    if round % 2 == 1, let name = members.randomElement(using: &random) { weights[name] = Int.random(in: 1...4, using: &random) }
                default:  // the same members again
                    break
                }
                let memberWeights = MemberWeights(members.map { ($0, weights[$0] ?? 1) })
                let cached = PureStrategy.consistent.allocate(members: members, table: table, weights: memberWeights)
                let fresh = PureStrategy.consistent.allocate(members: members, partitions: partitions, weights: memberWeights)
                let same = cached == fresh  // (not the allocations themselves: thousands of partitions)
                #expect(same, "round \(round), step \(step): \(members.count) members")
            }
        }
    }

    /// The same with enough pairs that the lists are filled on all cores.
    @Test func anAllocationOfManyPairsThroughTheTableIsTheAllocationFromScratch() {
        let partitions = (0..<30_000).map { Partition(topic: "t\($0 % 7)", id: $0) }
        let table = PartitionTable(partitions)
        var members = (0..<12).map { "m\($0)" }
        for step in 0..<4 {
            if step % 2 == 0 { members.append("joiner\(step)") } else { members.removeFirst() }
            let same = PureStrategy.consistent.allocate(members: members, table: table)
                == PureStrategy.consistent.allocate(members: members, partitions: partitions)
            #expect(same, "step \(step)")
        }
    }
}
