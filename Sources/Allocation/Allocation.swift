/// Which member holds which partitions: the whole result of a strategy for a view.
///
/// Every partition belongs to exactly one member; a member may hold nothing. With no members,
/// nothing is held and the allocation records no partitions. Two allocations are equal when
/// they have the same members (by UTF-8 bytes) and give each partition to the same member.
public struct Allocation: Equatable, Sendable {
    /// The members, sorted by UTF-8 bytes, each once.
    public let members: [String]
    /// The partitions held, sorted (`Partition` order), each once; empty when there are no
    /// members.
    public let partitions: [Partition]
    /// For each partition, the index in `members` of its holder.
    private let owners: [Int]

    /// `owners`, for `indexSets(in:)`.
    var ownerIndices: [Int] { owners }

    /// An allocation of `partitions[i]` to `members[owners[i]]`; `members` and `partitions`
    /// sorted and unique.
    init(members: [String], partitions: [Partition], owners: [Int]) {
        self.members = members
        self.partitions = partitions
        self.owners = owners
    }

    /// Whether this is an allocation of `members` and `partitions` (in any order, repeats
    /// aside): what a strategy given them returns.
    public func isAllocation(of members: [String], _ partitions: [Partition]) -> Bool {
        let members = sortedUniqueNames(members)
        return self.members == members && self.partitions == (members.isEmpty ? [] : sortedUniquePartitions(partitions))
    }

    /// The member holding `partition`, or `nil` if it is not in the allocation.
    public func owner(of partition: Partition) -> String? {
        partitionIndex(partition, in: partitions).map { members[owners[$0]] }
    }

    /// The partitions `member` holds, in `Partition` order; empty for a member not in the
    /// allocation.
    public func partitions(of member: String) -> [Partition] {
        guard let memberIndex = nameIndex(member, in: members) else { return [] }
        return zip(partitions, owners).compactMap { $1 == memberIndex ? $0 : nil }
    }

    /// `member`'s share as the published document's `allocation` (spec §8) and kiel's
    /// `allocation` property: topic → ids in numeric order. Empty for a member that holds
    /// nothing or is not in the allocation.
    public func share(of member: String) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: numericallySortedTopics(partitions(of: member)).map { ($0.topic, $0.ids) })
    }

    /// The whole allocation in the shape an `exec:` allocator prints and `allocatorctl plan`
    /// shows (spec §6, §10): member → topic → ids in numeric order. Every member is a key,
    /// one that holds nothing with an empty object (kiel would leave it out).
    ///
    /// A Swift dictionary merges keys that are canonically equivalent Unicode (`"é"` and
    /// `"e\u{301}"`), which are distinct members; `json` keeps them apart.
    public var mapping: [String: [String: [Int]]] {
        Dictionary(shares.map { ($0.member, Dictionary(uniqueKeysWithValues: $0.topics)) }) { first, _ in first }
    }

    /// `mapping` as compact JSON text, members and topics sorted by UTF-8 bytes, ids in numeric
    /// order: exactly Python's `json.dumps(mapping, sort_keys=True, ensure_ascii=False,
    /// separators=(",", ":"))`, e.g. `{"a":{"t":[0,2]},"b":{"t":[1]},"c":{}}`.
    public var json: String { String(decoding: jsonUTF8, as: UTF8.self) }

    /// The UTF-8 of `json` (what `allocatorctl plan` writes out as it is), written straight
    /// from `owners`: no string is hashed or built per partition.
    public var jsonUTF8: [UInt8] {
        let (held, topicRanks) = heldInOutputOrder
        var output: [UInt8] = []
        output.reserveCapacity(partitions.count * 8 + members.count * 24 + 2)
        output.append(UInt8(ascii: "{"))
        for (memberNumber, indices) in held.enumerated() {
            if memberNumber > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(members[memberNumber], to: &output)
            JSONText.appendRaw(":{", to: &output)
            // One topic's run of the member's partitions at a time.
            var first = 0
            while first < indices.count {
                let rank = topicRanks.rank(ofPartitionAt: indices[first])
                var end = first + 1
                while end < indices.count && topicRanks.rank(ofPartitionAt: indices[end]) == rank { end += 1 }
                if first > 0 { output.append(UInt8(ascii: ",")) }
                JSONText.appendString(partitions[indices[first]].topic, to: &output)
                JSONText.appendRaw(":[", to: &output)
                JSONText.appendIntegers(count: end - first, { partitions[indices[first + $0]].id }, to: &output)
                output.append(UInt8(ascii: "]"))
                first = end
            }
            output.append(UInt8(ascii: "}"))
        }
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// A stable fingerprint of the whole allocation, so members can see whether they agree
    /// (spec §4): the 64-bit FNV-1a hash of the UTF-8 bytes of `json`, as 16 lowercase hex
    /// digits. The empty allocation (`{}`) has `08f44b07b5901a25`.
    public var digest: String { Allocation.hexDigest(of: jsonUTF8) }

    /// The FNV-1a 64 hash of `bytes`, as 16 lowercase hex digits.
    static func hexDigest(of bytes: [UInt8]) -> String {
        let hex = String(FNV1a64.hash(bytes), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Each member, in order, with its topics in byte order and their ids in numeric order.
    private var shares: [(member: String, topics: [(topic: String, ids: [Int])])] {
        zip(members, shareIndices).map { member, topics in
            (member, topics.map { indices in (partitions[indices[0]].topic, indices.map { partitions[$0].id }) })
        }
    }

    /// For each member, its partitions (indices into `partitions`) by topic: topics in byte
    /// order, each topic's partitions in numeric order of their ids, no topic empty.
    private var shareIndices: [[[Int]]] {
        let (held, topicRanks) = heldInOutputOrder
        return held.map { indices in
            var topics: [[Int]] = []
            var lastRank = -1
            for index in indices {
                let rank = topicRanks.rank(ofPartitionAt: index)
                if rank == lastRank { topics[topics.count - 1].append(index) } else { topics.append([index]) }
                lastRank = rank
            }
            return topics
        }
    }

    /// For each member, its partitions (indices into `partitions`) in the order `json` lists
    /// them: by topic rank (topics in byte order), then numerically by id; and the ranks.
    ///
    /// Every partition is placed once by its topic's rank, then by its id within the topic
    /// (directly when the topic's ids are a dense range, as specs mostly make them), and dealt
    /// to its holder in that order: no share is sorted on its own.
    private var heldInOutputOrder: (held: [[Int]], topicRanks: TopicRanks) {
        let topicRanks = TopicRanks(of: partitions)
        // Indices grouped by rank, each group in `partitions` order.
        var starts = [Int](repeating: 0, count: topicRanks.names.count + 1)
        for index in partitions.indices { starts[topicRanks.rank(ofPartitionAt: index) + 1] += 1 }
        for rank in topicRanks.names.indices { starts[rank + 1] += starts[rank] }
        var next = starts
        var ordered = [Int](repeating: 0, count: partitions.count)
        for index in partitions.indices {
            let rank = topicRanks.rank(ofPartitionAt: index)
            ordered[next[rank]] = index
            next[rank] += 1
        }
        // Each topic's partitions by id (ids within a topic are distinct).
        for rank in topicRanks.names.indices where starts[rank + 1] - starts[rank] > 1 {
            let group = starts[rank]..<starts[rank + 1]
            var lowest = Int.max, highest = Int.min
            for position in group {
                lowest = min(lowest, partitions[ordered[position]].id)
                highest = max(highest, partitions[ordered[position]].id)
            }
            if highest.subtractingReportingOverflow(lowest) == (group.count - 1, false) {
                let indices = Array(ordered[group])
                for index in indices { ordered[group.lowerBound + (partitions[index].id - lowest)] = index }
            } else {
                let partitions = partitions
                ordered[group].sort { partitions[$0].id < partitions[$1].id }
            }
        }
        var held = Array(repeating: [Int](), count: members.count)
        for index in ordered { held[owners[index]].append(index) }
        return (held, topicRanks)
    }

    /// Whether both have the same members (by UTF-8 bytes) and give each partition to the same one.
    public static func == (a: Allocation, b: Allocation) -> Bool {
        a.owners == b.owners && a.partitions == b.partitions && a.members.elementsEqual(b.members, by: utf8Equal)
    }

    /// Checks the mapping an `exec:` allocator printed (spec §6) against the view it was given
    /// and makes it an allocation. `members` and `partitions` may be in any order and repeat.
    ///
    /// Refused, saying what is wrong: a member not in `members`, a partition not in
    /// `partitions`, a partition given twice (to two members, or twice to one), a partition
    /// given to no one. A member may be left out or given `{}`; both mean it holds nothing.
    /// With no members, only a mapping that gives nothing is accepted, and the allocation is
    /// empty (as every strategy's is).
    public static func validated(
        mapping: [String: [String: [Int]]], members: [String], partitions: [Partition]
    ) throws(MappingError) -> Allocation {
        let members = sortedUniqueNames(members)
        let partitions = sortedUniquePartitions(partitions)
        var owners = Array(repeating: -1, count: partitions.count)
        // Members in byte order, so that the first fault reported does not depend on the
        // dictionary's order.
        for member in mapping.keys.sorted(by: utf8Precedes) {
            let share = mapping[member, default: [:]]
            let held = share.values.reduce(0) { $0 + $1.count }
            guard let memberIndex = nameIndex(member, in: members) else {
                if held == 0 { continue }
                throw MappingError(code: .unknownMember, message: "\(quoted(member)) is not a member but was given \(held) partition(s)")
            }
            for topic in share.keys.sorted(by: utf8Precedes) {
                for id in share[topic, default: []] {
                    let partition = Partition(topic: topic, id: id)
                    guard let position = partitionIndex(partition, in: partitions) else {
                        throw MappingError(code: .unknownPartition, message: "\(quoted(member)) was given \(quoted(partition.description)), which is not in the partition set")
                    }
                    let previous = owners[position]
                    if previous >= 0 {
                        let holders = previous == memberIndex ? "twice to \(quoted(member))" : "to both \(quoted(members[previous])) and \(quoted(member))"
                        throw MappingError(code: .assignedTwice, message: "\(quoted(partition.description)) was given \(holders)")
                    }
                    owners[position] = memberIndex
                }
            }
        }
        if members.isEmpty { return Allocation(members: [], partitions: [], owners: []) }
        let unassigned = zip(partitions, owners).filter { $1 < 0 }.map(\.0)
        if !unassigned.isEmpty {
            let shown = unassigned.prefix(5).map { quoted($0.description) }.joined(separator: ", ")
            let more = unassigned.count > 5 ? " and \(unassigned.count - 5) more" : ""
            throw MappingError(code: .unassigned, message: "\(unassigned.count) partition(s) were given to no one: \(shown)\(more)")
        }
        return Allocation(members: members, partitions: partitions, owners: owners)
    }

    private static func quoted(_ text: String) -> String {
        var output: [UInt8] = []
        JSONText.appendString(text, to: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
