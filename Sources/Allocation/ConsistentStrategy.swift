/// `consistent` (spec §6): rendezvous (highest-random-weight) hashing with exact capacities.
///
/// Every (partition, member) pair has a score, `mix(fnv1a64(member) ^ fnv1a64(partition) *
/// 0x9E3779B97F4A7C15)` with `mix` the SplitMix64 finalizer. Going through all pairs from the
/// best (highest score; ties: lower partition index, then lower member index), a pair is taken
/// when its partition is still free and its member is not full. With P partitions and N
/// members, a member is full at ⌊P/N⌋+1 partitions, or at ⌊P/N⌋ once P mod N members have
/// reached ⌊P/N⌋+1. So every member ends with ⌊P/N⌋ or ⌈P/N⌉, and a partition moves only when
/// a change of members or capacities takes its member away.
///
/// Instead of sorting all P·N pairs, each partition keeps a short list of its best members and
/// a heap holds each free partition's best remaining pair; a pair whose member is full is
/// replaced by the partition's next candidate, and an exhausted list is refilled from a scan
/// of the members not yet full (fullness only grows, so this is the same order). Cost: P·N
/// scores plus O(P log P) heap work.
enum ConsistentStrategy {
    /// How many best members each partition keeps before it needs a new scan.
    static let candidatesPerPartition = 8

    /// The holder of each of the sorted partitions; `members` sorted, unique and not empty.
    static func owners(members: [String], partitions: [Partition]) -> [Int] {
        let memberCount = members.count
        let partitionCount = partitions.count
        let memberHashes = members.map { FNV1a64.hash($0.utf8) }
        let partitionKeys = partitions.map(partitionKey)
        let listLength = min(memberCount, candidatesPerPartition)

        // Each partition's candidate list, best first: member indices and their scores.
        var candidates = [Int32](repeating: 0, count: partitionCount * listLength)
        var candidateScores = [UInt64](repeating: 0, count: partitionCount * listLength)
        var candidateCounts = [Int](repeating: 0, count: partitionCount)
        var cursors = [Int](repeating: 0, count: partitionCount)
        var loads = [Int32](repeating: 0, count: memberCount)

        let (floor, extraSlots) = partitionCount.quotientAndRemainder(dividingBy: memberCount)
        var remainingExtraSlots = extraSlots
        // A member is full at `limit` partitions: ⌊P/N⌋+1 while extra slots remain, then ⌊P/N⌋.
        var limit = Int32(remainingExtraSlots > 0 ? floor + 1 : floor)

        var initialPairs: [CandidatePairHeap.Pair] = []
        initialPairs.reserveCapacity(partitionCount)
        memberHashes.withUnsafeBufferPointer { hashes in
            loads.withUnsafeBufferPointer { loads in
                candidates.withUnsafeMutableBufferPointer { candidates in
                    candidateScores.withUnsafeMutableBufferPointer { scores in
                        for partition in 0..<partitionCount {
                            let start = partition * listLength
                            candidateCounts[partition] = selectBest(
                                key: partitionKeys[partition], hashes: hashes, loads: loads, limit: .max,
                                into: candidates.baseAddress! + start, scores: scores.baseAddress! + start,
                                length: listLength)
                            initialPairs.append(.init(score: scores[start], partition: partition, member: candidates[start]))
                        }
                    }
                }
            }
        }

        var owners = Array(repeating: 0, count: partitionCount)
        var heap = CandidatePairHeap(initialPairs)
        while let pair = heap.popBest() {
            let member = Int(pair.member)
            if loads[member] < limit {
                owners[pair.partition] = member
                loads[member] += 1
                if loads[member] == floor + 1 {
                    remainingExtraSlots -= 1
                    if remainingExtraSlots == 0 { limit = Int32(floor) }
                }
                continue
            }
            // The member is full: on to the partition's next candidate that is not.
            let partition = pair.partition
            let start = partition * listLength
            var cursor = cursors[partition] + 1
            while cursor < candidateCounts[partition] && loads[Int(candidates[start + cursor])] >= limit {
                cursor += 1
            }
            if cursor == candidateCounts[partition] {
                // Every listed candidate is full; list the best of those that are not. There is
                // one, as long as a partition is free.
                candidateCounts[partition] = memberHashes.withUnsafeBufferPointer { hashes in
                    loads.withUnsafeBufferPointer { loads in
                        candidates.withUnsafeMutableBufferPointer { candidates in
                            candidateScores.withUnsafeMutableBufferPointer { scores in
                                selectBest(
                                    key: partitionKeys[partition], hashes: hashes, loads: loads, limit: limit,
                                    into: candidates.baseAddress! + start, scores: scores.baseAddress! + start,
                                    length: listLength)
                            }
                        }
                    }
                }
                cursor = 0
            }
            cursors[partition] = cursor
            heap.push(.init(score: candidateScores[start + cursor], partition: partition, member: candidates[start + cursor]))
        }
        return owners
    }

    /// A partition's side of its scores: the FNV-1a 64 hash of its string's UTF-8 bytes, times
    /// the 64-bit golden ratio (so a member and a partition with the same name do not pair to 0).
    static func partitionKey(_ partition: Partition) -> UInt64 {
        var hasher = FNV1a64()
        hasher.add(partition.topic.utf8)
        hasher.add(UInt8(ascii: ":"))
        hasher.add(String(partition.id).utf8)
        return hasher.value &* 0x9E37_79B9_7F4A_7C15
    }

    /// The score of a pair: the SplitMix64 finalizer of the member's hash XOR the partition's key.
    @inline(__always)
    static func score(memberHash: UInt64, partitionKey: UInt64) -> UInt64 {
        var z = memberHash ^ partitionKey
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Writes the `length` best members with fewer than `limit` partitions (highest score, then
    /// lowest index) into `members` and their scores into `scores`, best first, and returns how
    /// many there are (fewer than `length` if fewer members are below the limit).
    @inline(__always)
    private static func selectBest(
        key: UInt64, hashes: UnsafeBufferPointer<UInt64>, loads: UnsafeBufferPointer<Int32>, limit: Int32,
        into members: UnsafeMutablePointer<Int32>, scores: UnsafeMutablePointer<UInt64>, length: Int
    ) -> Int {
        var count = 0
        for member in 0..<hashes.count where loads[member] < limit {
            let score = score(memberHash: hashes[member], partitionKey: key)
            if count == length && score <= scores[length - 1] { continue }
            // Insert in order; an equal score stays behind, as its member index is higher.
            var position = count == length ? length - 1 : count
            if count < length { count += 1 }
            while position > 0 && scores[position - 1] < score {
                scores[position] = scores[position - 1]
                members[position] = members[position - 1]
                position -= 1
            }
            scores[position] = score
            members[position] = Int32(member)
        }
        return count
    }
}
