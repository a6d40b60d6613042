/// A simulated ZooKeeper, as its clients see it, for deterministic simulation: one server
/// applying transactions in zxid order, and one network connection per session whose
/// deliveries the caller (the harness) chooses one at a time. Nothing here reads a clock or a
/// random source; time only moves in `advanceTime(to:)`, and the only random choice (what a
/// lost connection applied) comes from the caller.
///
/// Each session's connection has two FIFOs, as a TCP connection does: requests in flight to the
/// server, and replies and watch events in flight to the client, in the order the server
/// produced them. So a client sees every watch event before any reply that reflects a later
/// state (ZooKeeper's ordering guarantee), and its requests are applied in the order it sent
/// them.
///
/// Simplified: one server, so reads are never stale (a follower's stale read looks to its
/// client like a fresh read whose reply was delayed, which the harness can already choose);
/// no ACLs, times, quotas, containers, TTLs or `/zookeeper`; a session expires exactly
/// `timeout` ms after the server last heard from it (ZooKeeper rounds up to its next tick).
final class SimulatedZooKeeper {
    typealias SessionID = Int64
    typealias RequestID = Int

    enum Request: Equatable, Sendable {
        case create(String, [UInt8], CreateMode)
        case delete(String, version: Int32)
        case setData(String, [UInt8], version: Int32)
        case getData(String, watch: Bool)
        case exists(String, watch: Bool)
        case getChildren(String, watch: Bool)
        /// One transaction: every op is applied, or none is.
        case multi([Op])
        /// A no-op here: with one server, every read is already up to date.
        case sync(String)
        /// Graceful close: the session ends once the server applies it.
        case close
    }

    enum Response: Equatable, Sendable {
        /// The path made, and the zxid that made it (a create's stat, as `zoo_acreate2` gives).
        case created(String, czxid: Int64 = 0)
        case deleted
        case stat(Stat)
        case data([UInt8], Stat)
        case exists(Stat?)
        /// Children names sorted, and the parent's stat.
        case children([String], Stat)
        case multi([OpResult])
        case synced
        case closed

        /// The reply to a write sent alone.
        init(_ result: OpResult) {
            switch result {
            case let .created(path): self = .created(path)
            case let .setData(stat): self = .stat(stat)
            case .deleted: self = .deleted
            case .checked: preconditionFailure("check is only an op of a multi")
            }
        }
    }

    struct Reply: Equatable, Sendable {
        let id: RequestID
        let request: Request
        let result: Result<Response, Code>
        /// For a failed `multi`, the index of the op that failed: ZooKeeper reports `ok` for the
        /// ops before it, its error for it, `runtimeInconsistency` for those after.
        var failedOp: Int? = nil
        /// The server's last zxid when it replied; nil for replies the client library made up.
        var zxid: Int64? = nil
    }

    struct WatchEvent: Equatable, Sendable {
        let kind: EventKind
        let path: String
        let zxid: Int64
    }

    enum SessionEnd: Equatable, Sendable { case expired, closed }

    /// What a client receives, in order.
    enum Message: Equatable, Sendable {
        case reply(Reply)
        case event(WatchEvent)
        /// The connection dropped (ZooKeeper's CONNECTING state); `connectionLoss` replies follow.
        case disconnected
        /// Reconnected within the same session; watches are re-registered.
        case reconnected
        /// The session is over; every later request fails with `sessionExpired`.
        case sessionEnded(SessionEnd)
    }

    enum Direction: Equatable, Sendable { case toServer, toClient }

    struct Delivery: Equatable, Sendable {
        let session: SessionID
        let direction: Direction
    }

    enum Connection: Equatable, Sendable { case connected, disconnected, ended }

    /// A watch as the client library holds it (the C client's node, exist and child watchers).
    /// The server keeps `data` and `exist` in one table, as ZooKeeper's `dataWatches`.
    struct Watch: Hashable, Comparable {
        enum Kind: Int, Comparable {
            case data, exist, child
            static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
        }
        let path: String
        let kind: Kind
        static func < (a: Watch, b: Watch) -> Bool { (a.path, a.kind) < (b.path, b.kind) }
    }

    /// A class, so that reading a session's state copies nothing (this runs on every step).
    private final class Session {
        let timeout: Int64
        var lastHeard: Int64
        var connection = Connection.connected
        var aliveOnServer = true
        var toServer: [(id: RequestID, request: Request)] = []
        var toClient: [Message] = []
        /// Armed by a watching read's reply, disarmed by an event, as the client receives them;
        /// re-sent to the server on reconnection (ZooKeeper's SetWatches).
        var clientWatches: Set<Watch> = []
        /// The highest zxid the client has received: SetWatches' `relativeZxid`.
        var lastZxidSeen: Int64 = 0
        /// Paths where the server holds a watch of this session.
        var serverWatchPaths: Set<String> = []

        init(timeout: Int64, lastHeard: Int64) {
            self.timeout = timeout
            self.lastHeard = lastHeard
        }
    }

    /// The current time, in milliseconds.
    private(set) var now: Int64 = 0
    /// Until when the server is stalled (a long pause of its process, a disk that does not
    /// answer): it applies nothing, hears from no one, answers no connection and expires no
    /// session; once it resumes, every session it has not heard from for its timeout expires.
    private(set) var stalledUntil: Int64 = 0
    /// Until when the server refuses every write (cut off from its quorum, in read-only mode).
    private(set) var refusingWritesUntil: Int64 = 0
    var isStalled: Bool { now < stalledUntil }
    /// The zxid of the last transaction.
    private(set) var zxid: Int64 = 0
    /// Receives one line per server event (transaction, watch fired, session event).
    var trace: ((String) -> Void)?
    /// Receives every request the server applies, with its session.
    var served: ((SessionID, Request) -> Void)?

    private var tree = DataTree()
    private var sessions: [Session] = []  // session id n at index n - 1
    /// Sessions that may still have work: not ended, or with messages left for the client.
    /// Sorted, so that listing pending deliveries needs no sort.
    private var active: [SessionID] = []
    /// The server's watch tables: path -> session -> kinds.
    private var watches: [String: [SessionID: Set<Watch.Kind>]] = [:]
    private var lastRequestID: RequestID = 0

    // MARK: Sessions and time

    /// Opens a connected session (a transaction, as in ZooKeeper). Ids are 1, 2, 3...
    func openSession(timeout: Int64) -> SessionID {
        zxid += 1
        sessions.append(Session(timeout: timeout, lastHeard: now))
        let id = SessionID(sessions.count)
        active.append(id)
        log("zxid=\(zxid) s\(id) opened, timeout \(timeout) ms")
        return id
    }

    /// Stalls the server until `time` (see `stalledUntil`).
    func stall(until time: Int64) {
        stalledUntil = time
        log("server stalled until \(time) ms")
    }

    /// Makes the server refuse writes until `time` (see `refusingWritesUntil`).
    func refuseWrites(until time: Int64) {
        refusingWritesUntil = time
        log("server refuses writes until \(time) ms")
    }

    /// The server hears a ping from a connected session: its timeout starts again.
    func heartbeat(_ id: SessionID) {
        if self[id].connection == .connected { self[id].lastHeard = now }
    }

    /// Moves time forward and expires, in order of deadline, every session the server has not
    /// heard from for its timeout: one transaction each, deleting all its ephemeral nodes. A
    /// connected client is cut off (the server closes the connection: what was in flight to the
    /// client still arrives, its requests in flight fail with `connectionLoss`); it learns that
    /// its session expired only when it reconnects, as a ZooKeeper client does.
    func advanceTime(to time: Int64) {
        precondition(time >= now, "time goes forward")
        now = time
        guard !isStalled else { return }
        let due = active.filter { self[$0].aliveOnServer && self[$0].lastHeard + self[$0].timeout <= now }
            .sorted { (self[$0].lastHeard + self[$0].timeout, $0) < (self[$1].lastHeard + self[$1].timeout, $1) }
        for id in due {
            endSession(id, "expired")
            if self[id].connection == .connected { disconnect(id, dropInFlight: false) }
        }
    }

    /// Drops a connected session's connection. Of the requests in flight to the server, the
    /// first `applied` reach it (FIFO: only a prefix can); the server drops the session's
    /// watches; messages in flight to the client are lost, and the client gets `.disconnected`
    /// and then `connectionLoss` for every request it has no reply to.
    func loseConnection(_ id: SessionID, applied: Int) {
        guard self[id].connection == .connected else { return }
        precondition(applied <= self[id].toServer.count)
        for _ in 0..<(isStalled ? 0 : applied) where self[id].connection == .connected { deliverToServer(id) }
        guard self[id].connection == .connected else { return }  // a close among them ended it
        log("s\(id) connection lost after \(applied) request(s) applied")
        disconnect(id, dropInFlight: true)
    }

    /// `loseConnection(_:applied:)` with the number applied drawn from `generator`.
    func loseConnection(_ id: SessionID, using generator: inout some RandomNumberGenerator) {
        loseConnection(id, applied: Int.random(in: 0...self[id].toServer.count, using: &generator))
    }

    /// A disconnected client reconnects. If its session lives, the server hears from it and
    /// re-registers the watches the client holds, firing at once those whose node changed
    /// since the last zxid the client saw (ZooKeeper's SetWatches). If not, the client learns
    /// that its session is over, and requests it queued meanwhile fail with `sessionExpired`.
    func reconnect(_ id: SessionID) {
        guard self[id].connection == .disconnected, !isStalled else { return }
        guard self[id].aliveOnServer else {
            self[id].connection = .ended
            self[id].toClient.append(.sessionEnded(.expired))
            failQueuedRequests(id)
            return
        }
        self[id].connection = .connected
        self[id].lastHeard = now
        self[id].toClient.append(.reconnected)
        log("s\(id) reconnected")
        restoreWatches(id)
    }

    // MARK: The network

    /// Queues a request on the session's connection. A client whose session is over gets
    /// `sessionExpired` at once; a disconnected one sends it after reconnecting.
    func send(_ request: Request, from id: SessionID) -> RequestID {
        lastRequestID += 1
        if self[id].connection == .ended {
            self[id].toClient.append(.reply(Reply(id: lastRequestID, request: request, result: .failure(.sessionExpired))))
            if !active.contains(id) { active.insert(id, at: active.firstIndex { $0 > id } ?? active.endIndex) }
        } else {
            self[id].toServer.append((lastRequestID, request))
        }
        return lastRequestID
    }

    /// What can be delivered next, by session id: heads of connected sessions' request FIFOs,
    /// and of every client FIFO that is not empty.
    var pendingDeliveries: [Delivery] {
        var deliveries: [Delivery] = []
        for id in active {
            let session = self[id]
            if session.connection == .connected, !session.toServer.isEmpty, !isStalled { deliveries.append(Delivery(session: id, direction: .toServer)) }
            if !session.toClient.isEmpty { deliveries.append(Delivery(session: id, direction: .toClient)) }
        }
        return deliveries
    }

    /// The server receives and applies the session's oldest request in flight, atomically;
    /// watch events it fires and then its reply go onto the clients' FIFOs.
    func deliverToServer(_ id: SessionID) {
        precondition(self[id].connection == .connected && !self[id].toServer.isEmpty, "nothing to deliver")
        let (requestID, request) = self[id].toServer.removeFirst()
        self[id].lastHeard = now
        served?(id, request)
        var reply = serve(request, id: requestID, from: id)
        reply.zxid = zxid
        log("zxid=\(zxid) s\(id) #\(requestID) \(request) -> \(reply.result)\(reply.failedOp.map { " at op \($0)" } ?? "")")
        self[id].toClient.append(.reply(reply))
        if request == .close {
            self[id].connection = .ended
            failQueuedRequests(id)
            self[id].toClient.append(.sessionEnded(.closed))
        }
    }

    /// The client receives the oldest message in flight to it.
    func deliverToClient(_ id: SessionID) -> Message {
        let message = self[id].toClient.removeFirst()
        switch message {
        case let .reply(reply):
            if let zxid = reply.zxid { self[id].lastZxidSeen = max(self[id].lastZxidSeen, zxid) }
            if let watch = Self.watchArmed(by: reply) { self[id].clientWatches.insert(watch) }
        case let .event(event):
            self[id].lastZxidSeen = max(self[id].lastZxidSeen, event.zxid)
            for kind in Self.kindsFired(by: event.kind) { self[id].clientWatches.remove(Watch(path: event.path, kind: kind)) }
        case .disconnected, .reconnected, .sessionEnded:
            break
        }
        if self[id].connection == .ended, self[id].toClient.isEmpty { active.removeAll { $0 == id } }
        return message
    }

    // MARK: Inspection

    /// A node's data and stat, for invariant checks.
    func node(_ path: String) -> (data: [UInt8], stat: Stat)? { tree.nodes[path].map { ($0.data, $0.stat) } }

    /// A node's children, sorted.
    func children(of path: String) -> [String] { (tree.nodes[path]?.children ?? []).sorted() }

    func connection(of id: SessionID) -> Connection { self[id].connection }

    /// Whether the server still holds the session (its ephemeral nodes exist).
    func isAlive(_ id: SessionID) -> Bool { self[id].aliveOnServer }

    /// The sessions the server holds a data or exist watch of on `path`.
    func dataWatchers(of path: String) -> [SessionID] {
        (watches[path] ?? [:]).filter { !$0.value.isDisjoint(with: [.data, .exist]) }.keys.sorted()
    }

    /// The sessions watching `path`'s children.
    func childWatchers(of path: String) -> [SessionID] {
        (watches[path] ?? [:]).filter { $0.value.contains(.child) }.keys.sorted()
    }

    /// The whole tree, one node a line in path order, for failure traces.
    func dump() -> String {
        tree.nodes.keys.sorted().map { path in
            let node = tree.nodes[path]!, stat = node.stat
            let owner = stat.ephemeralOwner == 0 ? "" : " ephemeral(s\(stat.ephemeralOwner))"
            return "\(path) v\(stat.version) cv\(stat.cversion) czxid=\(stat.czxid) mzxid=\(stat.mzxid) pzxid=\(stat.pzxid)\(owner) \"\(String(decoding: node.data, as: UTF8.self))\""
        }.joined(separator: "\n")
    }

    // MARK: The server

    private subscript(id: SessionID) -> Session { sessions[Int(id) - 1] }

    private func serve(_ request: Request, id: RequestID, from session: SessionID) -> Reply {
        func reply(_ result: Result<Response, Code>) -> Reply { Reply(id: id, request: request, result: result) }
        func write(_ op: Op) -> Reply { reply(transact([op], by: session).result.map { Response($0[0]) }) }
        if now < refusingWritesUntil {
            switch request {
            case .create, .delete, .setData: return reply(.failure(.notReadOnly))
            case .multi: return reply(.failure(.notReadOnly))  // the whole request, no op of it
            default: break
            }
        }
        switch request {
        case let .create(path, data, mode):
            return reply(transact([.create(path, data, mode)], by: session).result.map { results in
                guard case let .created(made) = results[0] else { return Response(results[0]) }
                return .created(made, czxid: tree.nodes[made]?.stat.czxid ?? 0)
            })
        case let .delete(path, version):
            return write(.delete(path, version: version))
        case let .setData(path, data, version):
            return write(.setData(path, data, version: version))
        case let .multi(ops):
            let (result, failedOp) = transact(ops, by: session)
            return Reply(id: id, request: request, result: result.map { .multi($0) }, failedOp: failedOp)
        case let .getData(path, watch):
            guard let node = tree.nodes[path] else { return reply(.failure(.noNode)) }
            if watch { register(Watch(path: path, kind: .data), for: session) }
            return reply(.success(.data(node.data, node.stat)))
        case let .exists(path, watch):
            let stat = tree.nodes[path]?.stat
            if watch { register(Watch(path: path, kind: stat == nil ? .exist : .data), for: session) }
            return reply(.success(.exists(stat)))
        case let .getChildren(path, watch):
            guard let node = tree.nodes[path] else { return reply(.failure(.noNode)) }
            if watch { register(Watch(path: path, kind: .child), for: session) }
            return reply(.success(.children(node.children.sorted(), node.stat)))
        case .sync:
            return reply(.success(.synced))
        case .close:
            endSession(session, "closed")
            return reply(.success(.closed))
        }
    }

    /// One write transaction. Like ZooKeeper, a failed write still consumes a zxid (its error
    /// transaction), and a failed multi leaves the tree exactly as it was.
    private func transact(_ ops: [Op], by session: SessionID) -> (result: Result<[OpResult], Code>, failedOp: Int?) {
        zxid += 1
        var txn = DataTree.Transaction(zxid: zxid, session: session)
        var results: [OpResult] = []
        for (index, op) in ops.enumerated() {
            do throws(Code) {
                results.append(try tree.apply(op, in: &txn))
            } catch {
                tree.rollback(txn)
                return (.failure(error), index)
            }
        }
        fire(txn.changes)
        return (.success(results), nil)
    }

    /// The server side of a session's end (expiry or close): its watches are dropped, and one
    /// transaction deletes all its ephemeral nodes, firing other sessions' watches.
    private func endSession(_ id: SessionID, _ reason: String) {
        dropServerWatches(id)
        self[id].aliveOnServer = false
        zxid += 1
        var txn = DataTree.Transaction(zxid: zxid, session: id)
        let ephemerals = tree.ephemeralNodes(of: id)
        for path in ephemerals { _ = try! tree.apply(.delete(path, version: -1), in: &txn) }
        log("zxid=\(zxid) s\(id) \(reason), deleted \(ephemerals)")
        fire(txn.changes)
    }

    /// The client side of a dropped connection. The server closed it on expiry after sending
    /// what was in flight (`dropInFlight` false), or it broke and that was lost (true).
    private func disconnect(_ id: SessionID, dropInFlight: Bool) {
        dropServerWatches(id)
        var lost: [(id: RequestID, request: Request)] = []
        if dropInFlight {
            for case let .reply(reply) in self[id].toClient { lost.append((reply.id, reply.request)) }
            self[id].toClient = []
        }
        lost += self[id].toServer
        self[id].toServer = []
        self[id].connection = .disconnected
        self[id].toClient.append(.disconnected)
        for (requestID, request) in lost {
            self[id].toClient.append(.reply(Reply(id: requestID, request: request, result: .failure(.connectionLoss))))
        }
    }

    private func failQueuedRequests(_ id: SessionID) {
        for (requestID, request) in self[id].toServer {
            self[id].toClient.append(.reply(Reply(id: requestID, request: request, result: .failure(.sessionExpired))))
        }
        self[id].toServer = []
    }

    /// ZooKeeper's SetWatches, as in DataTree.setWatches.
    private func restoreWatches(_ id: SessionID) {
        let seen = self[id].lastZxidSeen
        var sent: Set<String> = []
        for watch in self[id].clientWatches.sorted() {
            let stat = tree.nodes[watch.path]?.stat
            let kind: EventKind? = switch watch.kind {
            case .data: stat == nil ? .nodeDeleted : stat!.mzxid > seen ? .nodeDataChanged : nil
            case .exist: stat != nil ? .nodeCreated : nil
            case .child: stat == nil ? .nodeDeleted : stat!.pzxid > seen ? .nodeChildrenChanged : nil
            }
            if let kind {
                if sent.insert("\(kind) \(watch.path)").inserted { notify(id, WatchEvent(kind: kind, path: watch.path, zxid: zxid)) }
            } else {
                register(watch, for: id)
            }
        }
    }

    /// One watch per (session, path, table): a data watch and an exist watch replace each other.
    private func register(_ watch: Watch, for id: SessionID) {
        var kinds = watches[watch.path]?[id] ?? []
        if watch.kind != .child { kinds.subtract([.data, .exist]) }
        kinds.insert(watch.kind)
        watches[watch.path, default: [:]][id] = kinds
        self[id].serverWatchPaths.insert(watch.path)
    }

    private func dropServerWatches(_ id: SessionID) {
        for path in self[id].serverWatchPaths {
            watches[path]?[id] = nil
            if watches[path]?.isEmpty == true { watches[path] = nil }
        }
        self[id].serverWatchPaths = []
    }

    /// Fires the watches a committed transaction's changes trigger, each once: a session with
    /// both a data and a child watch on a deleted node gets one `nodeDeleted`, as in ZooKeeper.
    private func fire(_ changes: [(kind: EventKind, path: String)]) {
        for (kind, path) in changes {
            guard let watchers = watches[path] else { continue }
            let triggered = Self.kindsFired(by: kind)
            for id in watchers.keys.sorted() {
                let kinds = watchers[id]!
                guard !kinds.isDisjoint(with: triggered) else { continue }
                let remaining = kinds.subtracting(triggered)
                watches[path]![id] = remaining.isEmpty ? nil : remaining
                if remaining.isEmpty { self[id].serverWatchPaths.remove(path) }
                notify(id, WatchEvent(kind: kind, path: path, zxid: zxid))
            }
            if watches[path]!.isEmpty { watches[path] = nil }
        }
    }

    private func notify(_ id: SessionID, _ event: WatchEvent) {
        log("zxid=\(event.zxid) s\(id) <- \(event.kind) \(event.path)")
        self[id].toClient.append(.event(event))
    }

    /// The watch kinds an event consumes (the C client's `collectWatchers`).
    private static func kindsFired(by kind: EventKind) -> Set<Watch.Kind> {
        switch kind {
        case .nodeCreated, .nodeDataChanged: [.data, .exist]
        case .nodeChildrenChanged: [.child]
        case .nodeDeleted: [.data, .exist, .child]
        }
    }

    /// The watch a reply arms on the client: only a successful watching read (or `exists`
    /// finding no node) arms one.
    private static func watchArmed(by reply: Reply) -> Watch? {
        switch (reply.request, reply.result) {
        case let (.getData(path, true), .success): Watch(path: path, kind: .data)
        case let (.exists(path, true), .success(.exists(stat))): Watch(path: path, kind: stat == nil ? .exist : .data)
        case let (.getChildren(path, true), .success): Watch(path: path, kind: .child)
        default: nil
        }
    }

    private func log(_ line: @autoclosure () -> String) {
        if let trace { trace("t=\(now) \(line())") }
    }
}
