/// `range` (spec §6), Kafka's RangeAssignor with every member subscribed to every topic: each
/// topic's partitions, in numeric order of id, are cut into N contiguous runs given to the
/// members in order; the first `P_topic mod N` members get one more than the others.
///
/// The same members get the extra partition of every topic, so the total can differ by up to
/// the number of topics; that is Kafka's behaviour and what users of `range` expect.
enum RangeStrategy {
    /// The holder of each of the sorted partitions.
    static func owners(memberCount: Int, partitions: [Partition]) -> [Int] {
        var owners = Array(repeating: 0, count: partitions.count)
        // Partition indices grouped by topic, each group in numeric order of id.
        let order = partitions.indices.sorted {
            let (a, b) = (partitions[$0], partitions[$1])
            return utf8Equal(a.topic, b.topic) ? a.id < b.id : utf8Precedes(a.topic, b.topic)
        }
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count && utf8Equal(partitions[order[end]].topic, partitions[order[start]].topic) { end += 1 }
            let (base, extra) = (end - start).quotientAndRemainder(dividingBy: memberCount)
            var position = start
            for member in 0..<memberCount {
                for _ in 0..<(base + (member < extra ? 1 : 0)) {
                    owners[order[position]] = member
                    position += 1
                }
            }
            start = end
        }
        return owners
    }
}
