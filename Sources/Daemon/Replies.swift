import Allocation
import Allocator
import Foundation
import ZooKeeper

// The socket's JSON replies (spec §9) as Codable types, encoded by `ReplyEncoder`: keys sorted,
// `null` written for what is unknown (never a missing key), no escaped slashes. The document and
// `assignments` are written by hand (`MemberDocument.json`, `JSONText`): their key order and
// share format are the spec's.

/// One reply as one line of JSON.
enum ReplyEncoder {
    static func line(_ reply: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(reply) else { return #"{"error":{"code":"internal","message":"unencodable reply"}}"# }
        return String(decoding: data, as: UTF8.self)
    }
}

/// `{"error":{"code":…,"message":…}}`.
struct ErrorReply: Encodable {
    struct Body: Encodable {
        let code: String
        let message: String
    }

    let error: Body

    init(code: String, message: String) {
        error = Body(code: code, message: message)
    }
}

/// `{"ok":true,"partition_count":N}`: what `add`, `remove` and `repair` answer.
struct PartitionCountReply: Encodable {
    let ok = true
    let partitionCount: Int

    enum CodingKeys: String, CodingKey {
        case ok, partitionCount = "partition_count"
    }
}

/// `{"ok":true,"strategy":…,"previous":…,"changed":…}`: what `set-strategy` answers.
struct StrategyReply: Encodable {
    let ok = true
    let strategy: String
    let previous: String
    let changed: Bool
}

/// `{"ok":true,"released":EPOCH}`: what `release` answers.
struct ReleaseReply: Encodable {
    let ok = true
    let released: Int64
}

/// `{"count":N,"partitions":[…]}`: what `partitions` answers.
struct PartitionsReply: Encodable {
    let count: Int
    let partitions: [String]
}

/// What `status` answers (spec §9, §14, §15, §16).
struct StatusReply: Encodable {
    let status: MemberStatus
    let watchers: Int
    let stateFileError: String?

    enum CodingKeys: String, CodingKey {
        case connection, member, state, generation, members, partitions, share, watchers, version, strategy, role, leader
        case awaited, revoking
        case partitionsZnodeBytes = "partitions_znode_bytes", partitionsZnodeLimit = "partitions_znode_limit"
        case uptimeMs = "uptime_ms", sessionID = "session_id", sessionTimeoutMs = "session_timeout_ms"
        case lastRebalanceAt = "last_rebalance_at", lastRebalanceMs = "last_rebalance_ms"
        case partitionsMalformed = "partitions_malformed", awaitedMs = "awaited_ms", forcedReleases = "forced_releases"
        case lastError = "last_error"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.name(of: status.connection), forKey: .connection)
        try container.encode(status.member, forKey: .member)
        try container.encode(status.state.rawValue, forKey: .state)
        try container.encode(status.generation, forKey: .generation)
        try container.encode(status.memberCount, forKey: .members)
        try container.encode(status.partitionCount, forKey: .partitions)
        try container.encode(status.shareCount, forKey: .share)
        try container.encode(status.partitionSetSize, forKey: .partitionsZnodeBytes)
        try container.encode(status.partitionSetLimit, forKey: .partitionsZnodeLimit)
        try container.encode(status.uptime.milliseconds, forKey: .uptimeMs)
        try container.encode(watchers, forKey: .watchers)
        try container.encode(ProductVersion.current, forKey: .version)
        try container.encode(status.sessionID.map { "0x" + String($0, radix: 16) }, forKey: .sessionID)
        try container.encode(status.sessionTimeout?.milliseconds, forKey: .sessionTimeoutMs)
        try container.encode(status.strategy, forKey: .strategy)
        try container.encode(status.lastRebalanceAt.map(MemberDocument.timestamp), forKey: .lastRebalanceAt)
        try container.encode(status.lastRebalanceDuration.map { Double($0.milliseconds) }, forKey: .lastRebalanceMs)
        try container.encode(status.partitionSetMalformed, forKey: .partitionsMalformed)
        try container.encode(status.role.rawValue, forKey: .role)
        try container.encode(status.leader, forKey: .leader)
        try container.encode(status.awaited, forKey: .awaited)
        try container.encode(status.awaitedFor.mapValues(\.milliseconds), forKey: .awaitedMs)
        try container.encode(status.revokingCount, forKey: .revoking)
        try container.encode(status.forcedReleases, forKey: .forcedReleases)
        let errors = [status.lastError, stateFileError].compactMap { $0 }
        try container.encode(errors.isEmpty ? nil : errors.joined(separator: "; "), forKey: .lastError)
    }

    private static func name(of state: SessionState) -> String {
        switch state {
        case .connecting: "connecting"
        case .connected: "connected"
        case .suspended: "suspended"
        case .expired: "expired"
        case .authFailed: "auth_failed"
        case .closed: "closed"
        }
    }
}

/// What `members` answers: every member with its record, its role and whether the leader
/// awaits it (spec §14); `agree` once nobody is awaited and every member is allocatord's.
struct MembersReply: Encodable {
    struct Entry: Encodable {
        let report: MemberReport
        let awaited: Bool

        enum CodingKeys: String, CodingKey {
            case member, role, awaited, metadata, host, pid, allocatord, strategy, weight
            case ackedEpoch = "acked_epoch"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(report.member, forKey: .member)
            try container.encode(report.leads ? "leader" : "follower", forKey: .role)
            try container.encode(awaited, forKey: .awaited)
            guard let record = report.record else {
                try container.encodeNil(forKey: .metadata)
                return
            }
            try container.encode(record.host, forKey: .host)
            try container.encode(record.pid.map { Int($0) }, forKey: .pid)
            try container.encode(record.release, forKey: .allocatord)
            try container.encode(record.strategy, forKey: .strategy)
            try container.encode(record.ackedEpoch, forKey: .ackedEpoch)
            try container.encode(record.weight, forKey: .weight)
        }
    }

    let members: [Entry]
    let epoch: Int64
    let digest: String
    let agree: Bool
}
