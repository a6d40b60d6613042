import Synchronization

/// The candidate lists of the last `consistent` (or whole `sticky`) run over one partition set,
/// kept by its `PartitionTable`, so that the next run, whose members differ by a few, scores
/// only what changed (`CandidateLists.updating`): a leader's join costs P scores for the
/// joiner instead of P·N, a leave N scores for each partition that listed the leaver.
final class CandidateCache: Sendable {
    /// The members the lists were made for, the lists, and every partition's first pair (its
    /// best candidate) in the greedy's order.
    private struct Snapshot {
        var names: [String]
        var weights: [Int]
        var lists: CandidateLists
        var firstPairs: [CandidatePairHeap.Pair]
    }

    private let snapshot = Mutex<Snapshot?>(nil)

    /// Every partition's candidate lists among `members`, for the partitions of `keys` (the
    /// set's hashes, always the same for one cache), and their first pairs in the greedy's
    /// order (`CandidatePairQueue.sortedBestFirst`); made from the last ones when that is
    /// cheaper, and kept for the next.
    func lists(for members: RendezvousMembers, keys: [UInt64]) -> (lists: CandidateLists, firstPairs: [CandidatePairHeap.Pair]) {
        snapshot.withLock { snapshot in
            let made = snapshot.flatMap { Self.updated($0, to: members, keys: keys) } ?? {
                var lists = CandidateLists(partitionCount: keys.count, memberCount: members.hashes.count)
                lists.fillAll(partitionHashes: keys, memberHashes: members.hashes)
                return (lists, CandidatePairQueue.sortedBestFirst(lists.firstPairs))
            }()
            snapshot = Snapshot(names: members.names, weights: members.weights, lists: made.lists, firstPairs: made.firstPairs)
            return made
        }
    }

    /// The lists of `previous` brought to `members`, with their first pairs, or `nil` when
    /// scoring them all again costs less (more than half of the copies new) or the lists'
    /// length changes.
    private static func updated(
        _ previous: Snapshot, to members: RendezvousMembers, keys: [UInt64]
    ) -> (lists: CandidateLists, firstPairs: [CandidatePairHeap.Pair])? {
        // Copies are listed member by member in name order, each member's by number: walk both.
        var oldToNew = [Int32?](repeating: nil, count: previous.weights.reduce(0, +))
        var added: [Int] = []
        var old = 0, oldCopy = 0
        for (member, name) in members.names.enumerated() {
            while old < previous.names.count && utf8Precedes(previous.names[old], name) {
                oldCopy += previous.weights[old]
                old += 1
            }
            let first = members.firstCopies[member]
            let weight = members.weights[member]
            if old < previous.names.count && utf8Equal(previous.names[old], name) {
                let kept = min(weight, previous.weights[old])
                for copy in 0..<kept { oldToNew[oldCopy + copy] = Int32(first + copy) }
                added += (first + kept)..<(first + weight)
                oldCopy += previous.weights[old]
                old += 1
            } else {
                added += first..<(first + weight)
            }
        }
        guard added.count * 2 <= members.hashes.count,
              let lists = CandidateLists.updating(
                previous.lists, oldToNew: oldToNew, added: added, partitionHashes: keys, memberHashes: members.hashes)
        else { return nil }
        return (lists, firstPairs(of: lists, from: previous, oldToNew: oldToNew))
    }

    /// The first pairs of `lists` in the greedy's order, from those of `previous`: a
    /// partition whose best copy is the same keeps its place among the others (its score and
    /// partition are the same, and no two of these pairs share a partition), only those whose
    /// best copy changed (about P / N on a join or a leave) are sorted, and merged in. Sorting
    /// all P pairs again was a quarter of a 1 000-member leader's plan.
    private static func firstPairs(
        of lists: CandidateLists, from previous: Snapshot, oldToNew: [Int32?]
    ) -> [CandidatePairHeap.Pair] {
        var changed = [Bool](repeating: false, count: lists.partitionCount)
        var changedPairs: [CandidatePairHeap.Pair] = []
        for partition in 0..<lists.partitionCount {
            let pair = lists.pair(partition: partition, at: 0)
            if oldToNew[previous.lists.member(partition, at: 0)] != pair.member {
                changed[partition] = true
                changedPairs.append(pair)
            }
        }
        var kept: [CandidatePairHeap.Pair] = []
        kept.reserveCapacity(lists.partitionCount - changedPairs.count)
        for var pair in previous.firstPairs where !changed[Int(pair.partition)] {
            pair.member = oldToNew[Int(pair.member)]!
            kept.append(pair)
        }
        return CandidatePairQueue.merged(kept, CandidatePairQueue.sortedBestFirst(changedPairs))
    }
}
