import Testing
import TestSupport
import ZooKeeper

/// One-shot watches, delivered as values.
@Suite struct WatchTests {
    /// A client that watches, one that writes, and a node the writer made (data `[1]`).
    func clientsOverANewNode() async throws -> (watcher: ZooKeeperClient, writer: ZooKeeperClient, root: String) {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let writer = try await server.client()
        let root = uniquePath()
        try await writer.create(root, data: [1])
        return (watcher, writer, root)
    }

    @Test func dataWatchFiresOnceOnChange() async throws {
        let (watcher, writer, root) = try await clientsOverANewNode()
        defer { Task { await watcher.close(); await writer.close() } }

        let (node, watch) = try await watcher.getDataWatching(root)
        #expect(node.data == [1])
        #expect(watch.path == root)
        try await writer.setData(root, [2])
        #expect(try await watch.fired() == WatchedEvent(kind: .nodeDataChanged, path: root))
        // A fired watch answers at once, again and again.
        #expect(try await watch.fired().kind == .nodeDataChanged)

        // A new read sets a new watch; deletion fires it.
        let (_, second) = try await watcher.getDataWatching(root)
        try await writer.delete(root)
        #expect(try await second.fired() == WatchedEvent(kind: .nodeDeleted, path: root))
    }

    /// ZooKeeper keeps one watch per client, path and kind, however many reads set it: the
    /// client too. A read of an unchanged node finds the watch set (`isNew` false), and the
    /// change fires it once for all; each read made a watch of its own, kept until the node
    /// changed, and the leader's full reads of unchanged nodes grew the client for good.
    @Test func readsOfAnUnchangedNodeShareOneWatch() async throws {
        let (watcher, writer, root) = try await clientsOverANewNode()
        defer { Task { await watcher.close(); await writer.close() } }

        let (_, first) = try await watcher.getDataWatching(root)
        #expect(first.isNew)
        var again: [Watch] = []
        for _ in 0..<50 { again.append(try await watcher.getDataWatching(root).1) }
        #expect(again.allSatisfy { !$0.isNew })
        let (_, children) = try await watcher.childrenWatching(root)
        #expect(children.isNew, "a children watch is another watch")
        let fired = Shared(0)
        first.onFire { _ in fired.update { $0 += 1 } }
        try await writer.setData(root, [2])
        #expect(try await again.last!.fired() == WatchedEvent(kind: .nodeDataChanged, path: root))
        #expect(fired.value == 1)
        let (_, next) = try await watcher.getDataWatching(root)
        #expect(next.isNew, "a fired watch is set anew by the next read")
    }

    /// What `Member` relies on to tell a session's end from two deletions apart: a handler given
    /// to `onFire` runs as the notification comes in, before the reply of any request sent
    /// after the change; here a session's two ephemeral nodes, under two parents, vanish in
    /// one transaction, and once a read shows one gone both handlers have run.
    @Test func handlersRunBeforeTheRepliesThatFollowTheirNotification() async throws {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let owner = try await server.client()
        defer { Task { await watcher.close() } }
        let root = uniquePath()
        try await owner.create(root)
        try await owner.create(root + "/members")
        try await owner.create(root + "/lock")
        try await owner.create(root + "/members/m", mode: .ephemeral)
        try await owner.create(root + "/lock/c", mode: .ephemeral)

        let heard = Shared<[String]>([])
        for parent in ["/members", "/lock"] {
            let (_, watch) = try await watcher.childrenWatching(root + parent)
            watch.onFire { event in heard.update { $0.append("\(event.kind) \(event.path.dropFirst(root.count))") } }
        }
        await owner.close()
        // The first read that shows the session over comes after both notifications.
        while try await watcher.exists(root + "/members/m") != nil {}
        #expect(Set(heard.value) == ["nodeChildrenChanged /members", "nodeChildrenChanged /lock"])
        // A handler given to a watch that has fired runs at once.
        let (_, fired) = try await watcher.existsWatching(root + "/late")
        try await watcher.create(root + "/late")
        _ = try await fired.fired()
        let late = Shared(false)
        fired.onFire { _ in late.update { $0 = true } }
        #expect(late.value)
    }

    @Test func existsWatchFiresOnCreation() async throws {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let writer = try await server.client()
        defer { Task { await watcher.close(); await writer.close() } }
        let root = uniquePath()

        let (stat, watch) = try await watcher.existsWatching(root)
        #expect(stat == nil)
        try await writer.create(root)
        #expect(try await watch.fired() == WatchedEvent(kind: .nodeCreated, path: root))
    }

    @Test func childWatchFiresOnChildChangesAndDeletion() async throws {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let writer = try await server.client()
        defer { Task { await watcher.close(); await writer.close() } }
        let root = uniquePath()
        try await writer.create(root)

        let (children, watch) = try await watcher.childrenWatching(root)
        #expect(children.names.isEmpty)
        try await writer.create(root + "/m1", mode: .ephemeral)
        #expect(try await watch.fired() == WatchedEvent(kind: .nodeChildrenChanged, path: root))

        // A change of a child's data is not a change of the children.
        let (_, second) = try await watcher.childrenWatching(root)
        try await writer.setData(root + "/m1", [1])
        try await writer.delete(root + "/m1")
        #expect(try await second.fired() == WatchedEvent(kind: .nodeChildrenChanged, path: root))

        let (_, third) = try await watcher.childrenWatching(root)
        try await writer.delete(root)
        #expect(try await third.fired() == WatchedEvent(kind: .nodeDeleted, path: root))
    }

    @Test func dataAndChildWatchesOnOnePathAreSeparate() async throws {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let writer = try await server.client()
        defer { Task { await watcher.close(); await writer.close() } }
        let root = uniquePath()
        try await writer.create(root)

        let (_, dataWatch) = try await watcher.getDataWatching(root)
        let (_, childWatch) = try await watcher.childrenWatching(root)
        try await writer.create(root + "/c")
        #expect(try await childWatch.fired().kind == .nodeChildrenChanged)
        try await writer.setData(root, [9])
        #expect(try await dataWatch.fired().kind == .nodeDataChanged)
    }

    @Test func waitingCanBeCancelledAndTheWatchStaysSet() async throws {
        let server = try await TestZooKeeper.shared.value
        let watcher = try await server.client()
        let writer = try await server.client()
        defer { Task { await watcher.close(); await writer.close() } }
        let root = uniquePath()
        try await writer.create(root)
        let (_, watch) = try await watcher.getDataWatching(root)

        let waiting = Task { try await watch.fired() }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }

        try await writer.setData(root, [1])
        #expect(try await watch.fired().kind == .nodeDataChanged)
    }

    @Test func closingFiresPendingWatchesWithSessionEnded() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        let root = uniquePath()
        try await zk.create(root)
        let (_, watch) = try await zk.getDataWatching(root)
        let waiting = Task { try await watch.fired() }
        await zk.close()
        #expect(try await waiting.value == WatchedEvent(kind: .sessionEnded, path: root))
    }
}
