/// A set of partitions as their indices in a `PartitionTable`. What the leader plans with, so
/// that no partition is hashed per change (issue 21).
///
/// A set is kept one of two ways, whichever its contents say: *dense*, one bit a partition
/// (union, intersection and difference cost a word per 64 partitions), or, when it holds
/// fewer indices than a quarter of the words that would take, *sparse*, its indices sorted
/// (those cost an index each): a member of 1 000 holding 100 of 100 000 partitions is 400
/// bytes, not 12.5 KB, and the leader's plan works per partition held, not per member and
/// partition of the set. The choice depends only on the indices, so two sets are equal, and
/// hash alike, exactly when they hold the same indices.
public struct PartitionIndexSet: Sendable, Hashable, Sequence {
    private enum Storage: Hashable {
        /// Bit `i % 64` of word `i / 64` is index `i`; no trailing word is zero.
        case dense([UInt64])
        /// The indices, ascending, none twice.
        case sparse([Int32])
    }

    private var storage: Storage

    /// The empty set.
    public init() {
        storage = .dense([])
    }

    /// The set of `indices` (each non-negative, in any order, repeats allowed).
    public init<S: Sequence<Int>>(_ indices: S) {
        var sorted = indices.map { index in
            precondition(index >= 0 && index <= Int(Int32.max), "a partition index is not negative")
            return Int32(index)
        }
        sorted.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(sorted.count)
        for index in sorted where unique.last != index { unique.append(index) }
        self.init(sorted: unique)
    }

    /// The set whose bit `i % 64` of word `i / 64` is index `i`.
    init(words: [UInt64]) {
        storage = .dense(words)
        normalize()
    }

    /// The set of `sorted` (ascending, none twice).
    init(sorted: [Int32]) {
        storage = .sparse(sorted)
        normalize()
    }

    public var isEmpty: Bool {
        switch storage {
        case .dense(let words): words.isEmpty
        case .sparse(let indices): indices.isEmpty
        }
    }

    public var count: Int {
        switch storage {
        case .dense(let words): words.reduce(0) { $0 + $1.nonzeroBitCount }
        case .sparse(let indices): indices.count
        }
    }

    public func contains(_ index: Int) -> Bool {
        switch storage {
        case .dense(let words):
            let word = index >> 6
            return index >= 0 && word < words.count && words[word] & (1 << UInt64(index & 63)) != 0
        case .sparse(let indices):
            guard index >= 0, index <= Int(Int32.max) else { return false }
            let position = Self.firstPosition(notBelow: Int32(index), in: indices)
            return position < indices.count && indices[position] == Int32(index)
        }
    }

    public mutating func insert(_ index: Int) {
        precondition(index >= 0 && index <= Int(Int32.max), "a partition index is not negative")
        switch storage {
        case .dense(var words):
            storage = .dense([])  // the words uniquely referenced while they change
            let word = index >> 6
            let grows = word >= words.count
            if grows { words += repeatElement(0, count: word - words.count + 1) }
            words[word] |= 1 << UInt64(index & 63)
            storage = .dense(words)
            // One more index within the words keeps a dense set dense.
            if !grows { return }
        case .sparse(var indices):
            storage = .dense([])
            let position = Self.firstPosition(notBelow: Int32(index), in: indices)
            if position == indices.count || indices[position] != Int32(index) { indices.insert(Int32(index), at: position) }
            storage = .sparse(indices)
        }
        normalize()
    }

    public mutating func remove(_ index: Int) {
        guard contains(index) else { return }
        switch storage {
        case .dense(var words):
            storage = .dense([])
            words[index >> 6] &= ~(1 << UInt64(index & 63))
            storage = .dense(words)
        case .sparse(var indices):
            storage = .dense([])
            indices.remove(at: Self.firstPosition(notBelow: Int32(index), in: indices))
            storage = .sparse(indices)
        }
        normalize()
    }

    public mutating func formUnion(_ other: PartitionIndexSet) {
        if other.isEmpty { return }
        // A dense set takes the other's indices in place (a leader sums every grant into one).
        guard case .dense(var words) = storage else { return self = union(other) }
        storage = .dense([])  // the words uniquely referenced while they change
        let before = words.count
        switch other.storage {
        case .dense(let others):
            if others.count > words.count { words += repeatElement(0, count: others.count - words.count) }
            for word in others.indices { words[word] |= others[word] }
        case .sparse(let indices):
            Self.set(indices, in: &words)
        }
        storage = .dense(words)
        // More indices within the same words: still dense.
        if words.count > before { normalize() }
    }

    public mutating func formIntersection(_ other: PartitionIndexSet) { self = intersection(other) }

    public mutating func subtract(_ other: PartitionIndexSet) { self = subtracting(other) }

    public func union(_ other: PartitionIndexSet) -> PartitionIndexSet {
        // A grant's `held` is mostly its partitions and nothing releasing.
        if other.isEmpty { return self }
        if isEmpty { return other }
        guard case .sparse(let a) = storage, case .sparse(let b) = other.storage else {
            // One is dense: the other's indices go into a copy of it.
            var (result, added) = if case .dense = storage { (self, other) } else { (other, self) }
            result.formUnion(added)
            return result
        }
        var merged: [Int32] = []
        merged.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] {
                merged.append(a[i]); i += 1
            } else if b[j] < a[i] {
                merged.append(b[j]); j += 1
            } else {
                merged.append(a[i]); i += 1; j += 1
            }
        }
        merged += a[i...]
        merged += b[j...]
        return PartitionIndexSet(sorted: merged)
    }

    public func intersection(_ other: PartitionIndexSet) -> PartitionIndexSet {
        if isEmpty || other.isEmpty { return PartitionIndexSet() }
        switch (storage, other.storage) {
        case (.dense(var words), .dense(let others)):
            if words.count > others.count { words.removeLast(words.count - others.count) }
            for word in words.indices { words[word] &= others[word] }
            return PartitionIndexSet(words: words)
        case (.dense, .sparse):
            return other.intersection(self)
        case (.sparse(let indices), .dense):
            // Mostly all or nothing in a plan (a grant against what is held, or its target):
            // then no new array.
            guard let first = indices.firstIndex(where: { other.contains(Int($0)) }) else { return PartitionIndexSet() }
            if first == 0 && indices.allSatisfy({ other.contains(Int($0)) }) { return self }
            return PartitionIndexSet(sorted: indices[first...].filter { other.contains(Int($0)) })
        case (.sparse(let a), .sparse(let b)):
            // A merge; all of `a` in `b` (a grant within its member's target, mostly) makes no
            // new array: it is made at the first index of `a` left out.
            var result: [Int32]?
            var i = 0, j = 0
            while i < a.count && j < b.count {
                if a[i] < b[j] {
                    if result == nil { result = Array(a[..<i]) }
                    i += 1
                } else if b[j] < a[i] {
                    j += 1
                } else {
                    result?.append(a[i])
                    i += 1
                    j += 1
                }
            }
            if result == nil && i < a.count { result = Array(a[..<i]) }
            return result.map { PartitionIndexSet(sorted: $0) } ?? self
        }
    }

    public func subtracting(_ other: PartitionIndexSet) -> PartitionIndexSet {
        if isEmpty || other.isEmpty { return self }
        switch (storage, other.storage) {
        case (.dense(var words), .dense(let others)):
            for word in 0..<Swift.min(words.count, others.count) { words[word] &= ~others[word] }
            return PartitionIndexSet(words: words)
        case (.dense(var words), .sparse(let indices)):
            for index in indices where Int(index) >> 6 < words.count { words[Int(index) >> 6] &= ~(1 << UInt64(index & 63)) }
            return PartitionIndexSet(words: words)
        case (.sparse(let indices), .dense):
            guard let first = indices.firstIndex(where: { other.contains(Int($0)) }) else { return self }
            return PartitionIndexSet(sorted: Array(indices[..<first]) + indices[(first + 1)...].filter { !other.contains(Int($0)) })
        case (.sparse(let a), .sparse(let b)):
            // A merge; nothing in common (a grant against its member's target, mostly) makes
            // no new array: it is made at the first index taken away.
            var kept: [Int32]?
            var i = 0, j = 0
            while i < a.count && j < b.count {
                if a[i] < b[j] {
                    kept?.append(a[i])
                    i += 1
                } else if b[j] < a[i] {
                    j += 1
                } else {
                    if kept == nil {
                        kept = Array(a[..<i])
                        kept!.reserveCapacity(a.count)
                    }
                    i += 1
                    j += 1
                }
            }
            guard var result = kept else { return self }
            result += a[i...]
            return PartitionIndexSet(sorted: result)
        }
    }

    public func isSubset(of other: PartitionIndexSet) -> Bool {
        switch (storage, other.storage) {
        case (.dense(let words), .dense(let others)):
            guard words.count <= others.count else { return false }
            return words.indices.allSatisfy { words[$0] & ~others[$0] == 0 }
        case (.sparse(let indices), _):
            return indices.allSatisfy { other.contains(Int($0)) }
        case (.dense, .sparse):
            return allSatisfy { other.contains($0) }
        }
    }

    /// The indices in ascending order.
    public func makeIterator() -> Iterator {
        switch storage {
        case .dense(let words): Iterator(words: words, indices: [])
        case .sparse(let indices): Iterator(words: [], indices: indices)
        }
    }

    public struct Iterator: IteratorProtocol {
        let words: [UInt64]
        var word = 0
        var bits: UInt64
        let indices: [Int32]
        var position = 0

        init(words: [UInt64], indices: [Int32]) {
            self.words = words
            bits = words.first ?? 0
            self.indices = indices
        }

        public mutating func next() -> Int? {
            if !indices.isEmpty {
                guard position < indices.count else { return nil }
                position += 1
                return Int(indices[position - 1])
            }
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

    /// Takes the form the indices call for: trailing zero words dropped, and sparse exactly
    /// when there are fewer indices than a quarter of the words up to the highest (the empty
    /// set is dense, with no word).
    private mutating func normalize() {
        switch storage {
        case .dense(var words):
            storage = .dense([])
            while words.last == 0 { words.removeLast() }
            // Counted only as far as it takes to know: a dense set usually knows in a few words.
            var count = 0
            for word in words {
                if count * 4 >= words.count { break }
                count += word.nonzeroBitCount
            }
            if count > 0, count * 4 < words.count {
                var indices: [Int32] = []
                indices.reserveCapacity(count)
                for (number, word) in words.enumerated() {
                    var bits = word
                    while bits != 0 {
                        indices.append(Int32(number << 6 | bits.trailingZeroBitCount))
                        bits &= bits - 1
                    }
                }
                storage = .sparse(indices)
            } else {
                storage = .dense(words)
            }
        case .sparse(let indices):
            let wordCount = indices.last.map { Int($0) >> 6 + 1 } ?? 0
            if indices.isEmpty || indices.count * 4 >= wordCount {
                var words: [UInt64] = []
                Self.set(indices, in: &words)
                storage = .dense(words)
            }
        }
    }

    /// Sets the bits of `indices` in `words`, grown as they need.
    private static func set(_ indices: [Int32], in words: inout [UInt64]) {
        if let last = indices.last, Int(last) >> 6 >= words.count {
            words += repeatElement(0, count: Int(last) >> 6 + 1 - words.count)
        }
        for index in indices { words[Int(index) >> 6] |= 1 << UInt64(index & 63) }
    }

    /// The first position in `indices` (ascending) whose index is not below `index`.
    private static func firstPosition(notBelow index: Int32, in indices: [Int32]) -> Int {
        var low = 0, high = indices.count
        while low < high {
            let middle = (low + high) / 2
            if indices[middle] < index { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
