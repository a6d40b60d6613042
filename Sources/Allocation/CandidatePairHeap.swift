/// A binary max-heap of (partition, member) pairs of the greedy of `consistent` and `sticky`, the best pair
/// on top: higher score first, then lower partition index, then lower member index, the
/// total order of docs/strategies.md.
struct CandidatePairHeap {
    /// One partition's current best candidate member and its score.
    struct Pair {
        var score: UInt64
        var partition: Int32
        var member: Int32

        /// Whether `self` comes before `other` in the greedy's order.
        @inline(__always)
        func precedes(_ other: Pair) -> Bool {
            if score != other.score { return score > other.score }
            if partition != other.partition { return partition < other.partition }
            return member < other.member
        }
    }

    private var pairs: [Pair]

    /// A heap of `pairs`, in any order.
    init(_ pairs: [Pair]) {
        self.pairs = pairs
        var index = pairs.count / 2
        while index > 0 {
            index -= 1
            siftDown(from: index)
        }
    }

    /// The best pair, left in the heap, or `nil` when the heap is empty.
    func peekBest() -> Pair? { pairs.first }

    /// Removes and returns the best pair, or `nil` when the heap is empty.
    mutating func popBest() -> Pair? {
        guard let last = pairs.popLast() else { return nil }
        guard !pairs.isEmpty else { return last }
        let best = pairs[0]
        pairs[0] = last
        siftDown(from: 0)
        return best
    }

    mutating func push(_ pair: Pair) {
        pairs.append(pair)
        var child = pairs.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard pairs[child].precedes(pairs[parent]) else { break }
            pairs.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        let count = pairs.count
        while true {
            var best = parent
            let left = 2 * parent + 1
            let right = left + 1
            if left < count && pairs[left].precedes(pairs[best]) { best = left }
            if right < count && pairs[right].precedes(pairs[best]) { best = right }
            if best == parent { return }
            pairs.swapAt(parent, best)
            parent = best
        }
    }
}
