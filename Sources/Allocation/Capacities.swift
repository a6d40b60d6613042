/// How many partitions each member may hold while the greedy of `consistent` and `sticky`
/// places partitions, and how many it holds.
///
/// A member is of one of three kinds: its ceiling is fixed at its floor (it takes no extra);
/// fixed at its floor + 1 (an extra set aside for it); or it *shares* the pool of extras left:
/// it may reach floor + 1 while the pool is not empty, and taking its floor + 1st partition
/// takes one from the pool. Capacities only shrink, so a member once full stays full.
struct Capacities {
    private(set) var loads: [Int]
    private let floors: [Int]
    private let ceilings: [Int]
    private let sharesExtras: [Bool]
    /// Extras left in the shared pool.
    private(set) var sharedExtras: Int

    /// Every member that `mayTakeExtra` shares the pool of `quotas.extras`, starting from
    /// nothing held: `consistent`'s capacities.
    init(sharing quotas: WeightedQuotas) {
        self.init(quotas: quotas, loads: Array(repeating: 0, count: quotas.floors.count), fixedExtras: [:])
    }

    /// The members in `fixedExtras` have their ceiling fixed (floor + 1 if `true`, the floor if
    /// `false`); the others that `mayTakeExtra` share what is left of `quotas.extras`; members
    /// start at `loads`.
    init(quotas: WeightedQuotas, loads: [Int], fixedExtras: [Int: Bool]) {
        self.loads = loads
        floors = quotas.floors
        var ceilings = quotas.floors
        var sharesExtras = quotas.mayTakeExtra
        var fixedCount = 0
        for (member, hasExtra) in fixedExtras {
            sharesExtras[member] = false
            if hasExtra {
                ceilings[member] += 1
                fixedCount += 1
            }
        }
        for member in ceilings.indices where sharesExtras[member] { ceilings[member] += 1 }
        self.ceilings = ceilings
        self.sharesExtras = sharesExtras
        sharedExtras = quotas.extras - fixedCount
    }

    /// Whether `member` may hold no more.
    @inline(__always)
    func isFull(_ member: Int) -> Bool {
        let load = loads[member]
        return load >= ceilings[member] || (sharedExtras == 0 && sharesExtras[member] && load >= floors[member])
    }

    /// `member` takes one more partition; it must not be full.
    @inline(__always)
    mutating func add(_ member: Int) {
        loads[member] += 1
        if sharesExtras[member] && loads[member] == ceilings[member] { sharedExtras -= 1 }
    }
}
