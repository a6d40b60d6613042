/// How a group's partitions are divided among its members (spec §6), named as in the group's
/// settings and on the command line: `round-robin`, `range`, `consistent`, `sticky`,
/// `exec:/ABS/PATH`.
///
/// All but `exec:` are computed here (`pure`, a `PureStrategy`); each sorts the members by
/// UTF-8 bytes and the partitions in `Partition` order and drops duplicates itself, so their
/// order and repetition in the input do not matter. docs/strategies.md describes each
/// precisely enough to reimplement.
public enum Strategy: Hashable, Sendable, CustomStringConvertible {
    /// kiel's `naive_allocator`: the i-th partition in string order goes to member i mod N.
    case roundRobin
    /// Kafka's RangeAssignor, per topic: contiguous runs of ids, the first members one more.
    case range
    /// Rendezvous hashing with exact weighted capacities: balanced and mostly sticky, stateless.
    case consistent
    /// Keeps every current holding that fits the weighted quotas (spec §14): computed only by
    /// protocol 2's leader, which knows the grants.
    case sticky
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
        case "sticky": self = .sticky
        default:
            guard name.hasPrefix("exec:") else {
                throw StrategyError(input: name, reason: "not one of round-robin, range, consistent, sticky, exec:PATH")
            }
            let path = String(name.dropFirst("exec:".count))
            guard path.hasPrefix("/"), path != "/" else {
                throw StrategyError(input: name, reason: "exec: needs the absolute path of a program, e.g. exec:/usr/local/bin/allocate")
            }
            guard !path.utf8.contains(0) else { throw StrategyError(input: name, reason: "the path contains a NUL") }
            self = .exec(path: path)
        }
    }

    /// The strategy of the group that computes as `pure` does.
    public init(_ pure: PureStrategy) {
        switch pure {
        case .roundRobin: self = .roundRobin
        case .range: self = .range
        case .consistent: self = .consistent
        case .sticky: self = .sticky
        }
    }

    /// The name `init(parsing:)` reads back: `round-robin`, `range`, `consistent`, `sticky`,
    /// `exec:PATH`.
    public var name: String {
        switch self {
        case .roundRobin: "round-robin"
        case .range: "range"
        case .consistent: "consistent"
        case .sticky: "sticky"
        case .exec(let path): "exec:\(path)"
        }
    }

    /// The same as `name`.
    public var description: String { name }

    /// What computes a strategy: this target, or a program.
    public enum Computation: Hashable, Sendable {
        /// Computed here, purely.
        case pure(PureStrategy)
        /// `exec:PATH`: a program computes it. Send it `ExecRequest(members:partitions:).json`
        /// and check its answer with `Allocation.validated(mapping:members:partitions:)`.
        case program(path: String)
    }

    /// What computes this strategy.
    public var computation: Computation {
        switch self {
        case .roundRobin: .pure(.roundRobin)
        case .range: .pure(.range)
        case .consistent: .pure(.consistent)
        case .sticky: .pure(.sticky)
        case .exec(let path): .program(path: path)
        }
    }

    /// The strategy as this target computes it, or `nil` for `exec:`.
    public var pure: PureStrategy? {
        if case .pure(let pure) = computation { pure } else { nil }
    }
}
