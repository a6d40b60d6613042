/// `sticky` (spec §14): keeps every current holding that fits the members' weighted quotas and
/// places the rest as `consistent` would, so that a change moves exactly the fewest partitions
/// any allocation within the quotas can move.
///
/// 1. Quotas as for `consistent` (`WeightedQuotas`): member j gets ⌊P·w/W⌋, or one more if it
///    is among the `extras` members whose quota is not a whole number.
/// 2. Extras first to the members that hold more than their floor now (and may take an extra),
///    most fractional quota first, then in member order; the extras left are shared as in
///    `consistent` by the members that may take one.
/// 3. Each member keeps its current partitions up to its ceiling (floor + 1 with an extra set
///    aside, else its floor), its best-scoring ones (ties: lower partition index).
/// 4. Everything else (partitions nobody in the group holds, those released in 3) goes
///    through `consistent`'s greedy (`CapacityGreedy`), from the loads kept.
///
/// Every member keeps min(held, ceiling), and step 2 gives the extras where they keep the most,
/// so no allocation within the quotas keeps more. With nothing held, this is `consistent`.
enum StickyStrategy {
    /// The holder of each of the sorted partitions, given each one's `partitionHashes`;
    /// `members` sorted, unique and not empty, `weights` one per member, `holders` the current
    /// holder of each partition (an index into `members`, or -1).
    static func owners(members: [String], weights: [Int], partitionHashes: [UInt64], holders: [Int]) -> [Int] {
        let quotas = WeightedQuotas(partitionCount: partitionHashes.count, weights: weights)
        var held = Array(repeating: [Int](), count: members.count)
        for (partition, holder) in holders.enumerated() where holder >= 0 { held[holder].append(partition) }

        // Extras set aside for the members holding more than their floor.
        let overFloor = members.indices.filter { quotas.mayTakeExtra[$0] && held[$0].count > quotas.floors[$0] }
            .sorted { quotas.remainders[$0] != quotas.remainders[$1] ? quotas.remainders[$0] > quotas.remainders[$1] : $0 < $1 }
        var fixedExtras: [Int: Bool] = [:]
        for (rank, member) in overFloor.enumerated() { fixedExtras[member] = rank < quotas.extras }

        let rendezvous = RendezvousMembers(names: members, weights: weights)
        var owners = holders
        var loads = Array(repeating: 0, count: members.count)
        for member in members.indices {
            let ceiling = quotas.floors[member] + (fixedExtras[member] == true ? 1 : 0)
            var kept = held[member]
            if kept.count > ceiling {
                let scored = kept.map { (score: rendezvous.score(member: member, partitionHash: partitionHashes[$0]), partition: $0) }
                    .sorted { $0.score != $1.score ? $0.score > $1.score : $0.partition < $1.partition }
                for released in scored[ceiling...] { owners[released.partition] = -1 }
                kept = Array(scored[..<ceiling].map(\.partition))
            }
            loads[member] = kept.count
        }
        var capacities = Capacities(quotas: quotas, loads: loads, fixedExtras: fixedExtras)
        let free = owners.indices.filter { owners[$0] < 0 }
        CapacityGreedy.place(free, partitionHashes: partitionHashes, members: rendezvous, capacities: &capacities, owners: &owners)
        return owners
    }
}
