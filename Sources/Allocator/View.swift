import Allocation

/// What one member has read of its group (spec §2): the members and the partition set, with
/// the versions they were read at.
struct View: Sendable, Equatable {
    /// Member names, sorted by UTF-8 bytes.
    var members: [String]
    /// `cversion` of the members znode.
    var membersVersion: Int32
    /// The partitions, sorted.
    var partitions: [Partition]
    /// `version` of the partitions znode, for the data `partitions` was parsed from.
    var partitionsVersion: Int32

    /// Only grows, and two members that read the same view compute the same one.
    var generation: Int64 { Int64(membersVersion) + Int64(partitionsVersion) }
}
