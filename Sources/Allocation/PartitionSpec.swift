/// A set of partitions written compactly, `TOPIC:IDS[,TOPIC:IDS...]` (spec §9), as operators
/// type it: `orders:0-11,payments:3`.
///
/// IDS is an id (`3`) or an inclusive range (`0-11`); an item without a topic continues the
/// topic before it, so `t:1-3,7` is `t:1-3,t:7`. Topics may repeat and ranges may overlap: the
/// result is the set. No whitespace is allowed anywhere.
public struct PartitionSpec: Sendable, Equatable, CustomStringConvertible {
    /// The most partitions one spec may name, counting overlaps, so that a typo like `t:0-9999999999`
    /// is refused instead of filling memory.
    public static let maximumCount = 1_000_000

    /// The partitions, sorted (`Partition` order) and each once.
    public let partitions: [Partition]

    /// The spec of `partitions`, which may be in any order and repeat.
    public init<Partitions: Sequence<Partition>>(partitions: Partitions) {
        self.partitions = sortedUniquePartitions(Array(partitions))
    }

    /// Parses a spec; an empty spec, an empty item, a bad topic, a bad id (leading zero, sign,
    /// too large), a reversed range like `5-3`, a topic without ids, whitespace, or more than
    /// `maximumCount` partitions is refused, naming the item and the reason.
    public init(parsing spec: String) throws(PartitionSpecError) {
        func fail(_ item: some StringProtocol, _ reason: String) -> PartitionSpecError {
            PartitionSpecError(spec: spec, item: String(item), reason: reason)
        }
        if spec.isEmpty { throw fail(spec, "it is empty") }
        if spec.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            throw fail(spec, "it contains whitespace")
        }
        var ranges: [String: [ClosedRange<Int>]] = [:]
        var named = 0
        var topic: String?
        // Split and sliced on the bytes: on characters, a combining mark after "," or ":" would
        // hide it, and slices would round to whole characters.
        for itemBytes in spec.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let item = Substring(itemBytes)
            if item.isEmpty { throw fail(spec, "it has an empty item (two commas, or one at an end)") }
            var ids = item[...]
            if let colon = item.utf8.firstIndex(of: UInt8(ascii: ":")) {
                let name = Substring(item.utf8[..<colon])
                if let problem = Partition.problem(withTopic: name) { throw fail(item, problem) }
                topic = String(name)
                ids = Substring(item.utf8[item.utf8.index(after: colon)...])
            }
            guard let topic else { throw fail(item, "an item before the first topic has no \"TOPIC:\"") }
            let range: ClosedRange<Int>
            do {
                range = try PartitionSpec.idRange(parsing: ids)
            } catch {
                throw fail(item, error.reason)
            }
            // Both ends are non-negative, so the difference cannot overflow.
            if range.upperBound - range.lowerBound >= PartitionSpec.maximumCount - named {
                throw fail(item, "the spec names more than \(PartitionSpec.maximumCount) partitions")
            }
            named += range.count
            ranges[topic, default: []].append(range)
        }
        // Topics are ASCII here, where `String`'s `==` (the dictionary's) is byte equality.
        // Each topic's ids are listed in decimal string order straight from its ranges: no sort.
        var partitions: [Partition] = []
        partitions.reserveCapacity(named)
        for topic in ranges.keys.sorted(by: { utf8Precedes($0 + ":", $1 + ":") }) {
            DecimalOrder.forEach(in: DecimalOrder.merged(ranges[topic]!)) { partitions.append(Partition(topic: topic, id: $0)) }
        }
        self.partitions = partitions
    }

    /// Parses `ID` or `FIRST-LAST`.
    private static func idRange(parsing text: Substring) throws(Partition.Problem) -> ClosedRange<Int> {
        guard let dash = text.utf8.firstIndex(of: UInt8(ascii: "-")) else {
            let id = try Partition.id(parsing: text)
            return id...id
        }
        let first = Substring(text.utf8[..<dash])
        let last = Substring(text.utf8[text.utf8.index(after: dash)...])
        if first.isEmpty { throw Partition.Problem(reason: "the range \"\(text)\" has no first id") }
        if last.isEmpty { throw Partition.Problem(reason: "the range \"\(text)\" has no last id") }
        let low = try Partition.id(parsing: first)
        let high = try Partition.id(parsing: last)
        if high < low { throw Partition.Problem(reason: "the range \"\(text)\" is reversed") }
        return low...high
    }

    /// The compact form: topics in byte order, each run of consecutive ids as `FIRST-LAST`
    /// (a run of two as `A,B`), every item with its topic, e.g. `orders:0-11,orders:15,payments:3`.
    /// The empty set gives the empty string, which `init(parsing:)` refuses.
    public var description: String {
        var items: [String] = []
        for (topic, ids) in numericallySortedTopics(partitions) {
            var start = 0
            while start < ids.count {
                var end = start
                while end + 1 < ids.count && ids[end + 1] == ids[end] + 1 { end += 1 }
                switch end - start {
                case 0: items.append("\(topic):\(ids[start])")
                case 1: items.append("\(topic):\(ids[start]),\(topic):\(ids[end])")
                default: items.append("\(topic):\(ids[start])-\(ids[end])")
                }
                start = end + 1
            }
        }
        return items.joined(separator: ",")
    }
}

/// `partitions` sorted (`Partition` order), each once.
///
/// Valid partitions (topics of ASCII without `:`, ids not negative) are sorted by a key, the
/// topic's rank and the id's decimal order, which is the same order and much faster for the
/// large sets of the strategies; others by comparing their strings.
func sortedUniquePartitions(_ partitions: [Partition]) -> [Partition] {
    // Partitions that come sorted and unique (a spec's, a view's, handed to a strategy) are
    // kept as they are, found so by one pass over neighbours.
    if isSortedAndUnique(partitions) { return partitions }
    var topicRanks: [String: Int] = [:]
    var keys: [(topic: Int, scaled: UInt64, digits: Int, index: Int)] = []
    keys.reserveCapacity(partitions.count)
    var lastTopic: (name: String, number: Int)?
    for (index, partition) in partitions.enumerated() {
        guard partition.id >= 0, partition.topic.utf8.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: ":") }) else {
            return sortedUniqueByComparison(partitions)
        }
        // ASCII only from here, where String equality is byte equality.
        let topicNumber: Int
        if let lastTopic, lastTopic.name == partition.topic {
            topicNumber = lastTopic.number
        } else if let known = topicRanks[partition.topic] {
            topicNumber = known
        } else {
            topicNumber = topicRanks.count
            topicRanks[partition.topic] = topicNumber
        }
        lastTopic = (partition.topic, topicNumber)
        let (scaled, digits) = DecimalOrder.key(UInt64(partition.id))
        keys.append((topicNumber, scaled, digits, index))
    }
    // Topics without ":" order like their strings followed by ":", as in the partition strings.
    let topicOrder = topicRanks.keys.sorted { utf8Precedes($0 + ":", $1 + ":") }
    var ranks = Array(repeating: 0, count: topicOrder.count)
    for (rank, topic) in topicOrder.enumerated() { ranks[topicRanks[topic, default: 0]] = rank }
    for position in keys.indices { keys[position].topic = ranks[keys[position].topic] }
    func precedes(_ a: (topic: Int, scaled: UInt64, digits: Int, index: Int), _ b: (topic: Int, scaled: UInt64, digits: Int, index: Int)) -> Bool {
        if a.topic != b.topic { return a.topic < b.topic }
        return a.scaled != b.scaled ? a.scaled < b.scaled : a.digits < b.digits
    }
    keys.sort(by: precedes)
    var result: [Partition] = []
    result.reserveCapacity(keys.count)
    var previous: (topic: Int, scaled: UInt64, digits: Int)?
    for key in keys where previous.map({ $0 != (key.topic, key.scaled, key.digits) }) ?? true {
        result.append(partitions[key.index])
        previous = (key.topic, key.scaled, key.digits)
    }
    return result
}

/// Whether each partition comes strictly before the next. Neighbours of one topic (the same
/// bytes) compare their ids only.
private func isSortedAndUnique(_ partitions: [Partition]) -> Bool {
    guard partitions.count > 1 else { return true }
    for index in 1..<partitions.count {
        let a = partitions[index - 1], b = partitions[index]
        if a.id >= 0, b.id >= 0, utf8Equal(a.topic, b.topic) {
            guard DecimalOrder.precedes(UInt64(a.id), UInt64(b.id)) else { return false }
        } else if !(a < b) {
            return false
        }
    }
    return true
}

private func sortedUniqueByComparison(_ partitions: [Partition]) -> [Partition] {
    var result: [Partition] = []
    result.reserveCapacity(partitions.count)
    for partition in partitions.sorted() where result.last != partition {
        result.append(partition)
    }
    return result
}

/// The index of `partition` in `sorted` (sorted and unique), found by binary search, or `nil`
/// if it is not there.
func partitionIndex(_ partition: Partition, in sorted: [Partition]) -> Int? {
    var low = 0
    var high = sorted.count
    while low < high {
        let middle = (low + high) / 2
        if sorted[middle] < partition { low = middle + 1 } else { high = middle }
    }
    return low < sorted.count && sorted[low] == partition ? low : nil
}

/// `partitions` grouped by topic, topics in byte order, each topic's ids in numeric order.
func numericallySortedTopics(_ partitions: [Partition]) -> [(topic: String, ids: [Int])] {
    var byTopic: [String: [Int]] = [:]
    var topics: [String] = []
    for partition in partitions {
        if byTopic[partition.topic] == nil { topics.append(partition.topic) }
        byTopic[partition.topic, default: []].append(partition.id)
    }
    return topics.sorted(by: utf8Precedes).map { ($0, byTopic[$0, default: []].sorted()) }
}
