/// `consistent` (spec §6): rendezvous (highest-random-weight) hashing with exact capacities.
///
/// Every (partition, member) pair has a score, `wymix(fnv1a64(member) ^ fnv1a64(partition))`
/// (see `score`). Going through all pairs from the best (highest score; ties: lower partition
/// index, then lower member index), a pair is taken when its partition is still free and its
/// member is not full. With P partitions and N members, a member is full at ⌊P/N⌋+1
/// partitions, or at ⌊P/N⌋ once P mod N members have reached ⌊P/N⌋+1. So every member ends
/// with ⌊P/N⌋ or ⌈P/N⌉, and a partition moves only when a change of members or capacities
/// takes its member away. docs/strategies.md has the whole definition and a reference
/// implementation in Python.
///
/// Instead of sorting all P·N pairs, each partition keeps a short list of its best members
/// (`CandidateLists`, scored on all cores for large inputs) and a queue holds each free
/// partition's best remaining pair (`CandidatePairQueue`); a pair whose member is full is
/// replaced by the partition's next listed candidate, and an exhausted list is refilled from a
/// scan of the members not yet full (fullness only grows, so the order is the same). Cost: P·N
/// scores plus O(P log P) sorting and heap work.
enum ConsistentStrategy {
    /// The holder of each of the sorted partitions; `members` sorted, unique and not empty.
    static func owners(members: [String], partitions: [Partition]) -> [Int] {
        let memberCount = members.count
        let partitionCount = partitions.count
        let memberHashes = members.map { FNV1a64.hash($0.utf8) }
        let partitionHashes = partitionHashes(partitions)
        var lists = CandidateLists(partitionCount: partitionCount, memberCount: memberCount)
        var cursors = [Int](repeating: 0, count: partitionCount)
        var loads = [Int](repeating: 0, count: memberCount)

        let (floor, extraSlots) = partitionCount.quotientAndRemainder(dividingBy: memberCount)
        var remainingExtraSlots = extraSlots
        // A member is full at `limit` partitions: ⌊P/N⌋+1 while extra slots remain, then ⌊P/N⌋.
        var limit = remainingExtraSlots > 0 ? floor + 1 : floor

        lists.fillAll(partitionHashes: partitionHashes, memberHashes: memberHashes)
        var queue = CandidatePairQueue((0..<partitionCount).map { lists.pair(partition: $0, at: 0) })
        var owners = Array(repeating: 0, count: partitionCount)
        while let pair = queue.popBest() {
            let member = Int(pair.member)
            if loads[member] < limit {
                owners[pair.partition] = member
                loads[member] += 1
                if loads[member] == floor + 1 {
                    remainingExtraSlots -= 1
                    if remainingExtraSlots == 0 { limit = floor }
                }
                continue
            }
            // The member is full: on to the partition's next candidate that is not.
            let partition = pair.partition
            var cursor = cursors[partition] + 1
            while cursor < lists.count(partition) && loads[lists.member(partition, at: cursor)] >= limit {
                cursor += 1
            }
            if cursor == lists.count(partition) {
                // Every listed candidate is full; list the best of those that are not. There is
                // one, as long as a partition is free.
                lists.refill(partition, key: partitionHashes[partition], hashes: memberHashes) { loads[$0] < limit }
                cursor = 0
            }
            cursors[partition] = cursor
            queue.push(lists.pair(partition: partition, at: cursor))
        }
        return owners
    }

    /// Each partition's side of its scores: the FNV-1a 64 hash of its string's UTF-8 bytes.
    /// The hash of `TOPIC:` is carried over from the previous partition while the topic is the
    /// same (sorted partitions come topic by topic), so a partition costs its digits only.
    static func partitionHashes(_ partitions: [Partition]) -> [UInt64] {
        var hashes: [UInt64] = []
        hashes.reserveCapacity(partitions.count)
        var prefix: (topic: String, hasher: FNV1a64)?
        for partition in partitions {
            if prefix == nil || !utf8Equal(prefix!.topic, partition.topic) {
                var hasher = FNV1a64()
                hasher.add(partition.topic.utf8)
                hasher.add(UInt8(ascii: ":"))
                prefix = (partition.topic, hasher)
            }
            var hasher = prefix!.hasher
            addDecimal(partition.id, to: &hasher)
            hashes.append(hasher.value)
        }
        return hashes
    }

    /// Adds the decimal digits of `id` (with a `-` if negative), most significant first,
    /// without making a String.
    @inline(__always)
    private static func addDecimal(_ id: Int, to hasher: inout FNV1a64) {
        guard id >= 0 else {
            hasher.add(String(id).utf8)
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, room for 19 digits
        var count = 0
        var rest = UInt64(id)
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            hasher.add(buffer[(24 - count)...])
        }
    }

    /// The score of a pair, from the FNV-1a 64 hashes of the member's and the partition's
    /// names: with `s = (memberHash ^ partitionHash) + 0xA0761D6478BD642F` (mod 2^64), the
    /// 128-bit product `s * (s ^ 0xE7037ED1A0B428DB)`, its high 64 bits XOR its low 64 bits
    /// (wyhash's `wymix`, as in its `wyrand` generator): one multiplication per pair.
    @inline(__always)
    static func score(memberHash: UInt64, partitionHash: UInt64) -> UInt64 {
        let state = (memberHash ^ partitionHash) &+ 0xA076_1D64_78BD_642F
        let product = state.multipliedFullWidth(by: state ^ 0xE703_7ED1_A0B4_28DB)
        return product.high ^ product.low
    }
}
