import Foundation
import ZooKeeper

/// What a member reports about itself (spec §9 `status`).
public struct MemberStatus: Sendable {
    public var connection: SessionState
    public var sessionID: Int64?
    /// The negotiated session timeout.
    public var sessionTimeout: Duration?
    public var member: String
    public var state: MemberState
    public var generation: Int64
    public var strategy: String?
    public var lastRebalanceAt: Date?
    /// From the start of reading the view to the allocation being computed.
    public var lastRebalanceDuration: Duration?
    public var memberCount: Int
    public var partitionCount: Int
    /// How many partitions this member holds in the current allocation.
    public var shareCount: Int
    /// The size in bytes of the partitions znode's data, and the limit `add` keeps to.
    public var partitionSetSize: Int
    public var partitionSetLimit: Int
    /// Why the partition set does not parse, if it does not.
    public var partitionSetMalformed: String?
    public var lastError: String?
    public var uptime: Duration
    /// Protocol 2 (spec §14): whether this member leads, who does, and whom the leader waits for
    /// (member → the epoch it must acknowledge).
    public var role: Role = .follower
    public var leader: String?
    public var awaited: [String: Int64] = [:]
    /// How long each awaited member has been awaited, as this member saw it: since the first
    /// summary it published that named it awaited (a plan that goes on to another epoch and
    /// still awaits it keeps counting).
    public var awaitedFor: [String: Duration] = [:]
    /// Consumer handover (spec §15): how many partitions wait for the consumer's release, and
    /// how many times the release timeout released them instead.
    public var revokingCount = 0
    public var forcedReleases = 0

    /// A member's part in protocol 2.
    public enum Role: String, Sendable {
        case leader, follower
    }
}
