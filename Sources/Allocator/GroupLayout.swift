import Allocation
import ZooKeeper

/// Where a group lives in ZooKeeper (spec §3), kiel's layout:
///
///     ROOT/groups/G                     group settings, {"strategy": "..."}
///     ROOT/groups/G/members/MEMBER      one ephemeral node per member
///     ROOT/groups/G/partitions          the partition set, a JSON list
///     ROOT/groups/G/partitions/lock     kazoo lock contenders
public struct GroupLayout: Sendable, Hashable {
    public let root: String
    public let group: String

    /// - Throws: `ConfigurationError` if `root` is not an absolute znode path or `group` not a
    ///   valid znode name.
    public init(root: String, group: String) throws(ConfigurationError) {
        if let problem = ZNodePath.problem(with: root) {
            throw ConfigurationError(field: "root", value: root, reason: problem)
        }
        if let problem = MemberName.problem(with: group, as: "group name") {
            throw ConfigurationError(field: "group", value: group, reason: problem)
        }
        self.root = root
        self.group = group
    }

    public var groupPath: String { ZNodePath.join(ZNodePath.join(root, "groups"), group) }
    public var membersPath: String { ZNodePath.join(groupPath, "members") }
    public var partitionsPath: String { ZNodePath.join(groupPath, "partitions") }
}

/// A configuration value that cannot be used: which field, what value, and why.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let value: String
    public let reason: String

    public init(field: String, value: String, reason: String) {
        self.field = field
        self.value = value
        self.reason = reason
    }

    public var description: String { "invalid \(field) \"\(value)\": \(reason)" }
}
