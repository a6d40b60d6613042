/// Which partitions each member holds now: what `sticky` keeps as much of as its quotas allow
/// (spec §14). On the leader these are the grants (`partitions` and `releasing`); for
/// `allocatorctl plan --current` a mapping in the shape plan prints.
///
/// Members or partitions that are no longer in the group are allowed (that is what a leave or
/// a removed partition looks like) and ignored by the strategy. A partition listed for two
/// members counts as held by the one whose name comes first in UTF-8 order.
public struct CurrentHoldings: Sendable {
    /// Member → partitions, members in UTF-8 order, each once.
    let holdings: [(member: String, partitions: [Partition])]
    /// Or member → indices of `table`, members in UTF-8 order, each once (a leader's grants).
    private let indexed: (holdings: [(member: String, indices: PartitionIndexSet)], table: PartitionTable)?

    /// Nobody holds anything (a new group): `sticky` then gives what `consistent` gives.
    public init() {
        holdings = []
        indexed = nil
    }

    /// The holdings as indices of `table`, in any order; a member listed twice holds the union.
    public init(_ holdings: [(member: String, indices: PartitionIndexSet)], table: PartitionTable) {
        var merged: [[UInt8]: (member: String, indices: PartitionIndexSet)] = [:]
        for (member, indices) in holdings {
            merged[Array(member.utf8), default: (member, PartitionIndexSet())].indices.formUnion(indices)
        }
        self.holdings = []
        indexed = (merged.values.sorted { utf8Precedes($0.member, $1.member) }, table)
    }

    /// The holdings, in any order; a member listed twice holds the union.
    public init(_ holdings: [(member: String, partitions: [Partition])]) {
        var merged: [[UInt8]: (member: String, partitions: [Partition])] = [:]
        for (member, partitions) in holdings {
            merged[Array(member.utf8), default: (member, [])].partitions += partitions
        }
        self.holdings = merged.values.sorted { utf8Precedes($0.member, $1.member) }
        indexed = nil
    }

    /// The holdings of `mapping` (`{"MEMBER": {"TOPIC": [ID, ...]}}`, the shape `Allocation.mapping`
    /// has and `allocatorctl plan` prints).
    public init(mapping: [String: [String: [Int]]]) {
        self.init(mapping.map { member, share in
            (member, share.flatMap { topic, ids in ids.map { Partition(topic: topic, id: $0) } })
        })
    }

    /// For each of `partitions` (sorted, unique), the index in `members` (sorted, unique) of
    /// the member holding it now, or -1 if no member of `members` does.
    func holders(members: [String], partitions: [Partition]) -> [Int] {
        if let indexed {
            // Indices of the table, whose set `partitions` is: no partition is looked up.
            precondition(indexed.table.setCount == partitions.count, "the holdings are of another partition set")
            var holders = Array(repeating: -1, count: partitions.count)
            for (member, indices) in indexed.holdings {
                guard let memberIndex = nameIndex(member, in: members) else { continue }
                for index in indices where index < partitions.count && holders[index] < 0 { holders[index] = memberIndex }
            }
            return holders
        }
        // Partition → index by topic bytes, then id: a member's holdings come topic by topic,
        // so a topic is looked up once a run and each partition costs an integer lookup.
        var indices: [[UInt8]: [Int: Int]] = [:]
        var run: (topic: String, ids: [Int: Int])?
        for (index, partition) in partitions.enumerated() {
            if run.map({ !utf8Equal($0.topic, partition.topic) }) ?? true {
                if let run { indices[Array(run.topic.utf8)] = run.ids }
                run = (partition.topic, indices[Array(partition.topic.utf8)] ?? [:])
            }
            run!.ids[partition.id] = index
        }
        if let run { indices[Array(run.topic.utf8)] = run.ids }

        var holders = Array(repeating: -1, count: partitions.count)
        for (member, held) in holdings {
            guard let memberIndex = nameIndex(member, in: members) else { continue }
            var topic: (name: String, ids: [Int: Int]?)?
            for partition in held {
                if topic.map({ !utf8Equal($0.name, partition.topic) }) ?? true {
                    topic = (partition.topic, indices[Array(partition.topic.utf8)])
                }
                if let index = topic!.ids?[partition.id], holders[index] < 0 { holders[index] = memberIndex }
            }
        }
        return holders
    }
}
