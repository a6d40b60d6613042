/// How a group's partitions are divided among its members (spec §6), named as in the group's
/// settings and on the command line: `round-robin`, `range`, `consistent`, `exec:/ABS/PATH`.
///
/// The pure strategies are functions of the members and the partitions only; each sorts the
/// members by UTF-8 bytes and the partitions in `Partition` order and drops duplicates itself,
/// so their order and repetition in the input do not matter. docs/strategies.md describes each
/// precisely enough to reimplement.
public enum Strategy: Hashable, Sendable, CustomStringConvertible {
    /// kiel's `naive_allocator`: the i-th partition in string order goes to member i mod N.
    case roundRobin
    /// Kafka's RangeAssignor, per topic: contiguous runs of ids, the first members one more.
    case range
    /// Rendezvous hashing with exact floor/ceil capacities: balanced and sticky.
    case consistent
    /// An external program computes the allocation; see `ExecRequest` and
    /// `Allocation.validated(mapping:members:partitions:)`.
    case exec(path: String)

    /// The strategy a new group gets (spec §6).
    public static let `default` = Strategy.consistent

    /// Parses a strategy name; `exec:` must be followed by an absolute path. Anything else,
    /// including other spellings (`roundrobin`, `Range`), is refused.
    public init(parsing name: String) throws(StrategyError) {
        switch name {
        case "round-robin": self = .roundRobin
        case "range": self = .range
        case "consistent": self = .consistent
        default:
            guard name.hasPrefix("exec:") else {
                throw StrategyError(input: name, reason: "not one of round-robin, range, consistent, exec:PATH")
            }
            let path = String(name.dropFirst("exec:".count))
            guard path.hasPrefix("/"), path != "/" else {
                throw StrategyError(input: name, reason: "exec: needs the absolute path of a program, e.g. exec:/usr/local/bin/allocate")
            }
            guard !path.utf8.contains(0) else { throw StrategyError(input: name, reason: "the path contains a NUL") }
            self = .exec(path: path)
        }
    }

    /// The name `init(parsing:)` reads back: `round-robin`, `range`, `consistent`, `exec:PATH`.
    public var name: String {
        switch self {
        case .roundRobin: "round-robin"
        case .range: "range"
        case .consistent: "consistent"
        case .exec(let path): "exec:\(path)"
        }
    }

    /// The same as `name`.
    public var description: String { name }

    /// Whether `allocate(members:partitions:)` can compute this strategy (everything but `exec`).
    public var isPure: Bool {
        if case .exec = self { return false }
        return true
    }

    /// The allocation this strategy gives `members` and `partitions` (any order, duplicates
    /// ignored). With no members the allocation is empty; with no partitions every member
    /// holds nothing.
    ///
    /// - Precondition: `isPure`. An `exec` strategy runs a program, which this pure layer does
    ///   not do: send it `ExecRequest(members:partitions:).json` and check its answer with
    ///   `Allocation.validated(mapping:members:partitions:)`.
    public func allocate(members: [String], partitions: [Partition]) -> Allocation {
        let members = sortedUniqueNames(members)
        guard !members.isEmpty else { return Allocation(members: [], partitions: [], owners: []) }
        let partitions = sortedUniquePartitions(partitions)
        let owners: [Int]
        switch self {
        case .roundRobin: owners = RoundRobinStrategy.owners(memberCount: members.count, partitionCount: partitions.count)
        case .range: owners = RangeStrategy.owners(memberCount: members.count, partitions: partitions)
        case .consistent: owners = ConsistentStrategy.owners(members: members, partitions: partitions)
        case .exec(let path): preconditionFailure("the exec:\(path) strategy runs a program; use ExecRequest and Allocation.validated")
        }
        return Allocation(members: members, partitions: partitions, owners: owners)
    }
}
