import Allocation

/// The node `assignments` (spec §14): the group's epoch and what followers need for their
/// documents besides their own grant. Written by the leader in every fenced `multi`, so the
/// epoch grows by one with each.
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

    public init(epoch: Int64, leader: String, strategy: String, members: [String], partitionCount: Int) {
        self.epoch = epoch
        self.leader = leader
        self.strategy = strategy
        self.members = members
        self.partitionCount = partitionCount
    }

    /// `{"epoch":E,"leader":"…","strategy":"…","members":[…],"partition_count":P}`.
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
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The summary in the node's data.
    public init(decoding data: [UInt8]) throws(NodeDataError) {
        let wire: Wire = try NodeDataError.decode(Wire.self, from: data, what: "assignments")
        self.init(
            epoch: wire.epoch, leader: wire.leader, strategy: wire.strategy, members: wire.members,
            partitionCount: wire.partition_count)
    }

    private struct Wire: Decodable {
        let epoch: Int64
        let leader: String
        let strategy: String
        let members: [String]
        let partition_count: Int
    }
}

/// What protocol 2 reads in an allocatord member's node (spec §4, §14): the epoch of the
/// latest grant it has published (`acked_epoch`) and its weight. kiel members keep nothing.
public struct MemberRecord: Sendable, Equatable {
    /// The epoch of the latest grant the member has published and acknowledges (I4); 0 before
    /// the first.
    public var ackedEpoch: Int64
    /// Its share relative to the others' (spec §14), a positive integer.
    public var weight: Int

    public init(ackedEpoch: Int64 = 0, weight: Int = 1) {
        self.ackedEpoch = ackedEpoch
        self.weight = weight
    }

    /// The fields protocol 2 needs, as a member node's data: `{"version":2,"acked_epoch":E,"weight":W}`
    /// (the daemon adds host, pid and strategy for the tools).
    public var encoded: [UInt8] {
        var output = Array("{\"version\":2,\"acked_epoch\":".utf8)
        JSONText.appendInteger(Int(ackedEpoch), to: &output)
        output += Array(",\"weight\":".utf8)
        JSONText.appendInteger(weight, to: &output)
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The record in a member node's data, or `nil` if the node keeps none (kiel, garbage).
    public init?(decoding data: [UInt8]) {
        guard let wire = try? NodeDataError.decode(Wire.self, from: data, what: "member metadata"),
              wire.version == 2, let epoch = wire.acked_epoch
        else { return nil }
        self.init(ackedEpoch: epoch, weight: max(1, wire.weight ?? 1))
    }

    private struct Wire: Decodable {
        let version: Int
        let acked_epoch: Int64?
        let weight: Int?
    }
}
