/// ZooKeeper as a member's machine sees it: requests as values and their replies, so that the
/// same machine runs over the C client in the daemon and over the simulated server in the
/// tests. Only what members use is here (no ACLs, no times).
public enum NodeRequest: Sendable, Equatable {
    case create(String, data: [UInt8], NodeMode)
    case delete(String, version: Int32)
    case setData(String, data: [UInt8], version: Int32)
    /// Reads a node's data; with `watch`, a watch fires on its next change or deletion.
    case getData(String, watch: Bool)
    /// Whether a node exists; with `watch`, a watch fires on its creation, change or deletion.
    case exists(String, watch: Bool)
    /// A node's children; with `watch`, a watch fires when one is created or deleted.
    case getChildren(String, watch: Bool)
    /// One transaction: every operation is applied, or none is.
    case multi([NodeOperation])
    /// Ends the session at once (its ephemeral nodes go with it).
    case close

    /// Whether the ensemble's leader answers it (a write), so that its answer shows the session
    /// alive where sessions expire; a read is answered by the server the client is connected
    /// to, which may have lost the leader (and go on answering after the session expired).
    public var isWrite: Bool {
        switch self {
        case .create, .delete, .setData, .multi: true
        case .getData, .exists, .getChildren, .close: false
        }
    }

    /// The path the request reads or writes (`nil` for `multi` and `close`).
    public var path: String? {
        switch self {
        case .create(let path, _, _), .delete(let path, _), .setData(let path, _, _), .getData(let path, _),
             .exists(let path, _), .getChildren(let path, _):
            path
        case .multi, .close: nil
        }
    }
}

/// How a node is made.
public enum NodeMode: Sendable, Equatable {
    case persistent, ephemeral, ephemeralSequential
}

/// What a member reads of a node's metadata (ZooKeeper's `Stat`, in part).
public struct NodeStat: Sendable, Equatable {
    /// The zxid of the transaction that made the node.
    public var czxid: Int64
    /// Changes of its data: what conditional writes compare.
    public var version: Int32
    /// Changes of its children.
    public var cversion: Int32
    /// The session owning an ephemeral node, else 0.
    public var ephemeralOwner: Int64
    /// The zxid of the transaction that last changed its data (0 if unknown).
    public var mzxid: Int64

    public init(czxid: Int64, version: Int32, cversion: Int32, ephemeralOwner: Int64, mzxid: Int64 = 0) {
        self.mzxid = mzxid
        self.czxid = czxid
        self.version = version
        self.cversion = cversion
        self.ephemeralOwner = ephemeralOwner
    }
}

/// What a request that succeeded returned.
public enum NodeResponse: Sendable, Equatable {
    /// The path made (with its sequence number, for a sequential node), and the zxid that made
    /// it (0 if unknown).
    case created(String, made: Int64 = 0)
    /// The node's stat after a `setData`.
    case written(NodeStat)
    case deleted
    case data([UInt8], NodeStat)
    case exists(NodeStat?)
    /// The children's names and the parent's stat.
    case children([String], NodeStat)
    /// One result per operation of a `multi`, in order.
    case multi([NodeOperationResult])
    case closed
}

/// What one operation of a successful `multi` returned.
public enum NodeOperationResult: Sendable, Equatable {
    case created(String)
    case written(NodeStat)
    case deleted
    case checked
}

/// Why a request failed.
public enum NodeFailure: Error, Sendable, Equatable {
    case noNode, nodeExists, badVersion, notEmpty, noChildrenForEphemerals
    /// The connection was lost before the reply came: the request may or may not have been
    /// applied.
    case connectionLoss
    /// The session is over; nothing was applied.
    case sessionExpired
    /// Any other ZooKeeper error, by its code.
    case other(code: Int32)
}

extension NodeFailure: CustomStringConvertible {
    /// The case's name; for another error, its code, named for those an operator causes.
    public var description: String {
        switch self {
        case .noNode: "noNode"
        case .nodeExists: "nodeExists"
        case .badVersion: "badVersion"
        case .notEmpty: "notEmpty"
        case .noChildrenForEphemerals: "noChildrenForEphemerals"
        case .connectionLoss: "connectionLoss"
        case .sessionExpired: "sessionExpired"
        case .other(-102): "noAuth: no right to it (its ACL?)"
        case .other(let code): "ZooKeeper error \(code)"
        }
    }
}

/// A request's reply.
public struct NodeReply: Sendable, Equatable {
    public var result: Result<NodeResponse, NodeFailure>
    /// For a failed `multi`, the index of the operation that failed.
    public var failedOperation: Int?

    public init(_ result: Result<NodeResponse, NodeFailure>, failedOperation: Int? = nil) {
        self.result = result
        self.failedOperation = failedOperation
    }

    /// Whether it failed with a code the machine does not name (`other`): perhaps the client's
    /// own (a system error, say), no proof that the server heard from the session.
    var isOtherFailure: Bool {
        if case .failure(.other) = result { true } else { false }
    }
}
