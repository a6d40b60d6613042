/// The pairs the `consistent` strategy's greedy still has to look at, best first: each free
/// partition's best remaining candidate.
///
/// Almost every partition is taken by its first candidate, so the first pairs are sorted once
/// up front, and only the few pairs put back later (a partition's next candidate after its
/// member filled up) go through a heap. Popping takes the better of the two heads.
struct CandidatePairQueue {
    private var sorted: [CandidatePairHeap.Pair]
    private var next = 0
    private var later = CandidatePairHeap([])

    /// A queue of `pairs`, in any order.
    init(_ pairs: [CandidatePairHeap.Pair]) {
        sorted = pairs.sorted { $0.precedes($1) }
    }

    /// Removes and returns the best pair, or `nil` when none is left.
    mutating func popBest() -> CandidatePairHeap.Pair? {
        if next < sorted.count, later.peekBest().map({ sorted[next].precedes($0) }) ?? true {
            next += 1
            return sorted[next - 1]
        }
        return later.popBest()
    }

    /// Adds `pair`, which must not come before the last pair popped.
    mutating func push(_ pair: CandidatePairHeap.Pair) {
        later.push(pair)
    }
}
