import Allocation
import Testing
import TestSupport

/// The leader's interned partitions: index sets against a `Set<Int>` model, the table's
/// indices, and shares encoded from indices byte for byte as by name.
@Suite struct PartitionTableTests {
    /// Dense and sparse alike (a few indices among many words are kept sorted, not as bits),
    /// and either against the other.
    @Test func indexSetsBehaveLikeSetsOfInts() {
        var random = SplitMix64(seed: 21)
        for round in 0..<600 {
            let limit = Int.random(in: 1...(round % 2 == 0 ? 400 : 100_000), using: &random)
            let a = Set((0..<Int.random(in: 0...60, using: &random)).map { _ in Int.random(in: 0..<limit, using: &random) })
            let b = Set((0..<Int.random(in: 0...(round % 3 == 0 ? 3_000 : 60), using: &random)).map { _ in Int.random(in: 0..<limit, using: &random) })
            let x = PartitionIndexSet(a), y = PartitionIndexSet(b)
            #expect(Array(x) == a.sorted())
            #expect(x.count == a.count)
            #expect(x.isEmpty == a.isEmpty)
            #expect(Array(x.union(y)) == a.union(b).sorted())
            #expect(Array(x.intersection(y)) == a.intersection(b).sorted())
            #expect(Array(x.subtracting(y)) == a.subtracting(b).sorted())
            #expect(x.isSubset(of: y) == a.isSubset(of: b))
            // Equal whatever capacity each went through.
            #expect((x.union(y).subtracting(y) == x.subtracting(y)))
            #expect(x.intersection(y) == PartitionIndexSet(a.intersection(b)))
            var removed = x
            for index in b { removed.remove(index) }
            #expect(removed == PartitionIndexSet(a.subtracting(b)))
            #expect(removed.hashValue == PartitionIndexSet(a.subtracting(b)).hashValue)
            for probe in (0..<200).map({ _ in Int.random(in: 0..<limit, using: &random) }) + Array(a) {
                #expect(x.contains(probe) == a.contains(probe))
            }
            var built = PartitionIndexSet()
            for index in a.shuffled(using: &random) { built.insert(index) }
            #expect(built == x)
            #expect(built.hashValue == x.hashValue)
            #expect(Array(PartitionIndexSet(Array(a) + Array(a))) == a.sorted())
            // What a plan mostly meets: one set within the other, or none in common (these
            // return a set unchanged without a new array).
            let within = Set(a.filter { _ in Bool.random(using: &random) })
            let apart = Set(b.subtracting(a))
            let w = PartitionIndexSet(within), u = x.union(y), d = PartitionIndexSet(apart)
            #expect(Array(x.intersection(u)) == a.sorted())
            #expect(Array(w.intersection(x)) == within.sorted())
            #expect(Array(x.intersection(w)) == within.sorted())
            #expect(x.intersection(d).isEmpty && d.intersection(x).isEmpty)
            #expect(Array(x.subtracting(d)) == a.sorted())
            #expect(Array(x.subtracting(w)) == a.subtracting(within).sorted())
            #expect(x.subtracting(u).isEmpty && w.subtracting(x).isEmpty)
        }
    }

    @Test func theTableIndexesTheSetSortedThenWhatIsInterned() throws {
        let partitions = try PartitionSpec(parsing: "t:0-11").partitions.shuffled()
        var table = PartitionTable(partitions + partitions)
        #expect(table.setCount == 12)
        #expect(table.partitions == partitions.sorted())
        #expect(table.index(of: Partition(topic: "t", id: 10)) == 2)  // t:0, t:1, t:10
        #expect(table.index(of: Partition(topic: "u", id: 0)) == nil)
        #expect(table.intern(Partition(topic: "u", id: 0)) == 12)
        #expect(table.intern(Partition(topic: "t", id: 3)) == table.index(of: Partition(topic: "t", id: 3)))
        #expect(table.setCount == 12)
        let indices = table.intern([Partition(topic: "t", id: 2), Partition(topic: "u", id: 0)])
        #expect(table.partitions(at: indices) == [Partition(topic: "t", id: 2), Partition(topic: "u", id: 0)])
    }

    @Test func aShareEncodedFromIndicesIsTheShareEncodedByName() {
        var random = SplitMix64(seed: 2112)
        // Topics that sort differently as names and as `TOPIC:ID` text ("t" before "t-x" as a
        // name, after it as text), ids that sort differently as text, and a topic with a ":".
        let topics = ["t", "t-x", "t0", "a.b", "z_9", "q:r"]
        for _ in 0..<200 {
            var all: [Partition] = []
            for topic in topics.shuffled(using: &random).prefix(Int.random(in: 1...topics.count, using: &random)) {
                for id in 0..<Int.random(in: 1...25, using: &random) { all.append(Partition(topic: topic, id: id * 3)) }
            }
            var table = PartitionTable(all)
            var chosen = Set(all.filter { _ in Bool.random(using: &random) })
            if Bool.random(using: &random) { chosen.insert(Partition(topic: "gone", id: 7)) }  // not the set's
            let indices = table.intern(chosen)
            var named: [UInt8] = [], indexed: [UInt8] = []
            PartitionShare.named(chosen).append(to: &named)
            PartitionShare.indexed(indices, in: table).append(to: &indexed)
            #expect(String(decoding: indexed, as: UTF8.self) == String(decoding: named, as: UTF8.self))
        }
        var empty: [UInt8] = []
        PartitionShare.indexed(PartitionIndexSet(), in: PartitionTable([])).append(to: &empty)
        #expect(empty == Array("{}".utf8))
    }

    /// The leader's digest, written through its table, is the digest of the allocation's JSON
    /// (spec §4), whatever the topics and the ids' digit counts.
    @Test func theDigestThroughATableIsTheAllocationsDigest() {
        var random = SplitMix64(seed: 4242)
        let topics = ["t", "t-x", "t0", "a.b", "q:r"]
        for _ in 0..<100 {
            var all: [Partition] = []
            for topic in topics.shuffled(using: &random).prefix(Int.random(in: 1...topics.count, using: &random)) {
                for _ in 0..<Int.random(in: 1...30, using: &random) {
                    all.append(Partition(topic: topic, id: Int.random(in: 0...[9, 99, 999, 9999, 123_456][Int.random(in: 0...4, using: &random)], using: &random)))
                }
            }
            let members = (0..<Int.random(in: 1...6, using: &random)).map { "m\($0)" }
            let allocation = PureStrategy.consistent.allocate(members: members, partitions: all)
            let table = PartitionTable(all)
            #expect(allocation.digest(in: table, shares: allocation.indexSets(in: table)) == allocation.digest)
        }
    }

    /// Integers written straight, as `String(value)` says them, at every digit count.
    @Test func integersAreWrittenInDecimal() {
        var values = [0, 7, 9, 10, 42, 99, 100, 999, 1000, 9999, 10_000, 65_535, Int.max, Int.min, -1, -10_000]
        var random = SplitMix64(seed: 7)
        values += (0..<200).map { _ in Int.random(in: -2_000_000...2_000_000, using: &random) }
        for value in values {
            var output: [UInt8] = []
            JSONText.appendInteger(value, to: &output)
            #expect(String(decoding: output, as: UTF8.self) == String(value))
        }
    }

    @Test func anAllocationGivesEachMemberItsIndices() throws {
        let partitions = try PartitionSpec(parsing: "t:0-99,u:0-9").partitions
        let allocation = PureStrategy.consistent.allocate(members: ["b", "a", "c"], partitions: partitions)
        let table = PartitionTable(partitions)
        for (member, indices) in zip(allocation.members, allocation.indexSets(in: table)) {
            #expect(table.partitions(at: indices) == Set(allocation.partitions(of: member)))
        }
    }
}
