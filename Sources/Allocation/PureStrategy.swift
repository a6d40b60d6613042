/// A strategy this target computes itself: every one but `exec:` (which runs a program, see
/// `ExecRequest`). `Strategy.pure` gives it for a group's strategy.
public enum PureStrategy: Hashable, Sendable, CustomStringConvertible {
    /// kiel's `naive_allocator`: the i-th partition in string order goes to member i mod N.
    case roundRobin
    /// Kafka's RangeAssignor, per topic: contiguous runs of ids, the first members one more.
    case range
    /// Rendezvous hashing with exact weighted capacities: balanced and mostly sticky, stateless.
    case consistent
    /// Keeps every current holding that fits the weighted quotas, the rest as `consistent`:
    /// a change moves exactly the fewest partitions possible. Computed by protocol 2's leader.
    case sticky

    /// The strategy's name, as `Strategy.name`.
    public var description: String { Strategy(self).name }

    /// Whether the strategy gives members shares in proportion to their weights; `round-robin`
    /// and `range` ignore weights.
    public var honoursWeights: Bool { self == .consistent || self == .sticky }

    /// Whether the strategy looks at the current holdings; only `sticky` does.
    public var usesCurrentHoldings: Bool { self == .sticky }

    /// The allocation this strategy gives `members` and `partitions` (any order, duplicates
    /// ignored), with the members' `weights` (`consistent`, `sticky`) and what they hold now
    /// (`sticky`); the other strategies ignore those. With no members the allocation is empty;
    /// with no partitions every member holds nothing.
    public func allocate(
        members: [String], partitions: [Partition], weights: MemberWeights = MemberWeights(),
        current: CurrentHoldings = CurrentHoldings()
    ) -> Allocation {
        let partitions = sortedUniquePartitions(partitions)
        return allocate(
            members: members, sorted: partitions, hashes: { ConsistentStrategy.partitionHashes(partitions) }, weights: weights,
            current: current, cache: nil)
    }

    /// The allocation of `table`'s set (what a leader allocates: the set sorted once, and the
    /// partitions' hashes computed once, per version of it).
    public func allocate(
        members: [String], table: PartitionTable, weights: MemberWeights = MemberWeights(), current: CurrentHoldings = CurrentHoldings()
    ) -> Allocation {
        allocate(
            members: members, sorted: table.setPartitions, hashes: { table.partitionHashes }, weights: weights, current: current,
            cache: table.candidateCache)
    }

    private func allocate(
        members: [String], sorted partitions: [Partition], hashes: () -> [UInt64], weights: MemberWeights, current: CurrentHoldings,
        cache: CandidateCache?
    ) -> Allocation {
        let members = sortedUniqueNames(members)
        guard !members.isEmpty else { return Allocation(members: [], partitions: [], owners: []) }
        let owners: [Int]
        switch self {
        case .roundRobin: owners = RoundRobinStrategy.owners(memberCount: members.count, partitionCount: partitions.count)
        case .range: owners = RangeStrategy.owners(memberCount: members.count, partitions: partitions)
        case .consistent:
            owners = ConsistentStrategy.owners(
                members: members, weights: members.map { weights[$0] }, partitionCount: partitions.count, partitionHashes: hashes(),
                cache: cache)
        case .sticky:
            owners = StickyStrategy.owners(
                members: members, weights: members.map { weights[$0] }, partitionHashes: hashes(),
                holders: current.holders(members: members, partitions: partitions))
        }
        return Allocation(members: members, partitions: partitions, owners: owners)
    }
}
