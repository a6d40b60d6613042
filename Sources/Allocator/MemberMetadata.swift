import Foundation

/// What a member keeps in its znode (spec §4), so that any tool can see whether the group
/// agrees: `{"version": 1, "host": ..., "pid": ..., "strategy": ..., "generation": N,
/// "digest": "..."}`. kiel members keep nothing (empty data).
public struct MemberMetadata: Codable, Sendable, Hashable {
    public var version = 1
    public var host: String
    public var pid: Int32
    public var strategy: String
    /// The generation of the member's latest allocation; 0 before the first.
    public var generation: Int64
    /// `Allocation.digest` of the member's latest allocation; empty before the first.
    public var digest: String

    public init(host: String, pid: Int32, strategy: String, generation: Int64, digest: String) {
        self.host = host
        self.pid = pid
        self.strategy = strategy
        self.generation = generation
        self.digest = digest
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
