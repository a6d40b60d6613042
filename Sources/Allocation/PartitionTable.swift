/// The partitions a leader plans over, each with a dense index: first the partition set's,
/// sorted and unique (`Partition` order: index `i` is partition `i` of an `Allocation` of the
/// set), then any other partition interned since (one a grant still holds after it left the
/// set), in the order met. Made once per version of the partition set; from then on a set of
/// partitions is a `PartitionIndexSet` over it, and a partition's name is hashed only where it
/// is read from a node.
public struct PartitionTable: Sendable {
    /// What a version of the partition set gives, made once and shared by every copy of the
    /// table (each grant the leader writes holds one).
    private final class Base: Sendable {
        let partitions: [Partition]
        let indices: [Partition: Int]
        let topicRanks: TopicRanks
        let partitionHashes: [UInt64]
        /// Each partition's place in a share's written order (topics in UTF-8 order, ids
        /// ascending), by index; and the topic rank and id at each place.
        let sharePositions: [Int32]
        let positionTopics: [Int32]
        let positionIDs: [Int]
        /// The candidate lists of the last allocation over the set (`consistent`'s).
        let candidateCache = CandidateCache()

        init(_ partitions: [Partition]) {
            let sorted = sortedUniquePartitions(partitions)
            let topicRanks = TopicRanks(of: sorted)
            self.partitions = sorted
            indices = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
            self.topicRanks = topicRanks
            partitionHashes = ConsistentStrategy.partitionHashes(sorted)
            let ranks = sorted.indices.map { topicRanks.rank(ofPartitionAt: $0) }
            let ids = sorted.map(\.id)
            let order = sorted.indices.sorted { a, b in (ranks[a], ids[a]) < (ranks[b], ids[b]) }
            var positions = [Int32](repeating: 0, count: order.count)
            for (position, index) in order.enumerated() { positions[index] = Int32(position) }
            sharePositions = positions
            positionTopics = order.map { Int32(ranks[$0]) }
            positionIDs = order.map { ids[$0] }
        }
    }

    private let base: Base
    /// Partitions interned since, outside the set: indices from `setCount` on.
    private var interned: [Partition] = []
    private var internedIndices: [Partition: Int] = [:]

    /// A table of `partitions` (in any order, repeats allowed): the set, sorted and unique.
    public init(_ partitions: [Partition]) {
        base = Base(partitions)
    }

    /// The set's partitions, sorted and unique: indices `0..<setCount`.
    public var setPartitions: [Partition] { base.partitions }

    /// How many partitions the set has.
    public var setCount: Int { base.partitions.count }

    /// The topic of each partition of the set, ranked in UTF-8 order (for `appendShare`).
    private var topicRanks: TopicRanks { base.topicRanks }

    /// Each partition of the set's side of `consistent`'s and `sticky`'s scores.
    var partitionHashes: [UInt64] { base.partitionHashes }

    /// `consistent`'s candidate lists of the last allocation over the set, shared by every
    /// copy of the table: the next allocation scores only the members that changed.
    var candidateCache: CandidateCache { base.candidateCache }

    /// Every partition, by index: the set's, then those interned since.
    public var partitions: [Partition] { base.partitions + interned }

    /// The partition at `index`.
    public subscript(index: Int) -> Partition { index < setCount ? base.partitions[index] : interned[index - setCount] }

    /// The index of `partition`, or `nil` if it was never interned.
    public func index(of partition: Partition) -> Int? { base.indices[partition] ?? internedIndices[partition] }

    /// The index of `partition`, appended to the table if it is not in it.
    public mutating func intern(_ partition: Partition) -> Int {
        if let index = index(of: partition) { return index }
        interned.append(partition)
        internedIndices[partition] = setCount + interned.count - 1
        return setCount + interned.count - 1
    }

    /// The indices of `partitions`, interning those not in the table.
    public mutating func intern<S: Sequence<Partition>>(_ partitions: S) -> PartitionIndexSet {
        var indices: [Int] = []
        for partition in partitions { indices.append(intern(partition)) }
        return PartitionIndexSet(indices)
    }

    /// The partitions at `indices`.
    public func partitions(at indices: PartitionIndexSet) -> Set<Partition> {
        var named = Set<Partition>(minimumCapacity: indices.count)
        for index in indices { named.insert(self[index]) }
        return named
    }

    /// Every partition of the set (not those interned since).
    public var setIndices: PartitionIndexSet { PartitionIndexSet(0..<setCount) }
}

extension Allocation {
    /// Each of `members`' partitions as indices of `table`, whose set is this allocation's
    /// partitions (`table.setCount == partitions.count`, or no members).
    public func indexSets(in table: PartitionTable) -> [PartitionIndexSet] {
        precondition(members.isEmpty || table.setCount == partitions.count, "the table is of another partition set")
        var held = Array(repeating: [Int32](), count: members.count)
        for (index, owner) in ownerIndices.enumerated() { held[owner].append(Int32(index)) }
        return held.map { PartitionIndexSet(sorted: $0) }
    }
}

extension Allocation {
    /// `digest`, written through `table` (whose set is this allocation's partitions) from
    /// `shares`, this allocation's `indexSets(in: table)`: the same bytes hashed, each share
    /// written from its indices in the table's order, as a leader does for every new target
    /// (sorting each share's ids again cost it as much as the strategy at N = 3).
    public func digest(in table: PartitionTable, shares: [PartitionIndexSet]) -> String {
        var output: [UInt8] = [UInt8(ascii: "{")]
        output.reserveCapacity(partitions.count * 6 + members.count * 24 + 2)
        for (number, (member, share)) in zip(members, shares).enumerated() {
            if number > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(member, to: &output)
            output.append(UInt8(ascii: ":"))
            _ = table.appendShare(share, to: &output)
        }
        output.append(UInt8(ascii: "}"))
        return Allocation.hexDigest(of: output)
    }
}

extension PartitionTable {
    /// Appends the partitions at `indices` as `{"TOPIC":[ID,...]}`, topics in UTF-8 order, ids
    /// ascending (a grant's and a document's shape), straight from the indices: no partition
    /// is hashed. `nil` if some index is not the set's (interned since): the caller encodes
    /// by name.
    public func appendShare(_ indices: PartitionIndexSet, to output: inout [UInt8]) -> Void? {
        // The places of the partitions in the written order, sorted: the ids of one topic are
        // apart in `Partition` order ("t:10" before "t:2"), together and ascending here.
        var positions: [Int32] = []
        positions.reserveCapacity(indices.count)
        for index in indices {
            guard index < setCount else { return nil }
            positions.append(base.sharePositions[index])
        }
        positions.sort()
        output.reserveCapacity(output.count + positions.count * 6 + 16)
        output.append(UInt8(ascii: "{"))
        var topic: Int32 = -1
        for position in positions {
            let rank = base.positionTopics[Int(position)]
            if rank != topic {
                if topic >= 0 { output.append(contentsOf: [UInt8(ascii: "]"), UInt8(ascii: ",")]) }
                topic = rank
                JSONText.appendString(topicRanks.names[Int(rank)], to: &output)
                output.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: "[")])
            } else {
                output.append(UInt8(ascii: ","))
            }
            JSONText.appendInteger(base.positionIDs[Int(position)], to: &output)
        }
        if topic >= 0 { output.append(UInt8(ascii: "]")) }
        output.append(UInt8(ascii: "}"))
        return ()
    }
}

/// A set of partitions by name, or as indices of a table (a leader's plan) made names only when
/// asked: a grant written by the leader is encoded from its indices without a `Set<Partition>`.
public enum PartitionShare: Sendable {
    case named(Set<Partition>)
    case indexed(PartitionIndexSet, in: PartitionTable)

    /// The partitions by name.
    public var partitions: Set<Partition> {
        switch self {
        case .named(let partitions): partitions
        case .indexed(let indices, let table): table.partitions(at: indices)
        }
    }

    public var isEmpty: Bool {
        switch self {
        case .named(let partitions): partitions.isEmpty
        case .indexed(let indices, _): indices.isEmpty
        }
    }

    public var count: Int {
        switch self {
        case .named(let partitions): partitions.count
        case .indexed(let indices, _): indices.count
        }
    }

    /// Appends the share as `{"TOPIC":[ID,...]}`, topics in UTF-8 order, ids ascending.
    public func append(to output: inout [UInt8]) {
        if case .indexed(let indices, let table) = self, table.appendShare(indices, to: &output) != nil { return }
        var byTopic: [String: [Int]] = [:]
        for partition in partitions { byTopic[partition.topic, default: []].append(partition.id) }
        output.append(UInt8(ascii: "{"))
        for (index, topic) in byTopic.keys.sorted(by: utf8Precedes).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(topic, to: &output)
            output.append(UInt8(ascii: ":"))
            output.append(UInt8(ascii: "["))
            for (position, id) in byTopic[topic]!.sorted().enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                JSONText.appendInteger(id, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(UInt8(ascii: "}"))
    }
}
