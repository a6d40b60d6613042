import Allocation
import ControlProtocol
import FoundationEssentials

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
    public var partitions: Set<Partition>
    /// Revoked from the member and not yet known to be released: held back from everyone
    /// until the member acknowledges `epoch` or its session is over (I3). Not published.
    public var releasing: Set<Partition>
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
        self.partitions = partitions
        self.releasing = releasing
        self.unknownHoldings = unknownHoldings
    }

    /// What the member may hold as far as the leader knows: its partitions and those it is
    /// releasing (with `unknownHoldings`, possibly more).
    public var held: Set<Partition> { partitions.union(releasing) }

    /// Whether the member must acknowledge `epoch` before others may have what it held.
    public var hasUnacknowledgedHoldings: Bool { !releasing.isEmpty || unknownHoldings }

    /// The node's data: `{"epoch":E,"session":"0x…","partitions":{"TOPIC":[ID,...]},"releasing":{...}}`,
    /// topics in UTF-8 order, ids ascending, and `"unknown_holdings":true` when set.
    public var encoded: [UInt8] {
        var output = Array("{\"epoch\":".utf8)
        JSONText.appendInteger(Int(epoch), to: &output)
        output += Array(",\"session\":".utf8)
        JSONText.appendString(SessionID.format(session), to: &output)
        output += Array(",\"partitions\":".utf8)
        Self.appendShare(partitions, to: &output)
        output += Array(",\"releasing\":".utf8)
        Self.appendShare(releasing, to: &output)
        if unknownHoldings { output += Array(",\"unknown_holdings\":true".utf8) }
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// The grant in a node's data.
    /// - Throws: `NodeDataError` naming what is wrong.
    public init(decoding data: [UInt8]) throws(NodeDataError) {
        let wire: Wire = try NodeDataError.decode(Wire.self, from: data, what: "grant")
        guard let session = SessionID.parse(wire.session) else {
            throw NodeDataError(what: "grant", reason: "\"session\" is not a session id: \(wire.session)")
        }
        self.init(
            epoch: wire.epoch, session: session,
            partitions: try Self.parseShare(wire.partitions), releasing: try Self.parseShare(wire.releasing),
            unknownHoldings: wire.unknown_holdings ?? false)
    }

    private struct Wire: Decodable {
        let epoch: Int64
        let session: String
        let partitions: [String: [Int]]
        let releasing: [String: [Int]]
        let unknown_holdings: Bool?
    }

    /// Appends `partitions` as `{"TOPIC":[ID,...]}`, topics in UTF-8 order, ids ascending (the
    /// shape of a document's `allocation`).
    public static func appendShare(_ partitions: Set<Partition>, to output: inout [UInt8]) {
        var byTopic: [String: [Int]] = [:]
        for partition in partitions { byTopic[partition.topic, default: []].append(partition.id) }
        output.append(UInt8(ascii: "{"))
        for (index, topic) in byTopic.keys.sorted(by: utf8Precedes).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(topic, to: &output)
            output.append(UInt8(ascii: ":"))
            output.append(UInt8(ascii: "["))
            for (position, id) in byTopic[topic]!.sorted().enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                JSONText.appendInteger(id, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }
        output.append(UInt8(ascii: "}"))
    }

    static func parseShare(_ share: [String: [Int]]) throws(NodeDataError) -> Set<Partition> {
        var partitions = Set<Partition>()
        for (topic, ids) in share {
            for id in ids {
                do {
                    partitions.insert(try Partition(parsing: "\(topic):\(id)"))
                } catch {
                    throw NodeDataError(what: "grant", reason: "\(error)")
                }
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

    static func decode<T: Decodable>(_ type: T.Type, from data: [UInt8], what: String) throws(NodeDataError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(data))
        } catch let DecodingError.keyNotFound(key, _) {
            throw NodeDataError(what: what, reason: "\"\(key.stringValue)\" is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw NodeDataError(what: what, reason: "\"\(path)\" has the wrong type")
        } catch {
            throw NodeDataError(what: what, reason: "not a JSON object")
        }
    }
}
