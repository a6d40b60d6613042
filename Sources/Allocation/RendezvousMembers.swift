/// The members as the rendezvous scores of `consistent` and `sticky` see them: a member of
/// weight w is w *copies*, and its score for a partition is the best of its copies' scores.
/// Of W copies in all, each is equally likely to score best for a partition, so a member is
/// the best for about `w/W` of the partitions: its weighted quota, before any capacity binds.
///
/// Copy 0 of a member hashes its name's UTF-8 bytes, as the unweighted strategy always did;
/// copy k ≥ 1 hashes the name's bytes, a NUL byte (no name has one) and k in decimal:
/// `fnv1a64(name + "\0" + "k")`. The copies are listed member by member, in member order, so
/// that a copy's index orders like its member's.
struct RendezvousMembers {
    /// Each copy's FNV-1a 64 hash.
    let hashes: [UInt64]
    /// Each copy's member (an index into the sorted members).
    let owners: [Int32]
    /// Each member's first copy (an index into `hashes`), and one past the last copy at the end.
    let firstCopies: [Int]
    /// The members and their weights, as given.
    let names: [String]
    let weights: [Int]

    /// `names` sorted and unique, `weights` one per name, each from 1 to `MemberWeights.maximum`.
    init(names: [String], weights: [Int]) {
        var hashes: [UInt64] = []
        var owners: [Int32] = []
        var firstCopies: [Int] = []
        hashes.reserveCapacity(weights.reduce(0, +))
        for (member, (name, weight)) in zip(names, weights).enumerated() {
            firstCopies.append(hashes.count)
            var base = FNV1a64()
            base.add(name.utf8)
            hashes.append(base.value)
            owners.append(Int32(member))
            base.add(0)
            for copy in stride(from: 1, to: weight, by: 1) {
                var hasher = base
                hasher.add(String(copy).utf8)
                hashes.append(hasher.value)
                owners.append(Int32(member))
            }
        }
        firstCopies.append(hashes.count)
        self.hashes = hashes
        self.owners = owners
        self.firstCopies = firstCopies
        self.names = names
        self.weights = weights
    }

    /// Member `member`'s score for the partition of hash `partitionHash`: the best of its copies'.
    func score(member: Int, partitionHash: UInt64) -> UInt64 {
        var best: UInt64 = 0
        for copy in firstCopies[member]..<firstCopies[member + 1] {
            best = max(best, ConsistentStrategy.score(memberHash: hashes[copy], partitionHash: partitionHash))
        }
        return best
    }
}
