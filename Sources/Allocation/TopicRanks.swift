/// The rank of each partition's topic among the distinct topics of a sorted partition list, in
/// UTF-8 byte order of the topic names: what groups an allocation by topic without hashing a
/// topic name per partition.
struct TopicRanks {
    private let ranks: [Int]
    /// The distinct topics in UTF-8 byte order: rank `r` is `names[r]`.
    let names: [String]

    /// Ranks for `partitions`, sorted in `Partition` order (as an `Allocation` keeps them).
    init(of partitions: [Partition]) {
        // Partitions of one topic are adjacent (they share the prefix `TOPIC:`), so the topic
        // is compared with the previous one only; runs are ranked by name afterwards.
        var runOfPartition: [Int] = []
        runOfPartition.reserveCapacity(partitions.count)
        var runTopics: [String] = []
        for partition in partitions {
            if let last = runTopics.last, utf8Equal(last, partition.topic) {
                runOfPartition.append(runTopics.count - 1)
            } else {
                runTopics.append(partition.topic)
                runOfPartition.append(runTopics.count - 1)
            }
        }
        let names = sortedUniqueNames(runTopics)
        let rankOfRun = runTopics.map { nameIndex($0, in: names)! }
        self.names = names
        ranks = runOfPartition.map { rankOfRun[$0] }
    }

    /// The rank of the topic of the partition at `index`.
    func rank(ofPartitionAt index: Int) -> Int { ranks[index] }
}
