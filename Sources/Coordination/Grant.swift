import Allocation
import ControlProtocol

/// What the leader has granted one member (spec §14): the node `assignments/MEMBER`, written
/// only by the leader, only in a fenced `multi`.
///
/// A grant belongs to one *session* of the member: a member publishes a grant only if it names
/// its current session, so a grant written for an earlier process (or an earlier session of
/// this one) is never published, however late a ZooKeeper server shows it.
public struct Grant: Sendable, Equatable {
    /// The epoch of the write that last changed this grant's `partitions` (or gave it
    /// `releasing`); what the member acknowledges. A write that only ends a release
    /// (`releasing` emptied once acknowledged) keeps it: the member publishes nothing new.
    public var epoch: Int64
    /// The grantee's session (the `ephemeralOwner` of its member node when granted).
    public var session: Int64
    /// What the member may publish.
    public var partitions: Set<Partition> {
        get { partitionShare.partitions }
        set { partitionShare = .named(newValue) }
    }
    /// Revoked from the member and not yet known to be released: held back from everyone
    /// until the member acknowledges `epoch` or its session is over (I3). Not published.
    public var releasing: Set<Partition> {
        get { releasingShare.partitions }
        set { releasingShare = .named(newValue) }
    }
    /// `partitions` and `releasing` as the grant was made: by name (read from a node), or as
    /// a leader's indices, encoded without names.
    private var partitionShare: PartitionShare
    private var releasingShare: PartitionShare
    /// The member's earlier grant node was lost (deleted behind the leader's back) while the
    /// member lived: it may still publish anything nobody else was granted, until it
    /// acknowledges this grant (`RebalancePlanner`).
    public var unknownHoldings: Bool

    public init(
        epoch: Int64, session: Int64, partitions: Set<Partition> = [], releasing: Set<Partition> = [],
        unknownHoldings: Bool = false
    ) {
        self.epoch = epoch
        self.session = session
        partitionShare = .named(partitions)
        releasingShare = .named(releasing)
        self.unknownHoldings = unknownHoldings
    }

    /// `grant` with its partitions as indices of `table` (a leader's plan).
    public init(_ grant: IndexedGrant, table: PartitionTable) {
        epoch = grant.epoch
        session = grant.session
        partitionShare = .indexed(grant.partitions, in: table)
        releasingShare = .indexed(grant.releasing, in: table)
        unknownHoldings = grant.unknownHoldings
    }

    /// The same grant with its partitions by name, named once: what a follower keeps. (A
    /// leader's indexed grant names its partitions anew at every look: the leader's own
    /// follower, given what it wrote, spent a 50 000-partition set's names on each.)
    public var byName: Grant {
        var grant = self
        grant.partitionShare = .named(partitionShare.partitions)
        grant.releasingShare = .named(releasingShare.partitions)
        return grant
    }

    /// Whether both have the same epoch, session, partitions, releasing and flag.
    public static func == (a: Grant, b: Grant) -> Bool {
        a.epoch == b.epoch && a.session == b.session && a.unknownHoldings == b.unknownHoldings
            && a.partitions == b.partitions && a.releasing == b.releasing
    }

    /// What the member may hold as far as the leader knows: its partitions and those it is
    /// releasing (with `unknownHoldings`, possibly more).
    public var held: Set<Partition> { partitions.union(releasing) }

    /// Whether the member must acknowledge `epoch` before others may have what it held.
    public var hasUnacknowledgedHoldings: Bool { !releasingShare.isEmpty || unknownHoldings }

    /// Whether its member may publish anything under it.
    public var holdsAnything: Bool { !partitionShare.isEmpty || hasUnacknowledgedHoldings }

    /// The node's data: `{"epoch":E,"session":"0x…","partitions":{"TOPIC":[ID,...]},"releasing":{...}}`,
    /// topics in UTF-8 order, ids ascending, and `"unknown_holdings":true` when set.
    public var encoded: [UInt8] {
        var output = Array("{\"epoch\":".utf8)
        JSONText.appendInteger(Int(epoch), to: &output)
        output += Array(",\"session\":".utf8)
        JSONText.appendString(SessionID.format(session), to: &output)
        output += Array(",\"partitions\":".utf8)
        partitionShare.append(to: &output)
        output += Array(",\"releasing\":".utf8)
        releasingShare.append(to: &output)
        if unknownHoldings { output += Array(",\"unknown_holdings\":true".utf8) }
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The grant in a node's data.
    /// - Throws: `NodeDataError` naming what is wrong.
    public init(decoding data: [UInt8]) throws(NodeDataError) {
        var epoch: Int?, session: String?, partitions: MappingText.Share?, releasing: MappingText.Share?
        var unknownHoldings = false
        try NodeDataError.read(data, what: "grant") { reader, key throws(JSONReader.Failure) in
            switch key {
            case "epoch": epoch = try reader.integer()
            case "session": session = try reader.string()
            case "partitions": partitions = try Self.readShare(&reader)
            case "releasing": releasing = try Self.readShare(&reader)
            case "unknown_holdings": unknownHoldings = reader.null() ? false : try reader.bool()
            default: try reader.skipValue()
            }
        }
        guard let epoch else { throw .missing("epoch", what: "grant") }
        guard let session else { throw .missing("session", what: "grant") }
        guard let partitions else { throw .missing("partitions", what: "grant") }
        guard let releasing else { throw .missing("releasing", what: "grant") }
        guard let id = SessionID.parse(session) else {
            throw NodeDataError(what: "grant", reason: "\"session\" is not a session id: \(session)")
        }
        self.init(
            epoch: Int64(epoch), session: id, partitions: try Self.parseShare(partitions), releasing: try Self.parseShare(releasing),
            unknownHoldings: unknownHoldings)
    }

    /// `{"TOPIC":[ID,...]}`.
    static func readShare(_ reader: inout JSONReader) throws(JSONReader.Failure) -> MappingText.Share {
        var share: MappingText.Share = []
        try reader.object { reader, topic throws(JSONReader.Failure) in share.append((topic, try reader.integers())) }
        return share
    }

    static func parseShare(_ share: MappingText.Share) throws(NodeDataError) -> Set<Partition> {
        var partitions = Set<Partition>(minimumCapacity: share.reduce(0) { $0 + $1.ids.count })
        for (topic, ids) in share {
            do {
                partitions.formUnion(try Partition.partitions(topic: topic, ids: ids))
            } catch {
                throw NodeDataError(what: "grant", reason: "\(error)")
            }
        }
        return partitions
    }
}

/// Data in one of the protocol's nodes that does not parse.
public struct NodeDataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which kind of node: `grant`, `assignments`, `member metadata`.
    public let what: String
    public let reason: String

    public var description: String { "the \(what) data does not parse: \(reason)" }

    /// Reads a node's JSON object, `entry` reading each value given its key.
    static func read(
        _ data: [UInt8], what: String, _ entry: (inout JSONReader, String) throws(JSONReader.Failure) -> Void
    ) throws(NodeDataError) {
        var reader = JSONReader(data)
        do {
            try reader.object(entry)
            try reader.end()
        } catch {
            throw NodeDataError(what: what, reason: "not the JSON object expected: \(error)")
        }
    }

    static func missing(_ key: String, what: String) -> NodeDataError {
        NodeDataError(what: what, reason: "\"\(key)\" is missing")
    }
}
