/// `consistent` (spec §6, §14): rendezvous (highest-random-weight) hashing with exact
/// capacities, members weighted.
///
/// Every (partition, member) pair has a score, `wymix(fnv1a64(member) ^ fnv1a64(partition))`
/// (see `score`); a member of weight w scores as the best of w copies (`RendezvousMembers`).
/// Going through all pairs from the best (highest score; ties: lower partition index, then
/// lower member index), a pair is taken when its partition is still free and its member is not
/// full (`CapacityGreedy`). Member j is full at ⌊P·w/W⌋ + 1 partitions, or at ⌊P·w/W⌋ once
/// the P − Σ⌊P·w/W⌋ extra slots are taken (or at once if P·w/W is a whole number); with equal
/// weights that is ⌊P/N⌋ + 1, or ⌊P/N⌋ once P mod N members have reached ⌊P/N⌋ + 1. So every
/// member ends within one partition of its quota, and a partition moves only when a change of
/// members or capacities takes its member away. docs/strategies.md has the whole definition
/// and a reference implementation in Python.
enum ConsistentStrategy {
    /// The holder of each of the sorted partitions, given each one's `partitionHashes`;
    /// `members` sorted, unique and not empty, `weights` one per member.
    static func owners(
        members: [String], weights: [Int], partitionCount: Int, partitionHashes: [UInt64], cache: CandidateCache? = nil
    ) -> [Int] {
        let quotas = WeightedQuotas(partitionCount: partitionCount, weights: weights)
        var capacities = Capacities(sharing: quotas)
        var owners = Array(repeating: 0, count: partitionCount)
        CapacityGreedy.place(
            Array(0..<partitionCount), partitionHashes: partitionHashes,
            members: RendezvousMembers(names: members, weights: weights), capacities: &capacities, owners: &owners, cache: cache)
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
