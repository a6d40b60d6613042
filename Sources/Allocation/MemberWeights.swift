/// Each member's weight (spec §14): its share of the partitions relative to the others', a
/// whole number from 1 to `maximum`, 1 for a member not given one. `consistent` and `sticky`
/// give each member `P·w/W` partitions (rounded down or up); `round-robin` and `range` ignore
/// weights.
///
/// Names are compared by their UTF-8 bytes, as everywhere in this target: `"é"` and
/// `"e\u{301}"` are two members with weights of their own.
public struct MemberWeights: Sendable, Equatable {
    /// The largest weight; a larger one counts as this. The strategies' cost grows with the
    /// sum of the weights (a member of weight w is scored w times per partition).
    public static let maximum = 100

    private var weights: [[UInt8]: Int] = [:]

    /// Every member of weight 1.
    public init() {}

    /// The given weights (a later entry for the same name wins); every other member has 1.
    public init(_ weights: [(member: String, weight: Int)]) {
        for (member, weight) in weights { self[member] = weight }
    }

    /// `member`'s weight, 1 if none was given; a weight set below 1 reads as 1, above
    /// `maximum` as `maximum` (weights read from ZooKeeper are not checked elsewhere).
    public subscript(member: String) -> Int {
        get { min(max(weights[Array(member.utf8)] ?? 1, 1), Self.maximum) }
        set { weights[Array(member.utf8)] = newValue }
    }

    /// Whether every one of `members` has weight 1.
    public func areAllOne(for members: [String]) -> Bool {
        weights.isEmpty || members.allSatisfy { self[$0] == 1 }
    }
}
