/// A partition of a topic, written `TOPIC:ID` (spec §2): TOPIC is 1–249 characters of
/// `[A-Za-z0-9._-]` (Kafka's rule), ID a non-negative decimal integer without leading zeros.
///
/// Partitions are ordered like their strings' UTF-8 bytes, as kiel and Python sort them, so
/// `t:10` comes before `t:2`, and `a-b:1` before `a:1`. Equality and hashing are by the same
/// bytes.
public struct Partition: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The longest topic name Kafka accepts.
    public static let maximumTopicLength = 249

    /// The topic, e.g. `orders`.
    public let topic: String
    /// The partition's number within its topic.
    public let id: Int

    /// A partition of `topic` numbered `id`, taken as given: it does not check the spec §2
    /// rules (use `init(parsing:)` for text from outside). Ordering, equality and `description`
    /// still behave for any values, by the bytes of `description`.
    public init(topic: String, id: Int) {
        self.topic = topic
        self.id = id
    }

    /// Parses `TOPIC:ID` exactly as spec §2 says; anything else, such as `t:01`, `t:+1`, `t: 1`,
    /// `t:-1`, `t:`, `:1`, `t:1:2`, or an id too large for `Int`, is refused with the reason.
    public init(parsing text: String) throws(PartitionError) {
        guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw PartitionError(input: text, reason: "no \":\" between topic and id")
        }
        // Sliced on the bytes: slicing the String would round to whole characters, and a
        // character can end with the ":" ("\u{600}:").
        let topic = Substring(text.utf8[..<colon])
        if let problem = Partition.problem(withTopic: topic) {
            throw PartitionError(input: text, reason: problem)
        }
        do {
            self.init(topic: String(topic), id: try Partition.id(parsing: Substring(text.utf8[text.utf8.index(after: colon)...])))
        } catch {
            throw PartitionError(input: text, reason: error.reason)
        }
    }

    /// Partitions `ids` of `topic`, checked as `init(parsing:)` checks each `TOPIC:ID` text,
    /// but the topic once (a grant's or a document's `{"TOPIC":[ID,...]}`).
    public static func partitions(topic: String, ids: [Int]) throws(PartitionError) -> [Partition] {
        if let problem = problem(withTopic: Substring(topic)), let id = ids.first {
            throw PartitionError(input: "\(topic):\(id)", reason: problem)
        }
        if let negative = ids.first(where: { $0 < 0 }) {
            throw PartitionError(input: "\(topic):\(negative)", reason: "the id \"\(negative)\" is not a non-negative decimal integer")
        }
        return ids.map { Partition(topic: topic, id: $0) }
    }

    /// `TOPIC:ID`.
    public var description: String { "\(topic):\(id)" }

    /// Why `topic` is not a valid topic name, or `nil` if it is one.
    static func problem(withTopic topic: Substring) -> String? {
        if topic.isEmpty { return "the topic is empty" }
        let count = topic.unicodeScalars.count
        if count > maximumTopicLength {
            return "the topic is \(count) characters long, more than \(maximumTopicLength)"
        }
        if let bad = topic.unicodeScalars.first(where: { !isTopicCharacter($0) }) {
            return "the topic \"\(topic)\" has the character \"\(bad.escaped(asASCII: true))\", outside [A-Za-z0-9._-]"
        }
        return nil
    }

    private static func isTopicCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": return true
        default: return false
        }
    }

    /// What is wrong with a piece of partition text.
    struct Problem: Error {
        let reason: String
    }

    /// Parses a partition id: a non-negative decimal integer without leading zeros that fits
    /// in `Int`.
    static func id(parsing text: Substring) throws(Problem) -> Int {
        if text.isEmpty { throw Problem(reason: "the id is missing") }
        var value = 0
        for byte in text.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw Problem(reason: "the id \"\(text)\" is not a non-negative decimal integer")
            }
            let (product, productOverflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, sumOverflow) = product.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if productOverflow || sumOverflow { throw Problem(reason: "the id \"\(text)\" is too large") }
            value = sum
        }
        if text.utf8.count > 1 && text.utf8.first == UInt8(ascii: "0") {
            throw Problem(reason: "the id \"\(text)\" has a leading zero")
        }
        return value
    }

    /// Whether both have the same id and the same topic bytes (not merely canonically
    /// equivalent Unicode, as `String`'s `==` would say).
    public static func == (a: Partition, b: Partition) -> Bool {
        a.id == b.id && utf8Equal(a.topic, b.topic)
    }

    /// Hashes the topic's bytes and the id, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        let hashed: Void? = topic.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil {
            for byte in topic.utf8 { hasher.combine(byte) }
        }
        hasher.combine(id)
    }

    /// Whether `a`'s string comes before `b`'s in UTF-8 byte order, without building the strings
    /// in the usual cases (ids not negative, topics without `:`).
    public static func < (a: Partition, b: Partition) -> Bool {
        guard a.id >= 0, b.id >= 0 else { return utf8Precedes(a.description, b.description) }
        let colon = UInt8(ascii: ":")
        var aBytes = a.topic.utf8.makeIterator()
        var bBytes = b.topic.utf8.makeIterator()
        while true {
            switch (aBytes.next(), bBytes.next()) {
            case (nil, nil):
                return DecimalOrder.precedes(UInt64(a.id), UInt64(b.id))
            case (let x?, let y?) where x == y:
                if x == colon { return utf8Precedes(a.description, b.description) }
            case (let x, let y):
                // The first difference, with the ":" that follows each topic standing in for
                // the end; a ":" inside a topic makes that stand-in ambiguous.
                if x == colon || y == colon { return utf8Precedes(a.description, b.description) }
                return (x ?? colon) < (y ?? colon)
            }
        }
    }
}
