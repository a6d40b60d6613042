import Allocation

/// The node `assignments` (spec §14): the group's epoch and what followers need for their
/// documents and their `status` besides their own grant. Written by the leader in every fenced
/// `multi`, so the epoch grows by one with each.
public struct GroupSummary: Sendable, Equatable {
    /// The group's epoch: the `generation` of protocol 2.
    public var epoch: Int64
    /// The member that wrote it.
    public var leader: String
    /// The group's strategy, as the leader computed with it.
    public var strategy: String
    /// Every member (allocatord and kiel), sorted by UTF-8 bytes.
    public var members: [String]
    /// The number of partitions in the set the leader allocated.
    public var partitionCount: Int
    /// `Allocation.digest` of the strategy's whole mapping the leader grants toward (spec §4):
    /// `allocatorctl plan` and other implementations can be checked against it.
    public var digest: String
    /// Each grant node's epoch, by member: a follower reads its grant only when its entry
    /// changed, and publishes the summary's epoch only with the grant it names.
    public var grants: [String: Int64]
    /// The members whose acknowledgement the leader waits for, with the epoch each must reach.
    public var awaited: [String: Int64]
    /// The partition set as the leader read it: its size in bytes, and why it does not parse
    /// (the leader then allocates the last good one).
    public var partitionSet: PartitionSetState
    /// The leader holds back every partition nobody is known to hold, for a session timeout
    /// after a grant was found lost (spec §14): a leader elected meanwhile holds them back too.
    public var holdsUnheld: Bool

    public init(
        epoch: Int64, leader: String, strategy: String, members: [String], partitionCount: Int, digest: String = "",
        grants: [String: Int64] = [:], awaited: [String: Int64] = [:], partitionSet: PartitionSetState = PartitionSetState(),
        holdsUnheld: Bool = false
    ) {
        self.grants = grants
        self.digest = digest
        self.epoch = epoch
        self.leader = leader
        self.strategy = strategy
        self.members = members
        self.partitionCount = partitionCount
        self.awaited = awaited
        self.partitionSet = partitionSet
        self.holdsUnheld = holdsUnheld
    }

    /// `{"epoch":E,"leader":"…","strategy":"…","members":[…],"partition_count":P,"digest":"…","grants":{"M":E,…},
    /// "awaited":{"M":E,…},"partition_set_bytes":B,"partition_set_error":null}`, and
    /// `"holds_unheld":true` at the end while the leader holds unheld partitions back.
    public var encoded: [UInt8] {
        var output = Array("{\"epoch\":".utf8)
        JSONText.appendInteger(Int(epoch), to: &output)
        output += Array(",\"leader\":".utf8)
        JSONText.appendString(leader, to: &output)
        output += Array(",\"strategy\":".utf8)
        JSONText.appendString(strategy, to: &output)
        output += Array(",\"members\":".utf8)
        JSONText.appendArray(members, to: &output)
        output += Array(",\"partition_count\":".utf8)
        JSONText.appendInteger(partitionCount, to: &output)
        output += Array(",\"digest\":".utf8)
        JSONText.appendString(digest, to: &output)
        output += Array(",\"grants\":".utf8)
        Self.appendEpochs(grants, to: &output)
        output += Array(",\"awaited\":".utf8)
        Self.appendEpochs(awaited, to: &output)
        output += Array(",\"partition_set_bytes\":".utf8)
        JSONText.appendInteger(partitionSet.bytes, to: &output)
        output += Array(",\"partition_set_error\":".utf8)
        if let error = partitionSet.error { JSONText.appendString(error, to: &output) } else { output += Array("null".utf8) }
        if holdsUnheld { output += Array(",\"holds_unheld\":true".utf8) }
        output.append(UInt8(ascii: "}"))
        return output
    }

    private static func appendEpochs(_ epochs: [String: Int64], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, member) in epochs.keys.sorted(by: utf8Precedes).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(member, to: &output)
            output.append(UInt8(ascii: ":"))
            JSONText.appendInteger(Int(epochs[member]!), to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// The summary in the node's data.
    public init(decoding data: [UInt8]) throws(NodeDataError) {
        let wire: Wire = try NodeDataError.decode(Wire.self, from: data, what: "assignments")
        self.init(
            epoch: wire.epoch, leader: wire.leader, strategy: wire.strategy, members: wire.members,
            partitionCount: wire.partition_count, digest: wire.digest ?? "", grants: wire.grants ?? [:], awaited: wire.awaited ?? [:],
            partitionSet: PartitionSetState(bytes: wire.partition_set_bytes ?? 0, error: wire.partition_set_error),
            holdsUnheld: wire.holds_unheld ?? false)
    }

    private struct Wire: Decodable {
        let epoch: Int64
        let leader: String
        let strategy: String
        let members: [String]
        let partition_count: Int
        let digest: String?
        let grants: [String: Int64]?
        let awaited: [String: Int64]?
        let partition_set_bytes: Int?
        let partition_set_error: String?
        let holds_unheld: Bool?
    }
}

/// The partition set's node as last read: its size, and why its data does not parse, if it
/// does not (spec §5).
public struct PartitionSetState: Sendable, Equatable {
    public var bytes: Int
    public var error: String?

    public init(bytes: Int = 0, error: String? = nil) {
        self.bytes = bytes
        self.error = error
    }
}

/// What an allocatord member keeps in its node under protocol 2 (spec §4, §14): the epoch of
/// the latest grant it has published (`acked_epoch`) and its weight, which the leader reads,
/// and for the tools its host, pid and strategy. kiel members keep nothing.
public struct MemberRecord: Sendable, Equatable {
    /// The epoch of the latest grant the member has published and acknowledges (I4); 0 before
    /// the first.
    public var ackedEpoch: Int64
    /// Its share relative to the others' (spec §14), a positive integer.
    public var weight: Int
    public var host: String?
    public var pid: Int32?
    /// The strategy the member's configuration names, if any.
    public var strategy: String?
    /// The allocatord version the member runs (`ProductVersion`), if known.
    public var release: String?

    public init(
        ackedEpoch: Int64 = 0, weight: Int = 1, host: String? = nil, pid: Int32? = nil, strategy: String? = nil,
        release: String? = nil
    ) {
        self.ackedEpoch = ackedEpoch
        self.weight = weight
        self.host = host
        self.pid = pid
        self.strategy = strategy
        self.release = release
    }

    /// `{"version":2,"acked_epoch":E,"weight":W,"host":"…","pid":P,"strategy":"…",
    /// "allocatord":"0.4.0"}` (the last four when known; `version` is the record's format).
    public var encoded: [UInt8] {
        var output = Array("{\"version\":2,\"acked_epoch\":".utf8)
        JSONText.appendInteger(Int(ackedEpoch), to: &output)
        output += Array(",\"weight\":".utf8)
        JSONText.appendInteger(weight, to: &output)
        if let host {
            output += Array(",\"host\":".utf8)
            JSONText.appendString(host, to: &output)
        }
        if let pid {
            output += Array(",\"pid\":".utf8)
            JSONText.appendInteger(Int(pid), to: &output)
        }
        if let strategy {
            output += Array(",\"strategy\":".utf8)
            JSONText.appendString(strategy, to: &output)
        }
        if let release {
            output += Array(",\"allocatord\":".utf8)
            JSONText.appendString(release, to: &output)
        }
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The record in a member node's data, or `nil` if the node keeps none (kiel, garbage).
    public init?(decoding data: [UInt8]) {
        guard let wire = try? NodeDataError.decode(Wire.self, from: data, what: "member metadata"),
              wire.version == 2, let epoch = wire.acked_epoch
        else { return nil }
        self.init(
            ackedEpoch: epoch, weight: max(1, wire.weight ?? 1), host: wire.host, pid: wire.pid, strategy: wire.strategy,
            release: wire.allocatord)
    }

    private struct Wire: Decodable {
        let version: Int
        let acked_epoch: Int64?
        let weight: Int?
        let host: String?
        let pid: Int32?
        let strategy: String?
        let allocatord: String?
    }
}
