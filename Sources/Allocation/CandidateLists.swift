import Dispatch

/// For each partition of the `consistent` strategy, its best few members, best first (highest
/// score, then lowest member index), with their scores, in flat arrays.
struct CandidateLists {
    /// How many best members each partition keeps before it needs a new scan.
    static let maximumLength = 8

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

    /// `partition` paired with its candidate of `rank`.
    func pair(partition: Int, at rank: Int) -> CandidatePairHeap.Pair {
        .init(score: scores[partition * length + rank], partition: partition, member: members[partition * length + rank])
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
                            DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                                let first = chunk * partitionCount / chunkCount
                                let end = (chunk + 1) * partitionCount / chunkCount
                                for partition in first..<end {
                                    storage.counts[partition] = CandidateLists.select(
                                        into: storage.members.baseAddress! + partition * length,
                                        scores: storage.scores.baseAddress! + partition * length, length: length,
                                        key: storage.keys[partition], hashes: storage.hashes
                                    ) { _ in true }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Below this many pairs (a few microseconds of work), the partitions are scored on one
    /// core. Small enough that the tests against the all-pairs greedy take both paths.
    private static let pairsPerChunk = 1 << 13

    /// The buffers `fillAll` shares with its chunks, each writing disjoint slots.
    private struct Storage: @unchecked Sendable {
        let members: UnsafeMutableBufferPointer<Int32>
        let scores: UnsafeMutableBufferPointer<UInt64>
        let counts: UnsafeMutableBufferPointer<Int>
        let keys: UnsafeBufferPointer<UInt64>
        let hashes: UnsafeBufferPointer<UInt64>
    }

    /// Lists the best members of those with fewer than `limit` partitions for `partition`.
    mutating func refill(
        _ partition: Int, key: UInt64, hashes: UnsafeBufferPointer<UInt64>, loads: UnsafeBufferPointer<Int>, limit: Int
    ) {
        counts[partition] = select(partition, key: key, hashes: hashes) { loads[$0] < limit }
    }

    @inline(__always)
    private mutating func select(
        _ partition: Int, key: UInt64, hashes: UnsafeBufferPointer<UInt64>, isCandidate: (Int) -> Bool
    ) -> Int {
        let length = length
        let start = partition * length
        return members.withUnsafeMutableBufferPointer { members in
            scores.withUnsafeMutableBufferPointer { scores in
                CandidateLists.select(
                    into: members.baseAddress! + start, scores: scores.baseAddress! + start, length: length,
                    key: key, hashes: hashes, isCandidate: isCandidate)
            }
        }
    }

    /// Writes the best `length` members that `isCandidate` accepts into `members` and their
    /// scores into `scores`, best first, and returns how many there are.
    @inline(__always)
    private static func select(
        into members: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<UInt64>, length: Int,
        key: UInt64, hashes: UnsafeBufferPointer<UInt64>, isCandidate: (Int) -> Bool
    ) -> Int {
        var list = List(members: members, scores: scores, length: length)
        for member in 0..<hashes.count where isCandidate(member) {
            list.offer(ConsistentStrategy.score(memberHash: hashes[member], partitionHash: key), member: member)
        }
        return list.count
    }

    /// One partition's list while it is being filled, members offered in increasing index.
    private struct List {
        let members: UnsafeMutablePointer<Int32>
        let scores: UnsafeMutablePointer<UInt64>
        let length: Int
        private(set) var count = 0

        init(members: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<UInt64>, length: Int) {
            self.members = members
            self.scores = scores
            self.length = length
        }

        var isFull: Bool { count == length }

        /// The lowest score kept; only meaningful when the list is full.
        var worstKept: UInt64 { scores[length - 1] }

        /// Keeps `member` if its score is among the best `length`; an equal score stays behind
        /// those already kept, whose member indices are lower.
        @inline(__always)
        mutating func offer(_ score: UInt64, member: Int) {
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
    }
}
