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
    /// How the write that set this summary changed grants, by member (`GrantChange`): a
    /// follower that holds the grant a change starts from takes the new one from here instead
    /// of reading its node. Only small changes are carried (`changesBudget`); any grant may
    /// be missing here, and a member that does not know this key reads its grant as before.
    public var changes: [String: GrantChange]

    /// At most this many partitions, over all `changes`: a change that would pass it is left
    /// out (its member reads its grant). A join or a leave moves about P / N partitions; a
    /// group's first allocation moves them all and is read from the grant nodes.
    public static let changesBudget = 4096

    public init(
        epoch: Int64, leader: String, strategy: String, members: [String], partitionCount: Int, digest: String = "",
        grants: [String: Int64] = [:], awaited: [String: Int64] = [:], partitionSet: PartitionSetState = PartitionSetState(),
        holdsUnheld: Bool = false, changes: [String: GrantChange] = [:]
    ) {
        self.changes = changes
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
    /// `"holds_unheld":true` while the leader holds unheld partitions back, and
    /// `"changes":{"M":{…},…}` at the end when there are any.
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
        if !changes.isEmpty {
            output += Array(",\"changes\":{".utf8)
            for (index, member) in changes.keys.sorted(by: utf8Precedes).enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONText.appendString(member, to: &output)
                output.append(UInt8(ascii: ":"))
                changes[member]!.append(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
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

    /// The summary in the node's data. With `changesOf`, only that member's entry of `changes`
    /// is read (a follower needs only its own; the others' are skipped unparsed, as they name
    /// partitions that moved between other members).
    public init(decoding data: [UInt8], changesOf member: String? = nil) throws(NodeDataError) {
        var epoch: Int?, leader: String?, strategy: String?, members: [String]?, partitionCount: Int?
        var digest = "", grants: [String: Int64] = [:], awaited: [String: Int64] = [:]
        var partitionSet = PartitionSetState(), holdsUnheld = false, changes: [String: GrantChange] = [:]
        try NodeDataError.read(data, what: "assignments") { reader, key throws(JSONReader.Failure) in
            switch key {
            case "epoch": epoch = try reader.integer()
            case "leader": leader = try reader.string()
            case "strategy": strategy = try reader.string()
            case "members": members = try reader.strings()
            case "partition_count": partitionCount = try reader.integer()
            case "digest": digest = reader.null() ? "" : try reader.string()
            case "grants": grants = reader.null() ? [:] : try Self.readEpochs(&reader)
            case "awaited": awaited = reader.null() ? [:] : try Self.readEpochs(&reader)
            case "partition_set_bytes": partitionSet.bytes = reader.null() ? 0 : try reader.integer()
            case "partition_set_error": partitionSet.error = reader.null() ? nil : try reader.string()
            case "holds_unheld": holdsUnheld = reader.null() ? false : try reader.bool()
            case "changes":
                guard !reader.null() else { break }
                try reader.object { reader, name throws(JSONReader.Failure) in
                    if member.map({ $0.utf8.elementsEqual(name.utf8) }) ?? true {  // by bytes, as znode names
                        changes[name] = try GrantChange.read(&reader)
                    } else {
                        try reader.skipValue()
                    }
                }
            default: try reader.skipValue()
            }
        }
        guard let epoch else { throw .missing("epoch", what: "assignments") }
        guard let leader else { throw .missing("leader", what: "assignments") }
        guard let strategy else { throw .missing("strategy", what: "assignments") }
        guard let members else { throw .missing("members", what: "assignments") }
        guard let partitionCount else { throw .missing("partition_count", what: "assignments") }
        self.init(
            epoch: Int64(epoch), leader: leader, strategy: strategy, members: members, partitionCount: partitionCount,
            digest: digest, grants: grants, awaited: awaited, partitionSet: partitionSet, holdsUnheld: holdsUnheld,
            changes: changes)
    }

    /// `{"MEMBER":EPOCH,...}`.
    private static func readEpochs(_ reader: inout JSONReader) throws(JSONReader.Failure) -> [String: Int64] {
        var epochs: [String: Int64] = [:]
        try reader.object { reader, member throws(JSONReader.Failure) in epochs[member] = Int64(try reader.integer()) }
        return epochs
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
        var version: Int?, ackedEpoch: Int?, weight: Int?, host: String?, pid: Int?, strategy: String?, release: String?
        do {
            try NodeDataError.read(data, what: "member metadata") { reader, key throws(JSONReader.Failure) in
                guard !reader.null() else { return }
                switch key {
                case "version": version = try reader.integer()
                case "acked_epoch": ackedEpoch = try reader.integer()
                case "weight": weight = try reader.integer()
                case "host": host = try reader.string()
                case "pid": pid = try reader.integer()
                case "strategy": strategy = try reader.string()
                case "allocatord": release = try reader.string()
                default: try reader.skipValue()
                }
            }
        } catch {
            return nil
        }
        guard version == 2, let ackedEpoch else { return nil }
        let processID: Int32?
        if let pid {
            guard let exact = Int32(exactly: pid) else { return nil }
            processID = exact
        } else {
            processID = nil
        }
        self.init(
            ackedEpoch: Int64(ackedEpoch), weight: max(1, weight ?? 1), host: host, pid: processID, strategy: strategy,
            release: release)
    }
}
