import Synchronization

/// The candidate lists of the last `consistent` (or whole `sticky`) run over one partition set,
/// kept by its `PartitionTable`, so that the next run, whose members differ by a few, scores
/// only what changed (`CandidateLists.updating`): a leader's join costs P scores for the
/// joiner instead of P·N, a leave N scores for each partition that listed the leaver.
final class CandidateCache: Sendable {
    /// The members the lists were made for, and the lists.
    private struct Snapshot {
        var names: [String]
        var weights: [Int]
        var lists: CandidateLists
    }

    private let snapshot = Mutex<Snapshot?>(nil)

    /// Every partition's candidate lists among `members`, for the partitions of `keys` (the
    /// set's hashes, always the same for one cache); made from the last ones when that is
    /// cheaper, and kept for the next.
    func lists(for members: RendezvousMembers, keys: [UInt64]) -> CandidateLists {
        snapshot.withLock { snapshot in
            let lists = snapshot.flatMap { Self.updated($0, to: members, keys: keys) } ?? {
                var lists = CandidateLists(partitionCount: keys.count, memberCount: members.hashes.count)
                lists.fillAll(partitionHashes: keys, memberHashes: members.hashes)
                return lists
            }()
            snapshot = Snapshot(names: members.names, weights: members.weights, lists: lists)
            return lists
        }
    }

    /// The lists of `previous` brought to `members`, or `nil` when scoring them all again
    /// costs less (more than half of the copies new) or the lists' length changes.
    private static func updated(_ previous: Snapshot, to members: RendezvousMembers, keys: [UInt64]) -> CandidateLists? {
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
        guard added.count * 2 <= members.hashes.count else { return nil }
        return CandidateLists.updating(
            previous.lists, oldToNew: oldToNew, added: added, partitionHashes: keys, memberHashes: members.hashes)
    }
}
