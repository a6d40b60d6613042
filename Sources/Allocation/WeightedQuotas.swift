/// Each member's quota of P partitions in proportion to its weight (spec §14): with weights
/// `w[j]` summing to W, member j's exact quota is `P·w[j]/W`; it gets `⌊P·w[j]/W⌋` (`floors`)
/// or, for `extras` of the members whose quota is not a whole number (`mayTakeExtra`), one
/// more. So every member ends within one partition of its exact quota and, with equal weights,
/// `max − min ≤ 1`. Which members take the extras is the strategy's choice.
struct WeightedQuotas {
    /// `⌊P·w[j]/W⌋` for each member.
    let floors: [Int]
    /// Whether member j's exact quota has a fractional part (`P·w[j] mod W > 0`), so that it
    /// may hold `floors[j] + 1`.
    let mayTakeExtra: [Bool]
    /// `P·w[j] mod W` for each member: the larger, the nearer its quota is to `floors[j] + 1`.
    let remainders: [Int]
    /// How many members hold one more than their floor: `P − Σ floors`. At most the number of
    /// members that `mayTakeExtra`.
    let extras: Int

    /// `weights` positive, one per member, at least one member.
    init(partitionCount: Int, weights: [Int]) {
        let total = weights.reduce(0, +)
        var floors: [Int] = []
        var remainders: [Int] = []
        floors.reserveCapacity(weights.count)
        remainders.reserveCapacity(weights.count)
        for weight in weights {
            let (floor, remainder) = (partitionCount * weight).quotientAndRemainder(dividingBy: total)
            floors.append(floor)
            remainders.append(remainder)
        }
        self.floors = floors
        self.remainders = remainders
        mayTakeExtra = remainders.map { $0 > 0 }
        extras = partitionCount - floors.reduce(0, +)
    }
}
