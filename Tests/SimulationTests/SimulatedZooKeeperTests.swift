import Testing
import TestSupport

private typealias ZK = SimulatedZooKeeper

/// The path a create's reply names, if it made one.
private func createdPath(_ result: Result<ZK.Response, ZK.Code>) -> String? {
    if case let .success(.created(path, _)) = result { path } else { nil }
}

/// Sends a request, has the server apply it, and returns the reply's result.
@discardableResult
private func call(_ zk: ZK, _ session: ZK.SessionID, _ request: ZK.Request) -> Result<ZK.Response, ZK.Code> {
    let id = zk.send(request, from: session)
    if zk.connection(of: session) == .connected { zk.deliverToServer(session) }
    guard case let .reply(reply) = receiveAll(zk, session).last, reply.id == id else { fatalError("no reply") }
    return reply.result
}

/// Everything in flight to the client, in order.
private func receiveAll(_ zk: ZK, _ session: ZK.SessionID) -> [ZK.Message] {
    var messages: [ZK.Message] = []
    while zk.pendingDeliveries.contains(ZK.Delivery(session: session, direction: .toClient)) {
        messages.append(zk.deliverToClient(session))
    }
    return messages
}

private func events(_ messages: [ZK.Message]) -> [String] {
    messages.compactMap { if case let .event(event) = $0 { "\(event.kind) \(event.path)" } else { nil } }
}

private let bytes: [UInt8] = Array("x".utf8)

@Test func sequentialSuffixCountsTheParentsCreations() {
    let zk = ZK()
    let s = zk.openSession(timeout: 10_000)
    call(zk, s, .create("/lock", [], .persistent))
    #expect(createdPath(call(zk, s, .create("/lock/c-", [], .ephemeralSequential))) == "/lock/c-0000000000")
    #expect(createdPath(call(zk, s, .create("/lock/c-", [], .persistentSequential))) == "/lock/c-0000000001")
    call(zk, s, .delete("/lock/c-0000000000", version: -1))
    // Deletions do not count in the suffix: it follows the last creation. They count in the
    // cversion, as ZooKeeper 3.8's stat shows (a create and a delete under a node make 2).
    #expect(createdPath(call(zk, s, .create("/lock/c-", [], .ephemeralSequential))) == "/lock/c-0000000002")
    // A create says which transaction made the node, as its stat does.
    #expect(call(zk, s, .create("/made", [], .persistent)) == .success(.created("/made", czxid: zk.node("/made")!.stat.czxid)))
    #expect(zk.node("/lock")?.stat.cversion == 4)
    #expect(zk.node("/lock")?.stat.numChildren == 2)
    #expect(zk.children(of: "/lock") == ["c-0000000001", "c-0000000002"])
}

@Test func writesFailWithZooKeepersCodes() {
    let zk = ZK()
    let s = zk.openSession(timeout: 10_000)
    #expect(call(zk, s, .create("/a/b", [], .persistent)) == .failure(.noNode))
    call(zk, s, .create("/a", [], .persistent))
    #expect(call(zk, s, .create("/a", [], .persistent)) == .failure(.nodeExists))
    call(zk, s, .create("/e", [], .ephemeral))
    #expect(call(zk, s, .create("/e/child", [], .persistent)) == .failure(.noChildrenForEphemerals))
    call(zk, s, .create("/a/b", [], .persistent))
    #expect(call(zk, s, .delete("/a", version: -1)) == .failure(.notEmpty))
    #expect(call(zk, s, .delete("/a/b", version: 3)) == .failure(.badVersion))
    #expect(call(zk, s, .getData("/nope", watch: true)) == .failure(.noNode))
    #expect(call(zk, s, .exists("/nope", watch: false)) == .success(.exists(nil)))
}

@Test func staleSetDataFailsWithBadVersionAndStillConsumesAZxid() {
    let zk = ZK()
    let s = zk.openSession(timeout: 10_000)
    call(zk, s, .create("/grant", [], .persistent))
    guard case let .success(.stat(stat)) = call(zk, s, .setData("/grant", bytes, version: 0)) else { Issue.record(); return }
    #expect(stat.version == 1 && stat.mzxid == zk.zxid && stat.czxid == zk.zxid - 1)
    let before = zk.zxid
    #expect(call(zk, s, .setData("/grant", [], version: 0)) == .failure(.badVersion))
    #expect(zk.zxid == before + 1)
    #expect(zk.node("/grant")?.data == bytes)
    guard case .success(.stat) = call(zk, s, .setData("/grant", [], version: -1)) else { Issue.record(); return }
}

@Test func expiryDeletesEphemeralsInOneTransactionAndFiresWatches() {
    let zk = ZK()
    let member = zk.openSession(timeout: 1_000), leader = zk.openSession(timeout: 1_000)
    call(zk, member, .create("/members", [], .persistent))
    call(zk, member, .create("/members/m", [], .ephemeral))
    call(zk, member, .create("/members/seq-", [], .ephemeralSequential))
    call(zk, leader, .getChildren("/members", watch: true))
    call(zk, leader, .exists("/members/m", watch: true))
    zk.advanceTime(to: 999)
    zk.heartbeat(leader)
    #expect(zk.isAlive(member))
    zk.advanceTime(to: 1_000)
    #expect(!zk.isAlive(member) && zk.isAlive(leader))
    #expect(zk.children(of: "/members").isEmpty)
    #expect(zk.node("/members")?.stat.pzxid == zk.zxid)
    let messages = receiveAll(zk, leader)
    #expect(events(messages) == ["nodeDeleted /members/m", "nodeChildrenChanged /members"])
    #expect(messages.allSatisfy { if case let .event(event) = $0 { event.zxid == zk.zxid } else { false } })
}

@Test func closeDeletesEphemeralsInOneTransactionAndEndsTheSession() {
    let zk = ZK()
    let s = zk.openSession(timeout: 10_000), watcher = zk.openSession(timeout: 10_000)
    call(zk, s, .create("/a", [], .ephemeral))
    call(zk, s, .create("/b", [], .ephemeral))
    call(zk, watcher, .getChildren("/", watch: true))
    let close = zk.send(.close, from: s), late = zk.send(.getData("/a", watch: false), from: s)
    zk.deliverToServer(s)
    #expect(receiveAll(zk, s) == [
        .reply(ZK.Reply(id: close, request: .close, result: .success(.closed), zxid: zk.zxid)),
        .reply(ZK.Reply(id: late, request: .getData("/a", watch: false), result: .failure(.sessionExpired))),
        .sessionEnded(.closed),
    ])
    #expect(zk.node("/a") == nil && zk.node("/b") == nil && zk.node("/")?.stat.pzxid == zk.zxid)
    #expect(events(receiveAll(zk, watcher)) == ["nodeChildrenChanged /"])  // once, for both
    #expect(call(zk, s, .exists("/a", watch: false)) == .failure(.sessionExpired))
}

@Test func everyWatchKindFiresOnceAndBeforeLaterReplies() {
    let zk = ZK()
    let writer = zk.openSession(timeout: 10_000), reader = zk.openSession(timeout: 10_000)
    call(zk, writer, .create("/a", [], .persistent))
    call(zk, reader, .getData("/a", watch: true))
    call(zk, reader, .exists("/a", watch: true))  // the same data watch: one event
    call(zk, reader, .exists("/b", watch: true))
    call(zk, reader, .getChildren("/", watch: true))
    let read = zk.send(.getData("/a", watch: false), from: reader)
    call(zk, writer, .setData("/a", bytes, version: -1))
    call(zk, writer, .setData("/a", [], version: -1))
    call(zk, writer, .create("/b", [], .persistent))
    call(zk, writer, .create("/c", [], .persistent))
    zk.deliverToServer(reader)
    let messages = receiveAll(zk, reader)
    #expect(events(messages) == ["nodeDataChanged /a", "nodeCreated /b", "nodeChildrenChanged /"])
    guard case let .reply(reply) = messages.last, reply.id == read, case let .success(.data(_, stat)) = reply.result else {
        Issue.record("the reply comes after the events"); return
    }
    #expect(stat.version == 2)
}

@Test func deletingANodeFiresOneEventForItsDataAndChildWatches() {
    let zk = ZK()
    let writer = zk.openSession(timeout: 10_000), reader = zk.openSession(timeout: 10_000)
    call(zk, writer, .create("/a", [], .persistent))
    call(zk, reader, .getData("/a", watch: true))
    call(zk, reader, .getChildren("/a", watch: true))
    call(zk, reader, .getChildren("/", watch: true))
    call(zk, writer, .delete("/a", version: 0))
    #expect(events(receiveAll(zk, reader)) == ["nodeDeleted /a", "nodeChildrenChanged /"])
    call(zk, writer, .create("/a", [], .persistent))
    #expect(events(receiveAll(zk, reader)).isEmpty)
}

@Test func multiIsAllOrNothingAndFencesALeaderWhoseNodeIsGone() {
    let zk = ZK()
    let leader = zk.openSession(timeout: 10_000), other = zk.openSession(timeout: 10_000)
    call(zk, leader, .create("/leader", [], .persistent))
    call(zk, leader, .create("/grants", [], .persistent))
    guard case let .success(.created(contender, _)) = call(zk, leader, .create("/leader/c-", [], .ephemeralSequential)) else { Issue.record(); return }
    let grant: ZK.Request = .multi([.check(contender, version: -1), .setData("/grants", bytes, version: -1)])
    guard case let .success(.multi(results)) = call(zk, leader, grant) else { Issue.record(); return }
    #expect(results.count == 2 && results[0] == .checked)
    // An operator deletes the contender node while the session lives: the leader's next write is fenced.
    call(zk, other, .exists("/x", watch: true))
    call(zk, other, .delete(contender, version: -1))
    let zxid = zk.zxid
    let fenced: ZK.Request = .multi([.create("/x", [], .persistent), .setData("/grants", [], version: -1), .check(contender, version: -1)])
    let id = zk.send(fenced, from: leader)
    zk.deliverToServer(leader)
    #expect(receiveAll(zk, leader) == [.reply(ZK.Reply(id: id, request: fenced, result: .failure(.noNode), failedOp: 2, zxid: zxid + 1))])
    #expect(zk.node("/x") == nil && zk.node("/grants")?.data == bytes && zk.node("/grants")?.stat.version == 1)
    #expect(events(receiveAll(zk, other)).isEmpty)  // nothing applied, nothing fired
    call(zk, leader, .create("/x", [], .persistent))
    #expect(events(receiveAll(zk, other)) == ["nodeCreated /x"])
}

@Test func connectionLossKeepsTheSessionAndItsWatches() {
    let zk = ZK()
    let s = zk.openSession(timeout: 1_000), writer = zk.openSession(timeout: 1_000)
    call(zk, s, .create("/e", [], .ephemeral))
    call(zk, s, .create("/a", [], .persistent))
    call(zk, s, .getData("/a", watch: true))
    let applied = zk.send(.create("/b", [], .persistent), from: s), notApplied = zk.send(.create("/c", [], .persistent), from: s)
    zk.loseConnection(s, applied: 1)
    #expect(receiveAll(zk, s) == [
        .disconnected,
        .reply(ZK.Reply(id: applied, request: .create("/b", [], .persistent), result: .failure(.connectionLoss))),
        .reply(ZK.Reply(id: notApplied, request: .create("/c", [], .persistent), result: .failure(.connectionLoss))),
    ])
    #expect(zk.node("/b") != nil && zk.node("/c") == nil)
    let queued = zk.send(.exists("/e", watch: false), from: s)  // waits for the reconnection
    #expect(!zk.pendingDeliveries.contains(ZK.Delivery(session: s, direction: .toServer)))
    call(zk, writer, .setData("/a", bytes, version: -1))  // fires while s is disconnected
    zk.advanceTime(to: 900)
    zk.reconnect(s)
    let messages = receiveAll(zk, s)
    #expect(messages.first == .reconnected && events(messages) == ["nodeDataChanged /a"])
    zk.deliverToServer(s)
    guard case let .reply(reply) = receiveAll(zk, s).first, reply.id == queued, case .success(.exists(.some)) = reply.result else {
        Issue.record("the session and its ephemeral node live"); return
    }
}

@Test func anExistsWatchSeesNoCreateAndDeleteThatHappenedWhileDisconnected() {
    let zk = ZK()
    let s = zk.openSession(timeout: 1_000), writer = zk.openSession(timeout: 1_000)
    call(zk, s, .exists("/x", watch: true))
    zk.loseConnection(s, applied: 0)
    call(zk, writer, .create("/x", [], .persistent))
    call(zk, writer, .delete("/x", version: -1))
    zk.reconnect(s)
    #expect(receiveAll(zk, s) == [.disconnected, .reconnected])  // SetWatches re-registers it
    call(zk, writer, .create("/x", [], .persistent))
    #expect(events(receiveAll(zk, s)) == ["nodeCreated /x"])
}

@Test func aSessionExpiresAfterItsTimeoutWithoutHeartbeats() {
    let zk = ZK()
    let s = zk.openSession(timeout: 1_000)
    call(zk, s, .create("/e", [], .ephemeral))
    zk.advanceTime(to: 600)
    zk.heartbeat(s)
    let inFlight = zk.send(.getData("/e", watch: false), from: s)
    zk.advanceTime(to: 1_599)
    #expect(zk.isAlive(s))
    zk.advanceTime(to: 1_600)
    #expect(!zk.isAlive(s) && zk.node("/e") == nil && zk.connection(of: s) == .disconnected)
    #expect(receiveAll(zk, s) == [.disconnected, .reply(ZK.Reply(id: inFlight, request: .getData("/e", watch: false), result: .failure(.connectionLoss)))])
    zk.reconnect(s)
    #expect(receiveAll(zk, s) == [.sessionEnded(.expired)])
    #expect(call(zk, s, .create("/e", [], .ephemeral)) == .failure(.sessionExpired))
    #expect(zk.pendingDeliveries.isEmpty)
}

/// A random workload run twice from one seed gives the same trace, line for line; along the
/// way every ephemeral node belongs to a live session.
@Test func aSeededRunIsReproducible() {
    func run(seed: UInt64) -> [String] {
        var random = SplitMix64(seed: seed)
        var lines: [String] = []
        let zk = ZK()
        zk.trace = { lines.append($0) }
        var sessions = (0..<4).map { _ in zk.openSession(timeout: 500) }
        let paths = ["/a", "/a/b", "/c", "/d"]
        for step in 0..<5_000 {
            let path = paths.randomElement(using: &random)!
            let session = sessions.randomElement(using: &random)!
            switch Int.random(in: 0..<12, using: &random) {
            case 0: _ = zk.send(.create(path, [], [.persistent, .ephemeral, .ephemeralSequential].randomElement(using: &random)!), from: session)
            case 1: _ = zk.send(.delete(path, version: -1), from: session)
            case 2: _ = zk.send(.multi([.check(path, version: 0), .setData(path, [UInt8(step & 0xFF)], version: -1)]), from: session)
            case 3: _ = zk.send(.getChildren(path, watch: true), from: session)
            case 4: _ = zk.send(.exists(path, watch: true), from: session)
            case 5: zk.loseConnection(session, using: &random)
            case 6: zk.reconnect(session)
            case 7: zk.advanceTime(to: zk.now + Int64.random(in: 0...100, using: &random))
            case 8 where zk.connection(of: session) == .ended: sessions[sessions.firstIndex(of: session)!] = zk.openSession(timeout: 500)
            default:
                for id in sessions { zk.heartbeat(id) }
                if let next = zk.pendingDeliveries.randomElement(using: &random) {
                    if next.direction == .toServer { zk.deliverToServer(next.session) } else { _ = zk.deliverToClient(next.session) }
                }
            }
            for path in paths {
                if let owner = zk.node(path)?.stat.ephemeralOwner, owner != 0 { #expect(zk.isAlive(owner)) }
            }
        }
        lines.append(zk.dump())
        return lines
    }
    let first = run(seed: 42)
    #expect(first.count > 1_000)
    #expect(first == run(seed: 42))
}

