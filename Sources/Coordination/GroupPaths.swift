/// The znodes of one group (spec §3, §14), below its group node `ROOT/groups/G`.
public struct GroupPaths: Sendable, Hashable {
    /// `ROOT/groups/G`: the group's settings (strategy, protocol).
    public let group: String

    public init(group: String) {
        self.group = group
    }

    /// `members/`: one ephemeral node per member.
    public var members: String { group + "/members" }
    /// The partition set, a JSON list.
    public var partitions: String { group + "/partitions" }
    /// The leader lock's contenders (kazoo's lock recipe).
    public var leaderLock: String { group + "/leader" }
    /// The group's epoch and summary; the grant nodes are its children.
    public var assignments: String { group + "/assignments" }

    public func member(_ name: String) -> String { members + "/" + name }
    public func grant(_ member: String) -> String { assignments + "/" + member }
    public func contender(_ name: String) -> String { leaderLock + "/" + name }
}

/// One operation of a ZooKeeper `multi`, as the leader's writes are made of.
public enum NodeOperation: Sendable, Equatable {
    /// Fails the whole `multi` unless the node exists (at `version`, or any with -1).
    case check(path: String, version: Int32)
    /// A persistent node.
    case create(path: String, data: [UInt8])
    case set(path: String, data: [UInt8], version: Int32)
    case delete(path: String, version: Int32)
}

extension LeaderWrite {
    /// The `multi` of this write by the leader whose contender node is `contender`: first the
    /// check of that node (fencing: once the leader's session is over, or its node deleted, the
    /// whole write fails), then the `assignments` node, then the grants, each at the version
    /// read (a node changed since fails the write instead of being overwritten).
    public func operations(in paths: GroupPaths, contender: String) -> [NodeOperation] {
        var operations: [NodeOperation] = [.check(path: fenced ? paths.contender(contender) : paths.group, version: -1)]
        operations.append(
            summaryVersion.map { .set(path: paths.assignments, data: summary.encoded, version: fenced ? $0 : -1) }
                ?? .create(path: paths.assignments, data: summary.encoded))
        for (change, version) in grants {
            switch change {
            case .create(let member, let grant): operations.append(.create(path: paths.grant(member), data: grant.encoded))
            case .set(let member, let grant): operations.append(.set(path: paths.grant(member), data: grant.encoded, version: version ?? -1))
            case .delete(let member): operations.append(.delete(path: paths.grant(member), version: version ?? -1))
            }
        }
        return operations
    }

    /// The index of the fencing check in `operations`: a `multi` that fails there was fenced.
    public static let fenceIndex = 0
    /// The index of the `assignments` node's operation in `operations`.
    public static let summaryIndex = 1
    /// The index of the first grant's operation in `operations`.
    public static let firstGrantIndex = 2
}
