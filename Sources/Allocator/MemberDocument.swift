import Allocation
import Foundation

/// The document a member publishes, in its JSON file and on its socket (spec §8).
public struct MemberDocument: Sendable, Hashable {
    public var group: String
    public var member: String
    public var state: MemberState
    /// The generation of the view the allocation was computed for; 0 before the first view.
    public var generation: Int64
    /// The group's strategy, or `nil` before it is known.
    public var strategy: String?
    /// This member's share: topic → ids in numeric order. Empty unless `active` or `suspended`.
    public var allocation: [String: [Int]]
    /// Partitions taken from this member that its consumer has not released yet (spec §15):
    /// still this member's under the lease. Empty without consumer handover.
    public var revoking: [String: [Int]]
    /// The members of the view, sorted by UTF-8 bytes.
    public var members: [String]
    /// The number of partitions in the view.
    public var partitionCount: Int
    /// Until when no other member can have been given this share (`allocation` and
    /// `revoking`); `nil` exactly when the share is empty. Readers must treat the share as
    /// empty once it is past.
    public var validUntil: Date?
    /// The same moment on the host's `CLOCK_BOOTTIME`, in nanoseconds (spec §8).
    public var validUntilBoottime: Int64?
    /// When `state`, `generation` or `allocation` last changed.
    public var updatedAt: Date

    public init(
        group: String, member: String, state: MemberState, generation: Int64, strategy: String?,
        allocation: [String: [Int]], revoking: [String: [Int]] = [:], members: [String], partitionCount: Int,
        validUntil: Date?, validUntilBoottime: Int64? = nil, updatedAt: Date
    ) {
        self.group = group
        self.member = member
        self.state = state
        self.generation = generation
        self.strategy = strategy
        self.allocation = allocation
        self.revoking = revoking
        self.members = members
        self.partitionCount = partitionCount
        self.validUntil = validUntil
        self.validUntilBoottime = validUntilBoottime
        self.updatedAt = updatedAt
    }

    /// Partitions in the document's shape: topic → ids in numeric order.
    public static func share(_ partitions: Set<Partition>) -> [String: [Int]] {
        var share: [String: [Int]] = [:]
        for partition in partitions { share[partition.topic, default: []].append(partition.id) }
        return share.mapValues { $0.sorted() }
    }

    /// A share in the document's shape (`share(_:)`), made again only when its partitions
    /// change: most epochs change a member's `members` and `generation`, not its share. What it
    /// hands out again is the same dictionary, which `==` then finds equal without a look inside.
    struct ShareShape {
        private var last: (partitions: Set<Partition>, shape: [String: [Int]])?

        mutating func callAsFunction(_ partitions: Set<Partition>) -> [String: [Int]] {
            if let last, last.partitions == partitions { return last.shape }
            let shape = MemberDocument.share(partitions)
            last = (partitions, shape)
            return shape
        }
    }

    /// Whether `other` differs in what `updatedAt` tracks: state, generation, allocation or
    /// revoking.
    public func differsInSubstance(from other: MemberDocument) -> Bool {
        state != other.state || generation != other.generation || allocation != other.allocation
            || revoking != other.revoking
    }

    /// The document as one line of JSON (no newline), keys in the spec's order, topics in
    /// UTF-8 byte order, times in UTC with milliseconds (`2026-11-25T12:00:06.790Z`).
    public var json: String {
        var output: [UInt8] = []
        func raw(_ text: String) { output += text.utf8 }
        func share(_ share: [String: [Int]]) {
            raw("{")
            for (index, topic) in share.keys.sorted(by: utf8Precedes).enumerated() {
                if index > 0 { raw(",") }
                JSONText.appendString(topic, to: &output)
                raw(":[")
                for (position, id) in share[topic, default: []].enumerated() {
                    if position > 0 { output.append(UInt8(ascii: ",")) }
                    JSONText.appendInteger(id, to: &output)
                }
                raw("]")
            }
            raw("}")
        }
        raw("{\"group\":")
        JSONText.appendString(group, to: &output)
        raw(",\"member\":")
        JSONText.appendString(member, to: &output)
        raw(",\"state\":\"\(state.rawValue)\",\"generation\":\(generation),\"strategy\":")
        if let strategy { JSONText.appendString(strategy, to: &output) } else { raw("null") }
        raw(",\"allocation\":")
        share(allocation)
        raw(",\"revoking\":")
        share(revoking)
        raw(",\"members\":")
        JSONText.appendArray(members, to: &output)
        raw(",\"partition_count\":\(partitionCount),\"valid_until\":")
        raw(validUntil.map { "\"\(Self.timestamp($0))\"" } ?? "null")
        raw(",\"valid_until_boottime_ns\":")
        raw(validUntilBoottime.map(String.init) ?? "null")
        raw(",\"updated_at\":\"\(Self.timestamp(updatedAt))\"}")
        return String(decoding: output, as: UTF8.self)
    }

    /// Reads a document as `json` writes it.
    /// - Throws: `DecodingError` if it is not one.
    public init(json: some DataProtocol) throws {
        self = try JSONDecoder().decode(Decoded.self, from: Data(json)).document
    }

    /// `date` in UTC with milliseconds, rounded down: `2026-11-25T12:00:06.790Z`.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.floorDivided(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(milliseconds - Int64(seconds) * 1000), 3))Z"
    }

    /// The date a `timestamp` names, or `nil` if `text` is not one.
    public static func date(fromTimestamp text: String) -> Date? {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return parser.date(from: text)
    }

    private struct Decoded: Decodable {
        let document: MemberDocument

        enum Keys: String, CodingKey {
            case group, member, state, generation, strategy, allocation, revoking, members
            case partitionCount = "partition_count", validUntil = "valid_until", updatedAt = "updated_at"
            case validUntilBoottime = "valid_until_boottime_ns"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            func date(_ key: Keys) throws -> Date? {
                guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
                guard let date = MemberDocument.date(fromTimestamp: text) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a timestamp: \(text)")
                }
                return date
            }
            guard let updatedAt = try date(.updatedAt) else {
                throw DecodingError.valueNotFound(String.self, .init(codingPath: [Keys.updatedAt], debugDescription: "updated_at is null"))
            }
            document = MemberDocument(
                group: try container.decode(String.self, forKey: .group),
                member: try container.decode(String.self, forKey: .member),
                state: try container.decode(MemberState.self, forKey: .state),
                generation: try container.decode(Int64.self, forKey: .generation),
                strategy: try container.decodeIfPresent(String.self, forKey: .strategy),
                allocation: try container.decode([String: [Int]].self, forKey: .allocation),
                revoking: try container.decodeIfPresent([String: [Int]].self, forKey: .revoking) ?? [:],
                members: try container.decode([String].self, forKey: .members),
                partitionCount: try container.decode(Int.self, forKey: .partitionCount),
                validUntil: try date(.validUntil),
                validUntilBoottime: try container.decodeIfPresent(Int64.self, forKey: .validUntilBoottime),
                updatedAt: updatedAt)
        }
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }
}
