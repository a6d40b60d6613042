/// The greedy that `consistent` and `sticky` place partitions with (docs/strategies.md): go
/// through the (partition, member) pairs from the best (highest score; ties: lower partition
/// index, then lower member index) and take a pair when its partition is still free and its
/// member not full (`Capacities`).
///
/// Instead of sorting all pairs, each partition keeps a short list of its best members
/// (`CandidateLists`, scored on all cores for large inputs) and a queue holds each free
/// partition's best remaining pair (`CandidatePairQueue`); a pair whose member is full is
/// replaced by the partition's next listed candidate, and an exhausted list is refilled from a
/// scan of the members not yet full (fullness only grows, so the order is the same). Cost:
/// (partitions placed)·(sum of the weights) scores plus O(P log P) sorting and heap work.
enum CapacityGreedy {
    /// Gives each partition of `free` (indices into the sorted partitions, ascending) to a
    /// member, writing `owners[partition]`. The capacities must have room for all of them.
    /// With `cache`, a run that places every partition takes its candidate lists from there.
    static func place(
        _ free: [Int], partitionHashes: [UInt64], members: RendezvousMembers, capacities: inout Capacities, owners: inout [Int],
        cache: CandidateCache? = nil
    ) {
        guard !free.isEmpty else { return }
        // Slot i is the partition free[i]; slots order like their partitions.
        let all = free.count == partitionHashes.count
        let keys = all ? partitionHashes : free.map { partitionHashes[$0] }
        var lists: CandidateLists
        var queue: CandidatePairQueue
        if let cache, all {
            let cached = cache.lists(for: members, keys: keys)
            lists = cached.lists
            queue = CandidatePairQueue(sorted: cached.firstPairs)
        } else {
            lists = CandidateLists(partitionCount: free.count, memberCount: members.hashes.count)
            lists.fillAll(partitionHashes: keys, memberHashes: members.hashes)
            queue = CandidatePairQueue(lists.firstPairs)
        }
        var cursors = [Int](repeating: 0, count: free.count)
        while let pair = queue.popBest() {
            let member = Int(members.owners[Int(pair.member)])
            if !capacities.isFull(member) {
                owners[all ? Int(pair.partition) : free[Int(pair.partition)]] = member
                capacities.add(member)
                continue
            }
            // The member is full: on to the partition's next candidate that is not.
            let slot = Int(pair.partition)
            var cursor = cursors[slot] + 1
            while cursor < lists.count(slot) && capacities.isFull(Int(members.owners[lists.member(slot, at: cursor)])) {
                cursor += 1
            }
            if cursor == lists.count(slot) {
                // Every listed candidate is full; list the best of those that are not. There is
                // one, as long as a partition is free.
                let current = capacities
                lists.refill(slot, key: keys[slot], hashes: members.hashes) { !current.isFull(Int(members.owners[$0])) }
                cursor = 0
            }
            cursors[slot] = cursor
            queue.push(lists.pair(partition: slot, at: cursor))
        }
    }
}
