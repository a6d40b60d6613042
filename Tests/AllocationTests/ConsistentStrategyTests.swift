import Allocation
import Testing

/// `consistent` against its definition in docs/strategies.md, written out here the slow way
/// (every pair scored and sorted), and its stickiness on joins and leaves.
@Suite struct ConsistentStrategyTests {
    @Test func equalsTheDocumentedGreedyOverAllPairs() {
        var inputs = RandomInputs(seed: 6)
        for round in 0..<300 {
            let members = inputs.members(inputs.int(in: 1...(round < 100 ? 6 : round < 200 ? 30 : 90)))
            let partitions = inputs.partitions(inputs.int(in: 0...(round < 150 ? 20 : 150)), topics: inputs.int(in: 1...4))
            let allocation = PureStrategy.consistent.allocate(members: members, partitions: partitions)
            let expected = allPairsGreedy(members: members, partitions: partitions)
            #expect(allocation.partitions.count == expected.count)
            for (partition, owner) in expected {
                #expect(allocation.owner(of: partition).map { Array($0.utf8) } == Array(owner.utf8), "\(partition)")
            }
        }
    }

    /// From 2^18 pairs on, candidates are scored in chunks on all cores; the result must not
    /// change.
    @Test(arguments: [(300, 1000), (700, 400), (3, 90_000)])
    func equalsTheDocumentedGreedyWhenScoredInChunks(memberCount: Int, partitionCount: Int) {
        var inputs = RandomInputs(seed: UInt64(memberCount * partitionCount))
        let members = (0..<memberCount).map { "\(inputs.memberName())-\($0)" }
        let partitions = (0..<partitionCount).map { Partition(topic: "t\($0 % 7)", id: $0) }
        let allocation = PureStrategy.consistent.allocate(members: members, partitions: partitions)
        let expected = allPairsGreedy(members: members, partitions: partitions)
        for (partition, owner) in expected {
            #expect(allocation.owner(of: partition).map { Array($0.utf8) } == Array(owner.utf8), "\(partition)")
        }
    }

    @Test func knownResult() throws {
        // Pinned so that any change of hash, mixing or tie-break is noticed: it changes every
        // deployed group's allocation.
        let partitions = try PartitionSpec(parsing: "orders:0-5,payments:0-2").partitions
        let allocation = PureStrategy.consistent.allocate(members: ["host-a", "host-b", "host-c", "hôte-d"], partitions: partitions)
        let expected = allPairsGreedy(members: ["host-a", "host-b", "host-c", "hôte-d"], partitions: partitions)
        #expect(allocation.json == pinnedKnownResult)
        #expect(allocation.digest == "7a7af3dc1d55750c")
        for (partition, owner) in expected { #expect(allocation.owner(of: partition) == owner) }
    }

    @Test(arguments: [5, 17, 50])
    func joinsAndLeavesMoveLittleMoreThanNeeded(memberCount: Int) {
        let partitionCount = 2000
        var inputs = RandomInputs(seed: UInt64(memberCount))
        let partitions = (0..<partitionCount).map { Partition(topic: "topic-\($0 % 10)", id: $0 / 10) }
        let bound = 1.25 * Double(partitionCount).squareRoot()
        var joinExcess = 0.0
        var leaveExcess = 0.0
        let samples = 8
        for _ in 0..<samples {
            let members = Set((0..<memberCount).map { _ in inputs.memberName() + "-\(inputs.int(in: 0...999_999))" })
            let before = PureStrategy.consistent.allocate(members: Array(members), partitions: partitions)

            let joined = PureStrategy.consistent.allocate(members: Array(members) + ["joiner-\(inputs.int(in: 0...999_999))"], partitions: partitions)
            joinExcess += Double(moved(before, joined)) - Double(partitionCount) / Double(memberCount + 1)

            let leaver = before.members[inputs.int(in: 0...(memberCount - 1))]
            let left = PureStrategy.consistent.allocate(members: before.members.filter { $0 != leaver }, partitions: partitions)
            leaveExcess += Double(moved(before, left) - before.partitions(of: leaver).count)
        }
        #expect(joinExcess / Double(samples) <= bound, "join: \(joinExcess / Double(samples)) over optimal")
        #expect(leaveExcess / Double(samples) <= bound, "leave: \(leaveExcess / Double(samples)) over optimal")
    }
}

/// Computed by the Python reference implementation in docs/strategies.md.
let pinnedKnownResult = #"{"host-a":{"orders":[4],"payments":[0]},"host-b":{"orders":[1,3],"payments":[2]},"host-c":{"orders":[5],"payments":[1]},"hôte-d":{"orders":[0,2]}}"#

/// How many partitions have another holder in `after` than in `before` (both of the same partitions).
func moved(_ before: Allocation, _ after: Allocation) -> Int {
    before.partitions.filter { before.owner(of: $0) != after.owner(of: $0) }.count
}

/// docs/strategies.md's definition of `consistent`, the slow way: score every pair, sort all
/// pairs, take them greedily.
func allPairsGreedy(members: [String], partitions: [Partition]) -> [Partition: String] {
    func fnv1a64<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
    func score(_ memberHash: UInt64, _ partitionHash: UInt64) -> UInt64 {
        let state = (memberHash ^ partitionHash) &+ 0xA076_1D64_78BD_642F
        let product = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return product.high ^ product.low
    }
    var sortedMembers: [String] = []
    for name in members.sorted(by: utf8Precedes) where sortedMembers.last.map({ Array($0.utf8) != Array(name.utf8) }) ?? true {
        sortedMembers.append(name)
    }
    let strings = Set(partitions.map(\.description)).sorted { utf8Precedes($0, $1) }
    guard !sortedMembers.isEmpty else { return [:] }

    let memberHashes = sortedMembers.map { fnv1a64($0.utf8) }
    let partitionHashes = strings.map { fnv1a64($0.utf8) }
    var pairs: [(score: UInt64, partition: Int, member: Int)] = []
    for partition in strings.indices {
        for member in sortedMembers.indices {
            pairs.append((score(memberHashes[member], partitionHashes[partition]), partition, member))
        }
    }
    pairs.sort { a, b in
        a.score != b.score ? a.score > b.score : a.partition != b.partition ? a.partition < b.partition : a.member < b.member
    }
    let floor = strings.count / sortedMembers.count
    var extra = strings.count % sortedMembers.count
    var loads = Array(repeating: 0, count: sortedMembers.count)
    var owners: [Int?] = Array(repeating: nil, count: strings.count)
    for pair in pairs where owners[pair.partition] == nil {
        let load = loads[pair.member]
        if load == floor + 1 || (load == floor && extra == 0) { continue }
        owners[pair.partition] = pair.member
        loads[pair.member] += 1
        if loads[pair.member] == floor + 1 { extra -= 1 }
    }
    var result: [Partition: String] = [:]
    for (index, text) in strings.enumerated() {
        result[try! Partition(parsing: text)] = sortedMembers[owners[index]!]
    }
    return result
}
