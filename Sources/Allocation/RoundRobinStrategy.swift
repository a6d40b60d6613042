/// `round-robin` (spec §6): kiel's `naive_allocator` bit for bit,
/// `zip(cycle(sorted(members)), sorted(partitions))`.
enum RoundRobinStrategy {
    /// The holder of each of the sorted partitions: the i-th goes to member i mod N.
    static func owners(memberCount: Int, partitionCount: Int) -> [Int] {
        (0..<partitionCount).map { $0 % memberCount }
    }
}
