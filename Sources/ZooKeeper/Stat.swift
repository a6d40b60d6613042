import CZooKeeper

/// The metadata ZooKeeper keeps for a znode.
public struct Stat: Sendable, Equatable {
    /// The zxid of the change that created the znode.
    public var czxid: Int64
    /// The zxid of the change that last modified the znode's data.
    public var mzxid: Int64
    /// Creation time, milliseconds since the epoch.
    public var ctime: Int64
    /// Last modification time, milliseconds since the epoch.
    public var mtime: Int64
    /// Number of changes to the data; what a conditional `setData` or `delete` compares.
    public var version: Int32
    /// Number of changes to the children (creations and deletions).
    public var cversion: Int32
    /// Number of changes to the ACL.
    public var aversion: Int32
    /// Session id of the owner if the znode is ephemeral, else 0.
    public var ephemeralOwner: Int64
    /// Length of the data in bytes.
    public var dataLength: Int32
    /// Number of children.
    public var numChildren: Int32
    /// The zxid of the change that last modified the children.
    public var pzxid: Int64

    init(_ stat: CZooKeeper.Stat) {
        czxid = stat.czxid
        mzxid = stat.mzxid
        ctime = stat.ctime
        mtime = stat.mtime
        version = stat.version
        cversion = stat.cversion
        aversion = stat.aversion
        ephemeralOwner = stat.ephemeralOwner
        dataLength = stat.dataLength
        numChildren = stat.numChildren
        pzxid = stat.pzxid
    }
}
