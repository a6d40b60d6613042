// The answers of the commands that change or list something (spec §9), each a small object.

/// `{"ok":true,"partition_count":N}`: what `add`, `remove` and `repair` answer once written.
public struct PartitionCountReply: Codable, Sendable, Equatable {
    /// Always true: a failure is an ``ErrorReply``.
    public var ok: Bool
    /// How many partitions the group has now.
    public var partitionCount: Int

    public init(partitionCount: Int) {
        ok = true
        self.partitionCount = partitionCount
    }

    enum CodingKeys: String, CodingKey {
        case ok, partitionCount = "partition_count"
    }
}

/// `{"ok":true,"strategy":…,"previous":…,"changed":…}`: what `set-strategy` answers.
public struct StrategyReply: Codable, Sendable, Equatable {
    /// Always true: a failure is an ``ErrorReply``.
    public var ok: Bool
    /// The group's strategy now.
    public var strategy: String
    /// The one it had before.
    public var previous: String
    /// Whether the group node was written (false when it already had `strategy`).
    public var changed: Bool

    public init(strategy: String, previous: String, changed: Bool) {
        ok = true
        self.strategy = strategy
        self.previous = previous
        self.changed = changed
    }
}

/// `{"ok":true,"released":EPOCH}`: what `release` answers (spec §15).
public struct ReleaseReply: Codable, Sendable, Equatable {
    /// Always true: a failure is an ``ErrorReply``.
    public var ok: Bool
    /// The epoch the consumer said it released.
    public var released: Int64

    public init(released: Int64) {
        ok = true
        self.released = released
    }
}

/// `{"count":N,"partitions":[…]}`: what `partitions` answers.
public struct PartitionsReply: Codable, Sendable, Equatable {
    public var count: Int
    /// Every partition of the group as `TOPIC:ID`.
    public var partitions: [String]

    public init(count: Int, partitions: [String]) {
        self.count = count
        self.partitions = partitions
    }
}
