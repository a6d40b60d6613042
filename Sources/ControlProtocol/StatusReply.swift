/// What `status` answers (spec §9, §14, §15, §16): the member, its session and its group as
/// it sees them. Every key is written, `null` where the value is unknown.
public struct StatusReply: Codable, Sendable, Equatable {
    /// The ZooKeeper session: `connecting`, `connected`, `suspended`, `expired`, `auth_failed`
    /// or `closed`.
    public var connection: String
    /// The session's id as ``SessionID`` writes it (`0x…`), while there is one.
    public var sessionID: String?
    /// The negotiated session timeout, while there is a session.
    public var sessionTimeoutMs: Int64?
    public var member: String
    /// The member's state (spec §8: `joining`, `active`, …).
    public var state: String
    /// The generation (the group's epoch) of the member's view.
    public var generation: Int64
    /// The group's strategy, once known.
    public var strategy: String?
    /// When the last rebalance was computed, as the document writes times.
    public var lastRebalanceAt: String?
    /// How long it took, from reading the view to the allocation computed.
    public var lastRebalanceMs: Double?
    /// How many members, partitions, and partitions of this member's share the view has.
    public var members: Int
    public var partitions: Int
    public var share: Int
    /// The partition set's size in bytes, and the limit `add` keeps to.
    public var partitionsZnodeBytes: Int
    public var partitionsZnodeLimit: Int
    /// Why the partition set does not parse, if it does not.
    public var partitionsMalformed: String?
    public var uptimeMs: Int64
    /// How many `watch` streams are open.
    public var watchers: Int
    /// The daemon's version.
    public var version: String
    /// Protocol 2 (spec §14): `leader` or `follower`, who leads, whom the leader awaits (member
    /// → the epoch it must acknowledge) and for how long.
    public var role: String
    public var leader: String?
    public var awaited: [String: Int64]
    public var awaitedMs: [String: Int64]
    /// Consumer handover (spec §15): partitions waiting for the consumer's release, and how many
    /// times the release timeout released them instead.
    public var revoking: Int
    public var forcedReleases: Int
    /// The latest errors (the member's and the state file's), `; `-separated; `null` if none.
    public var lastError: String?

    public init(
        connection: String, sessionID: String?, sessionTimeoutMs: Int64?, member: String, state: String, generation: Int64,
        strategy: String?, lastRebalanceAt: String?, lastRebalanceMs: Double?, members: Int, partitions: Int, share: Int,
        partitionsZnodeBytes: Int, partitionsZnodeLimit: Int, partitionsMalformed: String?, uptimeMs: Int64, watchers: Int,
        version: String, role: String, leader: String?, awaited: [String: Int64], awaitedMs: [String: Int64], revoking: Int,
        forcedReleases: Int, lastError: String?
    ) {
        self.connection = connection
        self.sessionID = sessionID
        self.sessionTimeoutMs = sessionTimeoutMs
        self.member = member
        self.state = state
        self.generation = generation
        self.strategy = strategy
        self.lastRebalanceAt = lastRebalanceAt
        self.lastRebalanceMs = lastRebalanceMs
        self.members = members
        self.partitions = partitions
        self.share = share
        self.partitionsZnodeBytes = partitionsZnodeBytes
        self.partitionsZnodeLimit = partitionsZnodeLimit
        self.partitionsMalformed = partitionsMalformed
        self.uptimeMs = uptimeMs
        self.watchers = watchers
        self.version = version
        self.role = role
        self.leader = leader
        self.awaited = awaited
        self.awaitedMs = awaitedMs
        self.revoking = revoking
        self.forcedReleases = forcedReleases
        self.lastError = lastError
    }

    enum CodingKeys: String, CodingKey {
        case connection, member, state, generation, members, partitions, share, watchers, version, strategy, role, leader
        case awaited, revoking
        case partitionsZnodeBytes = "partitions_znode_bytes", partitionsZnodeLimit = "partitions_znode_limit"
        case uptimeMs = "uptime_ms", sessionID = "session_id", sessionTimeoutMs = "session_timeout_ms"
        case lastRebalanceAt = "last_rebalance_at", lastRebalanceMs = "last_rebalance_ms"
        case partitionsMalformed = "partitions_malformed", awaitedMs = "awaited_ms", forcedReleases = "forced_releases"
        case lastError = "last_error"
    }

    /// Writes every key, `null` for an unknown value (the synthesized encoding would leave the
    /// key out).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(connection, forKey: .connection)
        try container.encode(sessionID, forKey: .sessionID)
        try container.encode(sessionTimeoutMs, forKey: .sessionTimeoutMs)
        try container.encode(member, forKey: .member)
        try container.encode(state, forKey: .state)
        try container.encode(generation, forKey: .generation)
        try container.encode(strategy, forKey: .strategy)
        try container.encode(lastRebalanceAt, forKey: .lastRebalanceAt)
        try container.encode(lastRebalanceMs, forKey: .lastRebalanceMs)
        try container.encode(members, forKey: .members)
        try container.encode(partitions, forKey: .partitions)
        try container.encode(share, forKey: .share)
        try container.encode(partitionsZnodeBytes, forKey: .partitionsZnodeBytes)
        try container.encode(partitionsZnodeLimit, forKey: .partitionsZnodeLimit)
        try container.encode(partitionsMalformed, forKey: .partitionsMalformed)
        try container.encode(uptimeMs, forKey: .uptimeMs)
        try container.encode(watchers, forKey: .watchers)
        try container.encode(version, forKey: .version)
        try container.encode(role, forKey: .role)
        try container.encode(leader, forKey: .leader)
        try container.encode(awaited, forKey: .awaited)
        try container.encode(awaitedMs, forKey: .awaitedMs)
        try container.encode(revoking, forKey: .revoking)
        try container.encode(forcedReleases, forKey: .forcedReleases)
        try container.encode(lastError, forKey: .lastError)
    }
}
