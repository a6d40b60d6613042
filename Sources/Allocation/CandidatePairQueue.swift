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

    /// `pairs` in the greedy's order, sorted by buckets: linear time instead of P·log P
    /// comparisons. The pairs are put into about as many buckets as there are pairs by their
    /// scores' distance from the best score (best bucket first), then each bucket, almost
    /// always of a few pairs, is sorted on its own.
    ///
    /// Scores are hash values, but not spread over all 64 bits: a partition's first pair
    /// holds the best of N members' scores, all within about the top (ln P)/N of the range. So
    /// the buckets span what the pairs span (buckets over the whole range held a thousand
    /// pairs each at N = 1 000, sorted by insertion: 8 ms at P = 100 000), and a bucket that
    /// still holds many is sorted by the library.
    static func sortedBestFirst(_ pairs: [CandidatePairHeap.Pair]) -> [CandidatePairHeap.Pair] {
        guard pairs.count > 64 else { return pairs.sorted { $0.precedes($1) } }
        let bucketBits = min(20, Int.bitWidth - (pairs.count - 1).leadingZeroBitCount)
        // Buckets by each pair's distance below the best score, over the distances there are.
        let best = pairs.reduce(UInt64.min) { max($0, $1.score) }
        let span = pairs.reduce(UInt64.min) { max($0, best - $1.score) }
        let shift = UInt64(max(0, UInt64.bitWidth - span.leadingZeroBitCount - bucketBits))
        func bucket(_ pair: CandidatePairHeap.Pair) -> Int { Int((best - pair.score) >> shift) }
        let bucketCount = Int(span >> shift) + 1
        // Counted, then placed, through raw buffers.
        var ends = [Int](repeating: 0, count: bucketCount)
        return [CandidatePairHeap.Pair](unsafeUninitializedCapacity: pairs.count) { result, initialized in
            pairs.withUnsafeBufferPointer { pairs in
                ends.withUnsafeMutableBufferPointer { ends in
                    for pair in pairs { ends[bucket(pair)] += 1 }
                    // Each bucket's start, moved to its end as its pairs are placed.
                    var start = 0
                    for index in 0..<bucketCount {
                        let count = ends[index]
                        ends[index] = start
                        start += count
                    }
                    for pair in pairs {
                        let target = bucket(pair)
                        (result.baseAddress! + ends[target]).initialize(to: pair)
                        ends[target] += 1
                    }
                    var begin = 0
                    for index in 0..<bucketCount {
                        let end = ends[index]
                        if end - begin > 16 {
                            var bucketPairs = UnsafeMutableBufferPointer(rebasing: result[begin..<end])
                            bucketPairs.sort { $0.precedes($1) }
                        } else if end - begin > 1 {
                            insertionSort(result, from: begin, to: end)
                        }
                        begin = end
                    }
                }
            }
            initialized = pairs.count
        }
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
