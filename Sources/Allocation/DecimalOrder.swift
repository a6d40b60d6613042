/// Non-negative integers in the order of their decimal strings (`1`, `10`, `100`, `11`, `2`),
/// the order of a topic's partitions (`Partition`'s `<`), listed from ranges without sorting.
enum DecimalOrder {
    /// Whether `a` written in decimal comes before `b` written in decimal, byte by byte (`10`
    /// before `2`, `1` before `10`).
    @inline(__always)
    static func precedes(_ a: UInt64, _ b: UInt64) -> Bool {
        let aDigits = digitCount(a), bDigits = digitCount(b)
        if aDigits == bDigits { return a < b }
        // The longer one's leading digits against the shorter one: a shorter prefix comes first.
        if aDigits < bDigits { return a <= b / powerOfTen(bDigits - aDigits) }
        return a / powerOfTen(aDigits - bDigits) < b
    }

    /// How many decimal digits `value` has (1 for 0).
    @inline(__always)
    static func digitCount(_ value: UInt64) -> Int {
        var digits = 1
        var bound: UInt64 = 10
        while digits < 20 && value >= bound {
            digits += 1
            bound &*= 10
        }
        return digits
    }

    /// A key that orders non-negative integers like their decimal strings: the number padded
    /// with zeros on the right to 19 digits (the most an `Int` has), then its digit count, as
    /// a shorter string comes before a longer one it is a prefix of.
    static func key(_ value: UInt64) -> (scaled: UInt64, digits: Int) {
        let digits = digitCount(value)
        return (value &* powerOfTen(max(0, 19 - digits)), digits)
    }

    /// 10 to the `exponent` (at most 19).
    @inline(__always)
    private static func powerOfTen(_ exponent: Int) -> UInt64 {
        var power: UInt64 = 1
        for _ in 0..<exponent { power &*= 10 }
        return power
    }

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
