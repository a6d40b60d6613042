/// A set of partitions as their indices in a `PartitionTable`: one bit a partition. What the
/// leader plans with, so that no partition is hashed per change (issue 21): union,
/// intersection and difference cost a word per 64 partitions.
///
/// Two sets are equal when they hold the same indices, whatever capacity each was made with.
public struct PartitionIndexSet: Sendable, Hashable, Sequence {
    /// Bit `i % 64` of word `i / 64` is index `i`; no trailing word is zero.
    private var words: [UInt64]

    /// The empty set.
    public init() {
        words = []
    }

    /// The set of `indices` (each non-negative).
    public init<S: Sequence<Int>>(_ indices: S) {
        words = []
        for index in indices { insert(index) }
    }

    /// The set whose bit `i % 64` of word `i / 64` is index `i`.
    init(words: [UInt64]) {
        self.words = words
        trim()
    }

    public var isEmpty: Bool { words.isEmpty }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    public func contains(_ index: Int) -> Bool {
        let word = index >> 6
        return word < words.count && words[word] & (1 << UInt64(index & 63)) != 0
    }

    public mutating func insert(_ index: Int) {
        precondition(index >= 0, "a partition index is not negative")
        let word = index >> 6
        if word >= words.count { words += repeatElement(0, count: word - words.count + 1) }
        words[word] |= 1 << UInt64(index & 63)
    }

    public mutating func remove(_ index: Int) {
        let word = index >> 6
        guard word < words.count else { return }
        words[word] &= ~(1 << UInt64(index & 63))
        trim()
    }

    public mutating func formUnion(_ other: PartitionIndexSet) {
        if other.words.count > words.count { words += repeatElement(0, count: other.words.count - words.count) }
        for word in other.words.indices { words[word] |= other.words[word] }
    }

    public mutating func formIntersection(_ other: PartitionIndexSet) {
        if words.count > other.words.count { words.removeLast(words.count - other.words.count) }
        for word in words.indices { words[word] &= other.words[word] }
        trim()
    }

    public mutating func subtract(_ other: PartitionIndexSet) {
        for word in 0..<Swift.min(words.count, other.words.count) { words[word] &= ~other.words[word] }
        trim()
    }

    public func union(_ other: PartitionIndexSet) -> PartitionIndexSet {
        var result = self
        result.formUnion(other)
        return result
    }

    public func intersection(_ other: PartitionIndexSet) -> PartitionIndexSet {
        var result = self
        result.formIntersection(other)
        return result
    }

    public func subtracting(_ other: PartitionIndexSet) -> PartitionIndexSet {
        var result = self
        result.subtract(other)
        return result
    }

    public func isSubset(of other: PartitionIndexSet) -> Bool {
        guard words.count <= other.words.count else { return false }
        return words.indices.allSatisfy { words[$0] & ~other.words[$0] == 0 }
    }

    /// The indices in ascending order.
    public func makeIterator() -> Iterator { Iterator(words: words) }

    public struct Iterator: IteratorProtocol {
        let words: [UInt64]
        var word = 0
        var bits: UInt64

        init(words: [UInt64]) {
            self.words = words
            bits = words.first ?? 0
        }

        public mutating func next() -> Int? {
            while bits == 0 {
                word += 1
                guard word < words.count else { return nil }
                bits = words[word]
            }
            let bit = bits.trailingZeroBitCount
            bits &= bits - 1
            return word << 6 | bit
        }
    }

    /// Drops trailing zero words, so that equality and hashing see only the indices.
    private mutating func trim() {
        while words.last == 0 { words.removeLast() }
    }
}
