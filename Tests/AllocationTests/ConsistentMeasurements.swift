import Allocation
import Foundation
import Testing

/// The numbers of docs/strategies.md for `consistent`: movement on single joins and leaves,
/// balance, and compute time. Skipped unless `ALLOCATORD_MEASURE=1`; run in a release build:
///
///     ALLOCATORD_MEASURE=1 swift test -c release --filter ConsistentMeasurements
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["ALLOCATORD_MEASURE"] == "1"))
struct ConsistentMeasurements {
    @Test(arguments: [(10_000, 10), (10_000, 100), (10_000, 1000), (100_000, 10), (100_000, 100), (100_000, 1000)])
    func movementAndBalance(partitionCount: Int, memberCount: Int) {
        let samples = 20
        let partitions = (0..<partitionCount).map { Partition(topic: "topic-\($0 % 10)", id: $0 / 10) }
        let members = (0..<memberCount).map { "host-\($0)" }
        let before = PureStrategy.consistent.allocate(members: members, partitions: partitions)
        let owners = ownerIndices(before)
        let root = Double(partitionCount).squareRoot()

        var joins: [(moved: Int, optimal: Double)] = []
        for sample in 0..<samples {
            let after = PureStrategy.consistent.allocate(members: members + ["joiner-\(sample)"], partitions: partitions)
            joins.append((movedCount(owners, before.members, after), Double(partitionCount) / Double(memberCount + 1)))
        }
        var leaves: [(moved: Int, optimal: Double)] = []
        for sample in 0..<samples {
            let leaver = before.members[(sample * 7919) % memberCount]
            let after = PureStrategy.consistent.allocate(members: members.filter { $0 != leaver }, partitions: partitions)
            leaves.append((movedCount(owners, before.members, after), Double(before.partitions(of: leaver).count)))
        }

        // Partitions added (1%, new ids) or removed (1%, every 100th): how many of the others move.
        let added = (0..<partitionCount / 100).map { Partition(topic: "topic-\($0 % 10)", id: partitionCount / 10 + $0 / 10) }
        let grown = PureStrategy.consistent.allocate(members: members, partitions: partitions + added)
        let movedOnAdd = zip(before.partitions, owners).filter { partition, owner in
            grown.owner(of: partition) != before.members[owner]
        }.count
        let shrunk = PureStrategy.consistent.allocate(members: members, partitions: partitions.enumerated().filter { $0.offset % 100 != 0 }.map(\.element))
        let movedOnRemove = zip(before.partitions, owners).filter { partition, owner in
            shrunk.owner(of: partition).map { $0 != before.members[owner] } ?? false
        }.count

        let counts = before.members.map { before.partitions(of: $0).count }
        var topicSpreads: [Int] = []
        for topic in 0..<10 {
            let perMember = before.members.map { before.partitions(of: $0).filter { $0.topic == "topic-\(topic)" }.count }
            topicSpreads.append(perMember.max()! - perMember.min()!)
        }
        func summary(_ moves: [(moved: Int, optimal: Double)]) -> String {
            let average = Double(moves.map(\.moved).reduce(0, +)) / Double(moves.count)
            let optimal = moves.map(\.optimal).reduce(0, +) / Double(moves.count)
            let maximum = moves.map(\.moved).max()!
            let worstRatio = moves.map { Double($0.moved) / $0.optimal }.max()!
            return String(format: "avg %.1f (opt %.1f, ratio %.3f, excess %.2f·√P, bound %.1f) max %d (ratio %.3f)",
                          average, optimal, average / optimal, (average - optimal) / root, optimal + 1.25 * root, maximum, worstRatio)
        }
        print("MEASURE P=\(partitionCount) N=\(memberCount) join: \(summary(joins))")
        print("MEASURE P=\(partitionCount) N=\(memberCount) leave: \(summary(leaves))")
        print("MEASURE P=\(partitionCount) N=\(memberCount) partitions: adding \(added.count) moves \(movedOnAdd) others, "
              + "removing \(partitionCount / 100) moves \(movedOnRemove) others")
        print("MEASURE P=\(partitionCount) N=\(memberCount) balance: global max-min \(counts.max()! - counts.min()!), "
              + "per-topic max-min mean \(Double(topicSpreads.reduce(0, +)) / 10) max \(topicSpreads.max()!)")
    }

    @Test func computeTime() {
        let partitions = (0..<100_000).map { Partition(topic: "topic-\($0 % 10)", id: $0 / 10) }
        let members = (0..<1000).map { "host-\($0)" }
        var times: [Double] = []
        for _ in 0..<7 {
            let start = ContinuousClock.now
            let allocation = PureStrategy.consistent.allocate(members: members, partitions: partitions)
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            #expect(allocation.partitions.count == 100_000)
        }
        times.sort()
        print(String(format: "MEASURE time P=100000 N=1000: min %.1f ms, median %.1f ms, max %.1f ms", times[0], times[3], times[6]))
    }
}

/// Each partition's holder in `allocation`, as an index into its members.
private func ownerIndices(_ allocation: Allocation) -> [Int] {
    var index: [String: Int] = [:]
    for (position, member) in allocation.members.enumerated() { index[member] = position }
    return allocation.partitions.map { index[allocation.owner(of: $0)!]! }
}

/// How many partitions `after` gives to another member than `owners` (indices into `members`) did.
private func movedCount(_ owners: [Int], _ members: [String], _ after: Allocation) -> Int {
    var moved = 0
    for (partition, owner) in zip(after.partitions, owners) where after.owner(of: partition) != members[owner] {
        moved += 1
    }
    return moved
}
