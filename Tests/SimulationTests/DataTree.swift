extension SimulatedZooKeeper {
    /// A znode's metadata, as ZooKeeper's `Stat` (without times and ACL version, not modeled).
    struct Stat: Equatable, Sendable {
        /// The zxid of the transaction that created the node.
        var czxid: Int64
        /// The zxid of the transaction that last set its data.
        var mzxid: Int64
        /// The zxid of the transaction that last created or deleted a child.
        var pzxid: Int64
        /// Number of data changes: what `setData`, `delete` and `check` compare.
        var version: Int32 = 0
        /// Number of changes to the children, creations and deletions (as ZooKeeper 3.8's
        /// `stat` shows it: a create and a delete make 2).
        var cversion: Int32 = 0
        /// The session owning an ephemeral node, else 0.
        var ephemeralOwner: Int64
        var numChildren: Int32 = 0
    }

    enum CreateMode: Sendable {
        case persistent, ephemeral, persistentSequential, ephemeralSequential

        var isEphemeral: Bool { self == .ephemeral || self == .ephemeralSequential }
        var isSequential: Bool { self == .persistentSequential || self == .ephemeralSequential }
    }

    /// A write, alone or as one op of a `multi`. A version of -1 matches any version.
    enum Op: Equatable, Sendable {
        case create(String, [UInt8], CreateMode)
        case delete(String, version: Int32)
        case setData(String, [UInt8], version: Int32)
        case check(String, version: Int32)
    }

    /// What one op of a successful `multi` returned.
    enum OpResult: Equatable, Sendable {
        case created(String)
        case setData(Stat)
        case deleted
        case checked
    }

    /// The ZooKeeper return codes the simulation produces.
    enum Code: Error, Equatable, Sendable {
        case noNode, nodeExists, badVersion, notEmpty, noChildrenForEphemerals
        /// Made up by the client for a request it had no reply to when its connection was lost:
        /// the request may or may not have been applied.
        case connectionLoss
        /// The session is over (expired or closed); nothing is applied.
        case sessionExpired
        /// A write to a server in read-only mode (`ZNOTREADONLY`).
        case notReadOnly
    }

    /// What a one-shot watch reports.
    enum EventKind: Equatable, Sendable {
        case nodeCreated, nodeDeleted, nodeDataChanged, nodeChildrenChanged
    }

    /// ZooKeeper's data tree: znodes keyed by path, each knowing its children's names, and an
    /// index of each session's ephemeral nodes. Every operation costs O(1) dictionary work
    /// (plus the children of the one parent it touches), never O(tree).
    struct DataTree {
        struct Node {
            var data: [UInt8]
            var stat: Stat
            var children: Set<String> = []
            /// Number of children created: the next sequential child's suffix (ZooKeeper 3.8
            /// numbers them by creations only, so its `cversion` runs ahead after deletions).
            var childrenCreated: Int32 = 0
        }

        /// One write transaction in progress: its zxid, what to restore if one of its ops
        /// fails (a `multi` is all or nothing), and, in order, the changes that fire watches
        /// once it commits.
        struct Transaction {
            let zxid: Int64
            let session: Int64
            fileprivate var undo: [(path: String, node: Node?)] = []
            var changes: [(kind: EventKind, path: String)] = []

            init(zxid: Int64, session: Int64) {
                self.zxid = zxid
                self.session = session
            }
        }

        private(set) var nodes: [String: Node] = ["/": Node(data: [], stat: Stat(czxid: 0, mzxid: 0, pzxid: 0, ephemeralOwner: 0))]
        private var ephemerals: [Int64: Set<String>] = [:]

        /// The ephemeral nodes a session owns, sorted.
        func ephemeralNodes(of session: Int64) -> [String] { (ephemerals[session] ?? []).sorted() }

        /// Applies one op inside `txn`, with ZooKeeper's checks in ZooKeeper's order.
        mutating func apply(_ op: Op, in txn: inout Transaction) throws(Code) -> OpResult {
            switch op {
            case let .create(requested, data, mode):
                let parentPath = Self.parent(of: requested)
                guard var parent = nodes[parentPath] else { throw .noNode }
                // The sequence suffix counts the parent's creations, "%010d" as ZooKeeper formats it.
                let path = mode.isSequential ? requested + Self.sequenceSuffix(parent.childrenCreated) : requested
                Self.validate(path)
                guard nodes[path] == nil else { throw .nodeExists }
                guard parent.stat.ephemeralOwner == 0 else { throw .noChildrenForEphemerals }
                parent.children.insert(Self.name(of: path))
                parent.childrenCreated += 1
                parent.stat.cversion += 1
                parent.stat.pzxid = txn.zxid
                parent.stat.numChildren += 1
                put(parentPath, parent, &txn)
                let owner = mode.isEphemeral ? txn.session : 0
                put(path, Node(data: data, stat: Stat(czxid: txn.zxid, mzxid: txn.zxid, pzxid: txn.zxid, ephemeralOwner: owner)), &txn)
                txn.changes += [(.nodeCreated, path), (.nodeChildrenChanged, parentPath)]
                return .created(path)
            case let .delete(path, version):
                Self.validate(path)
                precondition(path != "/", "the root cannot be deleted")
                let node = try existing(path, version: version)
                guard node.children.isEmpty else { throw .notEmpty }
                let parentPath = Self.parent(of: path)
                var parent = nodes[parentPath]!
                parent.children.remove(Self.name(of: path))
                parent.stat.cversion += 1
                parent.stat.pzxid = txn.zxid
                parent.stat.numChildren -= 1
                put(parentPath, parent, &txn)
                put(path, nil, &txn)
                txn.changes += [(.nodeDeleted, path), (.nodeChildrenChanged, parentPath)]
                return .deleted
            case let .setData(path, data, version):
                var node = try existing(path, version: version)
                node.data = data
                node.stat.version += 1
                node.stat.mzxid = txn.zxid
                put(path, node, &txn)
                txn.changes.append((.nodeDataChanged, path))
                return .setData(node.stat)
            case let .check(path, version):
                _ = try existing(path, version: version)
                return .checked
            }
        }

        /// Undoes every op applied in `txn`, newest first.
        mutating func rollback(_ txn: Transaction) {
            for (path, node) in txn.undo.reversed() { write(path, node) }
        }

        private func existing(_ path: String, version: Int32) throws(Code) -> Node {
            Self.validate(path)
            guard let node = nodes[path] else { throw .noNode }
            guard version == -1 || version == node.stat.version else { throw .badVersion }
            return node
        }

        private mutating func put(_ path: String, _ node: Node?, _ txn: inout Transaction) {
            txn.undo.append((path, nodes[path]))
            write(path, node)
        }

        /// The one place nodes change, so that the ephemeral index always agrees with them.
        private mutating func write(_ path: String, _ node: Node?) {
            if let owner = nodes[path]?.stat.ephemeralOwner, owner != 0 { ephemerals[owner]?.remove(path) }
            if let owner = node?.stat.ephemeralOwner, owner != 0 { ephemerals[owner, default: []].insert(path) }
            nodes[path] = node
        }

        static func parent(of path: String) -> String {
            let slash = path.lastIndex(of: "/")!
            return slash == path.startIndex ? "/" : String(path[..<slash])
        }

        static func name(of path: String) -> String { String(path[path.index(after: path.lastIndex(of: "/")!)...]) }

        static func sequenceSuffix(_ n: Int32) -> String {
            let digits = String(n)
            return String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        }

        /// A malformed path is a bug in the caller, not a simulated failure.
        static func validate(_ path: String) {
            precondition(path.hasPrefix("/") && !path.contains("//") && (path == "/" || !path.hasSuffix("/")), "bad path \(path)")
        }
    }
}
