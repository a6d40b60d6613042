/// The pairs the greedy of `consistent` and `sticky` still has to look at, best first: each free
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
        sorted = Self.sortedBestFirst(pairs)
    }

    /// A queue of `pairs`, already in the greedy's order (`sortedBestFirst`).
    init(sorted pairs: [CandidatePairHeap.Pair]) {
        sorted = pairs
    }

    /// `pairs` in the greedy's order. Scores are hash values, spread evenly over 64 bits, so
    /// the pairs are first put into about as many buckets as there are pairs by the top bits
    /// of their scores (best bucket first), then each bucket, almost always of zero to three
    /// pairs, is sorted on its own: linear time instead of P·log P comparisons.
    static func sortedBestFirst(_ pairs: [CandidatePairHeap.Pair]) -> [CandidatePairHeap.Pair] {
        guard pairs.count > 64 else { return pairs.sorted { $0.precedes($1) } }
        let bucketBits = min(20, Int.bitWidth - (pairs.count - 1).leadingZeroBitCount)
        let shift = UInt64(64 - bucketBits)
        // Bucket of a pair: the top bits of its score, complemented so that the best is first.
        func bucket(_ pair: CandidatePairHeap.Pair) -> Int { Int(~pair.score >> shift) }
        var starts = [Int](repeating: 0, count: (1 << bucketBits) + 1)
        for pair in pairs { starts[bucket(pair) + 1] += 1 }
        for index in 1..<starts.count { starts[index] += starts[index - 1] }
        var next = starts
        var result = pairs
        for pair in pairs {
            let target = bucket(pair)
            result[next[target]] = pair
            next[target] += 1
        }
        result.withUnsafeMutableBufferPointer { result in
            for index in 0..<(1 << bucketBits) where starts[index + 1] - starts[index] > 1 {
                insertionSort(result, from: starts[index], to: starts[index + 1])
            }
        }
        return result
    }

    /// Sorts `pairs[start..<end]`, a bucket of a few pairs, in place: the library's sort
    /// costs more in its setup than in its work on so few (it was a sixth of a 1 000-member
    /// leader's plan).
    @inline(__always)
    private static func insertionSort(_ pairs: UnsafeMutableBufferPointer<CandidatePairHeap.Pair>, from start: Int, to end: Int) {
        for index in (start + 1)..<end {
            let pair = pairs[index]
            var hole = index
            while hole > start && pair.precedes(pairs[hole - 1]) {
                pairs[hole] = pairs[hole - 1]
                hole -= 1
            }
            pairs[hole] = pair
        }
    }

    /// The pairs of `first` and of `second`, each in the greedy's order, in that order.
    static func merged(_ first: [CandidatePairHeap.Pair], _ second: [CandidatePairHeap.Pair]) -> [CandidatePairHeap.Pair] {
        var result: [CandidatePairHeap.Pair] = []
        result.reserveCapacity(first.count + second.count)
        var i = 0, j = 0
        while i < first.count && j < second.count {
            if second[j].precedes(first[i]) {
                result.append(second[j])
                j += 1
            } else {
                result.append(first[i])
                i += 1
            }
        }
        result += first[i...]
        result += second[j...]
        return result
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
