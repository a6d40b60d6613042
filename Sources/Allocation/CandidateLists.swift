import Dispatch

/// For each partition the greedy of `consistent` and `sticky` places, its best few members, best first (highest
/// score, then lowest member index), with their scores, in flat arrays.
struct CandidateLists {
    /// How many best members each partition keeps before it needs a new scan. Most
    /// partitions go to their first candidate and few need a fourth; a short list keeps the
    /// P·N offers cheap, and a rare rescan costs N scores.
    static let maximumLength = 4

    private let length: Int
    private var members: [Int32]
    private var scores: [UInt64]
    private var counts: [Int]

    init(partitionCount: Int, memberCount: Int) {
        length = min(memberCount, CandidateLists.maximumLength)
        members = Array(repeating: 0, count: partitionCount * length)
        scores = Array(repeating: 0, count: partitionCount * length)
        counts = Array(repeating: 0, count: partitionCount)
    }

    /// How many candidates `partition` has listed.
    func count(_ partition: Int) -> Int { counts[partition] }

    /// The index of `partition`'s candidate of `rank` (0 is the best).
    func member(_ partition: Int, at rank: Int) -> Int { Int(members[partition * length + rank]) }

    /// How many partitions there are lists of.
    var partitionCount: Int { counts.count }

    /// `partition` paired with its candidate of `rank`.
    func pair(partition: Int, at rank: Int) -> CandidatePairHeap.Pair {
        .init(score: scores[partition * length + rank], partition: Int32(partition), member: members[partition * length + rank])
    }

    /// Every partition paired with its best candidate, in partition order.
    var firstPairs: [CandidatePairHeap.Pair] {
        (0..<partitionCount).map { pair(partition: $0, at: 0) }
    }

    /// Lists the best of all members for every partition: the hot loop of the strategy, P·N
    /// scores in all.
    ///
    /// With many pairs, the partitions are cut into chunks scored on all cores at once; each
    /// partition's list depends only on its own hash and the members', and each chunk writes
    /// only its own partitions' slots, so the result is the same as on one core.
    mutating func fillAll(partitionHashes: [UInt64], memberHashes: [UInt64]) {
        let length = length
        let partitionCount = partitionHashes.count
        let chunkCount = partitionCount * memberHashes.count >= CandidateLists.pairsPerChunk
            ? min(16, partitionCount) : 1
        members.withUnsafeMutableBufferPointer { members in
            scores.withUnsafeMutableBufferPointer { scores in
                counts.withUnsafeMutableBufferPointer { counts in
                    partitionHashes.withUnsafeBufferPointer { keys in
                        memberHashes.withUnsafeBufferPointer { hashes in
                            let storage = Storage(members: members, scores: scores, counts: counts, keys: keys, hashes: hashes)
                            let fill = { @Sendable (chunk: Int) in
                                let first = chunk * partitionCount / chunkCount
                                let end = (chunk + 1) * partitionCount / chunkCount
                                func list(_ partition: Int) -> List {
                                    let slots = partition * length..<(partition + 1) * length
                                    return List(members: .init(rebasing: storage.members[slots]), scores: .init(rebasing: storage.scores[slots]))
                                }
                                // Two partitions a pass over the members: each member's hash
                                // loaded once, the loop's own work shared by two scores.
                                var partition = first
                                while partition + 1 < end {
                                    (storage.counts[partition], storage.counts[partition + 1]) = CandidateLists.selectAmongAll(
                                        into: list(partition), key: storage.keys[partition],
                                        and: list(partition + 1), key: storage.keys[partition + 1], hashes: storage.hashes)
                                    partition += 2
                                }
                                if partition < end {
                                    storage.counts[partition] = CandidateLists.selectAmongAll(
                                        into: list(partition), key: storage.keys[partition], hashes: storage.hashes)
                                }
                            }
                            if chunkCount == 1 {
                                fill(0)
                            } else {
                                DispatchQueue.concurrentPerform(iterations: chunkCount, execute: fill)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Below this many pairs (about a millisecond of work), the partitions are scored on one
    /// core: waking other threads costs more than it saves, and a group's members usually
    /// rebalance at the same moment on the same few cores anyway. The tests against the
    /// all-pairs greedy take both paths.
    static let pairsPerChunk = 1 << 18

    /// The buffers `fillAll` shares with its chunks, each writing disjoint slots.
    private struct Storage: @unchecked Sendable {
        let members: UnsafeMutableBufferPointer<Int32>
        let scores: UnsafeMutableBufferPointer<UInt64>
        let counts: UnsafeMutableBufferPointer<Int>
        let keys: UnsafeBufferPointer<UInt64>
        let hashes: UnsafeBufferPointer<UInt64>
    }

    /// Lists the best members for `partition` among those `isCandidate` accepts.
    mutating func refill(_ partition: Int, key: UInt64, hashes: [UInt64], isCandidate: (Int) -> Bool) {
        let slots = partition * length..<(partition + 1) * length
        counts[partition] = members.withUnsafeMutableBufferPointer { members in
            scores.withUnsafeMutableBufferPointer { scores in
                hashes.withUnsafeBufferPointer { hashes in
                    CandidateLists.select(
                        into: List(members: .init(rebasing: members[slots]), scores: .init(rebasing: scores[slots])),
                        key: key, hashes: hashes, isCandidate: isCandidate)
                }
            }
        }
    }

    /// Fills `list` with the best members that `isCandidate` accepts and returns how many it
    /// kept.
    @inline(__always)
    private static func select(
        into list: List, key: UInt64, hashes: UnsafeBufferPointer<UInt64>, isCandidate: (Int) -> Bool
    ) -> Int {
        var list = list
        for member in 0..<hashes.count where isCandidate(member) {
            list.offer(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: key), member: member)
        }
        return list.count
    }

    /// `select` with every member a candidate, the hot loop: once the list is full, a member
    /// costs one score and one comparison with the list's worst score, kept in a register.
    @inline(__always)
    private static func selectAmongAll(into list: List, key: UInt64, hashes: UnsafeBufferPointer<UInt64>) -> Int {
        var list = list
        let length = list.members.count
        let first = min(length, hashes.count)
        for member in 0..<first {
            list.offer(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: key), member: member)
        }
        guard first < hashes.count else { return list.count }
        var worstKept = list.scores[length - 1]
        for member in first..<hashes.count {
            let score = ConsistentStrategy.score(memberHash: hashes[member], partitionHash: key)
            // An equal score stays behind those kept, whose member indices are lower.
            if score > worstKept {
                list.offer(score, member: member)
                worstKept = list.scores[length - 1]
            }
        }
        return list.count
    }

    /// `selectAmongAll` for two partitions at once, the same lists as one at a time.
    @inline(__always)
    private static func selectAmongAll(
        into list: List, key: UInt64, and otherList: List, key otherKey: UInt64, hashes: UnsafeBufferPointer<UInt64>
    ) -> (Int, Int) {
        var list = list, otherList = otherList
        let length = list.members.count
        let first = min(length, hashes.count)
        for member in 0..<first {
            list.offer(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: key), member: member)
            otherList.offer(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: otherKey), member: member)
        }
        guard first < hashes.count else { return (list.count, otherList.count) }
        var worstKept = list.scores[length - 1], otherWorstKept = otherList.scores[length - 1]
        for member in first..<hashes.count {
            let hash = hashes[member]
            let score = ConsistentStrategy.score(memberHash: hash, partitionHash: key)
            let otherScore = ConsistentStrategy.score(memberHash: hash, partitionHash: otherKey)
            if score > worstKept { worstKept = keep(score, member: member, in: &list) }
            if otherScore > otherWorstKept { otherWorstKept = keep(otherScore, member: member, in: &otherList) }
        }
        return (list.count, otherList.count)
    }

    /// Offers a member that scores better than `list`'s worst and returns the new worst: out
    /// of the scoring loop, which then keeps its values in registers (few members get here).
    @inline(never)
    private static func keep(_ score: UInt64, member: Int, in list: inout List) -> UInt64 {
        list.offer(score, member: member)
        return list.scores[list.members.count - 1]
    }

    /// The lists of the same partitions for other members: `previous` (every partition's
    /// best among the old copies) brought to the new copies. `oldToNew` maps each old copy
    /// to its new index (`nil`: gone; kept copies keep their order), `added` lists the new
    /// copies no old one maps to. A partition whose list held a copy that is gone is scored
    /// again over all copies; every other keeps its list (its copies' scores do not change)
    /// and is offered the added copies: (P − rescanned)·added + rescanned·N scores instead of
    /// P·N. The result is the lists `fillAll` makes. `nil` if the lists' length changes.
    static func updating(
        _ previous: CandidateLists, oldToNew: [Int32?], added: [Int], partitionHashes keys: [UInt64], memberHashes hashes: [UInt64]
    ) -> CandidateLists? {
        var lists = CandidateLists(partitionCount: keys.count, memberCount: hashes.count)
        guard lists.length == previous.length, previous.counts.count == keys.count else { return nil }
        let length = lists.length
        lists.members.withUnsafeMutableBufferPointer { members in
            lists.scores.withUnsafeMutableBufferPointer { scores in
                hashes.withUnsafeBufferPointer { hashes in
                    for partition in keys.indices {
                        let slots = partition * length..<(partition + 1) * length
                        var list = List(members: .init(rebasing: members[slots]), scores: .init(rebasing: scores[slots]))
                        var complete = true
                        for rank in 0..<previous.counts[partition] {
                            guard let member = oldToNew[Int(previous.members[partition * length + rank])] else {
                                complete = false
                                break
                            }
                            list.keep(previous.scores[partition * length + rank], member: Int(member))
                        }
                        if complete {
                            for member in added {
                                list.insert(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: keys[partition]), member: member)
                            }
                            lists.counts[partition] = list.count
                        } else {
                            list = List(members: list.members, scores: list.scores)
                            lists.counts[partition] = CandidateLists.selectAmongAll(into: list, key: keys[partition], hashes: hashes)
                        }
                    }
                }
            }
        }
        return lists
    }

    /// One partition's list while it is being filled, members offered in increasing index:
    /// member indices and their scores, best first.
    private struct List {
        let members: UnsafeMutableBufferPointer<Int32>
        let scores: UnsafeMutableBufferPointer<UInt64>
        private(set) var count = 0

        init(members: UnsafeMutableBufferPointer<Int32>, scores: UnsafeMutableBufferPointer<UInt64>) {
            self.members = members
            self.scores = scores
        }

        /// Keeps `member` if its score is among the best the list has room for; an equal
        /// score stays behind those already kept, whose member indices are lower.
        @inline(__always)
        mutating func offer(_ score: UInt64, member: Int) {
            let length = members.count
            if count == length && score <= scores[length - 1] { return }
            var position = count == length ? length - 1 : count
            if count < length { count += 1 }
            while position > 0 && scores[position - 1] < score {
                scores[position] = scores[position - 1]
                members[position] = members[position - 1]
                position -= 1
            }
            scores[position] = score
            members[position] = Int32(truncatingIfNeeded: member)
        }

        /// Appends a candidate known to rank after those kept (one of a list already in order).
        @inline(__always)
        mutating func keep(_ score: UInt64, member: Int) {
            scores[count] = score
            members[count] = Int32(truncatingIfNeeded: member)
            count += 1
        }

        /// `offer` for a member of any index: a higher score first, then the lower index.
        @inline(__always)
        mutating func insert(_ score: UInt64, member: Int) {
            let length = members.count
            func precedes(_ position: Int) -> Bool {
                score > scores[position] || (score == scores[position] && member < Int(members[position]))
            }
            if count == length && !precedes(length - 1) { return }
            var position = count == length ? length - 1 : count
            if count < length { count += 1 }
            while position > 0 && precedes(position - 1) {
                scores[position] = scores[position - 1]
                members[position] = members[position - 1]
                position -= 1
            }
            scores[position] = score
            members[position] = Int32(truncatingIfNeeded: member)
        }
    }
}
