import Allocation
import Coordination
import ZooKeeper

/// What a group member needs to know to run.
public struct MemberConfiguration: Sendable {
    /// Where ZooKeeper is, how long the session may go unheard, and the digest credential.
    public var zooKeeper: ZooKeeperClient.Configuration
    public var layout: GroupLayout
    /// This member's name: its znode's name.
    public var member: String
    /// Its share relative to the others' (spec §14), 1 to `MemberWeights.maximum`: published in
    /// its member node, honoured by `consistent` and `sticky`.
    public var weight: Int
    /// The strategy to use; `nil` adopts the group's, or `Strategy.default` for a new group.
    public var strategy: Strategy?
    /// Partitions added to the group's set on start (a union, never a replacement).
    public var seedPartitions: [Partition]
    /// After a change, wait this long for quiet before rebalancing...
    public var rebalanceDelayMin: Duration
    /// ...but never longer than this since the first change.
    public var rebalanceDelayMax: Duration
    /// How often the whole view is read again, besides the watches.
    public var fullReadInterval: Duration
    /// How long an `exec:` strategy may run.
    public var execTimeout: Duration
    /// Who hands over what the member loses: the daemon, or its consumer (spec §15).
    public var handover: FollowerMachine.Handover
    /// Written into the member's metadata (spec §4).
    public var host: String
    public var pid: Int32

    public init(
        zooKeeper: ZooKeeperClient.Configuration, layout: GroupLayout, member: String, weight: Int = 1,
        strategy: Strategy? = nil, seedPartitions: [Partition] = [],
        rebalanceDelayMin: Duration = .zero, rebalanceDelayMax: Duration = .zero,
        fullReadInterval: Duration = .seconds(300), execTimeout: Duration = .seconds(10),
        handover: FollowerMachine.Handover = .daemon, host: String, pid: Int32
    ) {
        self.zooKeeper = zooKeeper
        self.layout = layout
        self.member = member
        self.weight = weight
        self.strategy = strategy
        self.seedPartitions = seedPartitions
        self.rebalanceDelayMin = rebalanceDelayMin
        self.rebalanceDelayMax = rebalanceDelayMax
        self.fullReadInterval = fullReadInterval
        self.execTimeout = execTimeout
        self.handover = handover
        self.host = host
        self.pid = pid
    }
}
