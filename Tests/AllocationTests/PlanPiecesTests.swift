@testable import Allocation
import Testing
import TestSupport

/// The pieces `allocatorctl plan` and the leader's plan go through at scale, each against the
/// plain computation it stands in for.
@Suite struct PlanPiecesTests {
    /// The greedy's order of first pairs, however the scores are spread: over the whole range,
    /// crowded at the top (a partition's best of N members, what plans meet), all equal, or a
    /// few values only (buckets past the insertion sort's size).
    @Test(arguments: ["uniform", "best of 1000", "equal", "few values"])
    func pairsAreSortedBestFirstForAnySpreadOfScores(spread: String) {
        var generator = SplitMix64(seed: 5)
        let pairs = (0..<5000).map { index -> CandidatePairHeap.Pair in
            let score: UInt64 = switch spread {
            case "uniform": generator.next()
            case "best of 1000": (0..<1000).reduce(UInt64.min) { best, _ in max(best, generator.next()) }
            case "equal": 42
            default: UInt64.max - generator.next() % 7
            }
            return .init(score: score, partition: Int32(index), member: Int32(generator.next() % 100))
        }
        let sorted = CandidatePairQueue.sortedBestFirst(pairs)
        let expected = pairs.sorted { $0.precedes($1) }
        #expect(sorted.map(\.partition) == expected.map(\.partition))
        #expect(sorted.map(\.score) == expected.map(\.score))
    }

    /// A spec's partitions, listed in order straight from its ranges, are the set it names in
    /// the order of the partitions' strings: ranges that overlap, touch, repeat, stand alone,
    /// reach past a power of ten or up to the largest id.
    @Test func aSpecListsTheSetItNamesInStringOrder() throws {
        var generator = SplitMix64(seed: 9)
        let topics = ["a", "a-b", "a.b", "ab", "b", "Z"]
        for _ in 0..<300 {
            var items: [String] = []
            var named: Set<String> = []
            for _ in 0..<Int(generator.next() % 6 + 1) {
                let topic = topics[Int(generator.next() % UInt64(topics.count))]
                let start: Int = switch generator.next() % 4 {
                case 0: Int(generator.next() % 30)
                case 1: Int(generator.next() % 2000)
                case 2: 10_000 - Int(generator.next() % 20)
                default: Int.max - Int(generator.next() % 40)
                }
                let end = start + Int(generator.next() % UInt64(min(40, Int.max - start) + 1))
                items.append(start == end ? "\(topic):\(start)" : "\(topic):\(start)-\(end)")
                for id in start...end { named.insert("\(topic):\(id)") }
            }
            let spec = try PartitionSpec(parsing: items.joined(separator: ","))
            #expect(spec.partitions.map(\.description) == named.sorted(by: utf8Precedes), "\(items)")
        }
    }

    @Test func integersAreWrittenAsPythonWritesThem() {
        let values = [0, 7, 9, 10, 99, 100, 12_345, -1, -10, Int.max, Int.min]
        var output: [UInt8] = []
        JSONText.appendIntegers(count: values.count, { values[$0] }, to: &output)
        #expect(String(decoding: output, as: UTF8.self) == values.map(String.init).joined(separator: ","))
        JSONText.appendIntegers(count: 0, { _ in 1 }, to: &output)
        #expect(output.count == values.map(String.init).joined(separator: ",").utf8.count)
    }

    /// Equal bytes, whether or not they share storage; canonically equivalent strings apart.
    @Test func stringsAreEqualByTheirBytes() {
        let long = String(repeating: "topic-", count: 5)
        let copy = String(decoding: Array(long.utf8), as: UTF8.self)
        #expect(utf8Equal(long, copy))
        #expect(utf8Equal("t", String("xt".dropFirst())))
        #expect(!utf8Equal("K", "\u{212A}"))  // the Kelvin sign, canonically equivalent to "K"
        #expect(!utf8Equal("é", "e\u{301}"))
        #expect(!utf8Equal(long, long + "x"))
    }

    /// The JSON of an allocation whose topics are dense ranges of ids and of one whose topics
    /// are not: the mapping's shares, members, topics and ids in order.
    @Test(arguments: [false, true])
    func jsonListsEachShareInOrder(sparse: Bool) throws {
        var generator = SplitMix64(seed: sparse ? 3 : 4)
        for _ in 0..<50 {
            let ids = (0..<Int(generator.next() % 60 + 1)).map { sparse ? Int(generator.next() % 1000) : $0 }
            let partitions = ids.flatMap { id in [Partition(topic: "t", id: id), Partition(topic: "s-1", id: id * 3)] }
            let members = (0..<Int(generator.next() % 5 + 1)).map { "m\($0)" }
            let allocation = PureStrategy.consistent.allocate(members: members, partitions: partitions)
            let expected = "{" + allocation.members.map { member in
                let share = allocation.share(of: member)
                return "\"\(member)\":{" + share.keys.sorted(by: utf8Precedes).map { topic in
                    "\"\(topic)\":[" + share[topic]!.map(String.init).joined(separator: ",") + "]"
                }.joined(separator: ",") + "}"
            }.joined(separator: ",") + "}"
            #expect(allocation.json == expected)
        }
    }

    /// Ids up to the largest: a dense topic near `Int.max`, a sparse one across it.
    @Test func jsonOfIDsNearTheLargest() throws {
        let spec = try PartitionSpec(parsing: "t:5,t:1000000000000,u:9223372036854775800-9223372036854775807,v:0-3")
        let allocation = PureStrategy.roundRobin.allocate(members: ["a"], partitions: spec.partitions)
        #expect(allocation.json == #"{"a":{"t":[5,1000000000000],"u":[9223372036854775800,9223372036854775801,9223372036854775802,9223372036854775803,9223372036854775804,9223372036854775805,9223372036854775806,9223372036854775807],"v":[0,1,2,3]}}"#)
    }
}
