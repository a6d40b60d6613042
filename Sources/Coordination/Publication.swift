import Allocation

/// What a member publishes, as the follower's state machine decides it; the daemon turns it
/// into the document of spec §8 (wall-clock times, JSON) and delivers it to the file and the
/// streams.
public struct Publication: Sendable, Equatable {
    public var state: MemberState
    /// The group's epoch as this member knows it (`generation` in the document).
    public var epoch: Int64
    public var strategy: String?
    /// This member's share: empty unless `active` or `suspended`.
    public var partitions: Set<Partition>
    /// Partitions taken from this member whose consumer has not released them yet (spec §15,
    /// `handover: consumer`): still this member's, under the same lease. Never in `partitions`.
    public var revoking: Set<Partition>
    /// Every member of the group, sorted by UTF-8 bytes.
    public var members: [String]
    public var partitionCount: Int
    /// Until when no other member can have been given `partitions` or `revoking`; `nil` exactly
    /// when both are empty.
    public var lease: ContinuousClock.Instant?

    public init(
        state: MemberState, epoch: Int64, strategy: String?, partitions: Set<Partition>, revoking: Set<Partition> = [],
        members: [String], partitionCount: Int, lease: ContinuousClock.Instant?
    ) {
        self.state = state
        self.epoch = epoch
        self.strategy = strategy
        self.partitions = partitions
        self.revoking = revoking
        self.members = members
        self.partitionCount = partitionCount
        self.lease = lease
    }

    /// Everything a reader must treat as this member's while the lease lasts: `partitions` and
    /// `revoking`.
    public var held: Set<Partition> { partitions.union(revoking) }

    /// Whether `other` differs in more than its lease.
    public func differsInSubstance(from other: Publication) -> Bool {
        var other = other
        other.lease = lease
        return other != self
    }
}

/// How long a member's share stays valid without word from ZooKeeper (spec §7, §8).
///
/// The server expires a session no earlier than its timeout after it last heard from the
/// session, and it heard from it no earlier than when the client sent the latest request it
/// answered. Until then no other member can have been given this member's partitions: the
/// leader gives them away only once this member acknowledged their release or its session is
/// over (I3). A safety margin covers clock-rate differences and the time it takes to publish
/// `lost`.
public enum Lease {
    /// The end of the lease of a session last heard from at `lastHeard`.
    public static func deadline(lastHeard: ContinuousClock.Instant, sessionTimeout: Duration) -> ContinuousClock.Instant {
        lastHeard + sessionTimeout - margin(for: sessionTimeout)
    }

    /// A tenth of the session timeout, at most one second.
    public static func margin(for sessionTimeout: Duration) -> Duration {
        min(sessionTimeout / 10, .seconds(1))
    }
}
