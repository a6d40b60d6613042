/// Non-negative integers in the order of their decimal strings (`1`, `10`, `100`, `11`, `2`),
/// the order of a topic's partitions (`Partition`'s `<`), listed from ranges without sorting.
enum DecimalOrder {
    /// `ranges` sorted, with overlapping and adjacent ones joined: disjoint, ascending.
    static func merged(_ ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        var result: [ClosedRange<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound || range.lowerBound - last.upperBound == 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// Calls `body` with every number of `ranges` (disjoint, ascending, not negative) in
    /// decimal string order: a walk of the decimal prefixes, each visited only if some number
    /// of the ranges starts with it.
    static func forEach(in ranges: [ClosedRange<Int>], _ body: (Int) -> Void) {
        guard let largest = ranges.last?.upperBound else { return }
        let ranges = SortedRanges(ranges: ranges)
        if ranges.contains(0) { body(0) }  // only 0 itself starts with "0"
        for digit in 1...9 where digit <= largest {
            visit(digit, largest: largest, ranges: ranges, body)
        }
    }

    /// `prefix`, then every number that starts with its digits, in order.
    private static func visit(_ prefix: Int, largest: Int, ranges: SortedRanges, _ body: (Int) -> Void) {
        guard ranges.hasNumber(startingWith: prefix, upTo: largest) else { return }
        if ranges.contains(prefix) { body(prefix) }
        guard prefix <= largest / 10 else { return }
        for digit in 0...9 {
            let (next, overflow) = (prefix * 10).addingReportingOverflow(digit)
            if overflow || next > largest { break }
            visit(next, largest: largest, ranges: ranges, body)
        }
    }

    private struct SortedRanges {
        let ranges: [ClosedRange<Int>]

        /// The first range that ends at or after `value`.
        private func firstEnding(atOrAfter value: Int) -> Int {
            var low = 0, high = ranges.count
            while low < high {
                let middle = (low + high) / 2
                if ranges[middle].upperBound < value { low = middle + 1 } else { high = middle }
            }
            return low
        }

        func contains(_ value: Int) -> Bool {
            let index = firstEnding(atOrAfter: value)
            return index < ranges.count && ranges[index].lowerBound <= value
        }

        /// Whether some number of the ranges up to `largest` has `prefix`'s digits first: one in
        /// `prefix·10^k ... prefix·10^k + 10^k − 1` for some k.
        func hasNumber(startingWith prefix: Int, upTo largest: Int) -> Bool {
            var low = prefix, span = 1
            while true {
                let (end, overflow) = low.addingReportingOverflow(span - 1)
                let high = overflow ? largest : min(end, largest)
                let index = firstEnding(atOrAfter: low)
                if index < ranges.count && ranges[index].lowerBound <= high { return true }
                guard low <= largest / 10 else { return false }
                low *= 10
                span *= 10
            }
        }
    }
}
