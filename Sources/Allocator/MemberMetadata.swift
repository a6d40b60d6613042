import Foundation

/// What a member keeps in its znode (spec §4), so that any tool can see whether the group
/// agrees: `{"version": 1, "host": ..., "pid": ..., "strategy": ..., "generation": N,
/// "digest": "..."}`, and, beyond the spec, the two versions the generation is the sum of,
/// `"members_version"` and `"partitions_version"` (see `isAt`). kiel members keep
/// nothing (empty data).
public struct MemberMetadata: Codable, Sendable, Hashable {
    public var version = 1
    public var host: String
    public var pid: Int32
    public var strategy: String
    /// The generation of the member's latest allocation; 0 before the first.
    public var generation: Int64
    /// `Allocation.digest` of the member's latest allocation; empty before the first.
    public var digest: String
    /// The `cversion` of the members znode and the `version` of the partitions znode of the
    /// view of the latest allocation; absent before the first (and from older allocatord).
    public var membersVersion: Int32?
    public var partitionsVersion: Int32?

    private enum CodingKeys: String, CodingKey {
        case version, host, pid, strategy, generation, digest
        case membersVersion = "members_version"
        case partitionsVersion = "partitions_version"
    }

    public init(
        host: String, pid: Int32, strategy: String, generation: Int64, digest: String,
        membersVersion: Int32? = nil, partitionsVersion: Int32? = nil
    ) {
        self.host = host
        self.pid = pid
        self.strategy = strategy
        self.generation = generation
        self.digest = digest
        self.membersVersion = membersVersion
        self.partitionsVersion = partitionsVersion
    }

    /// Whether the member's latest allocation is of the view with these versions: it has
    /// published its share of exactly that view, so it holds nothing the view gives to others.
    /// A newer view does not say so (it may give back what the older one took), nor does the
    /// generation alone: (members 5, partitions 3) and (members 4, partitions 4) are both
    /// generation 8 but different views. Metadata without the versions falls back to the
    /// generation.
    public func isAt(membersVersion: Int32, partitionsVersion: Int32) -> Bool {
        guard let ownMembersVersion = self.membersVersion, let ownPartitionsVersion = self.partitionsVersion else {
            return generation == Int64(membersVersion) + Int64(partitionsVersion)
        }
        return ownMembersVersion == membersVersion && ownPartitionsVersion == partitionsVersion
    }

    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// The metadata in `data`, or `nil` if it is not allocatord's (a kiel member, garbage).
    public init?(decoding data: [UInt8]) {
        guard let decoded = try? JSONDecoder().decode(Self.self, from: Data(data)) else { return nil }
        self = decoded
    }
}
