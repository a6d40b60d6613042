import Testing
import TestSupport
import ZooKeeper

/// Every operation of the client against a real server.
@Suite struct OperationTests {
    @Test func createGetSetDeleteRoundTrip() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()

        #expect(try await zk.exists(root) == nil)
        let created = try await zk.create(root, data: Array("hello".utf8))
        #expect(created == root)

        let node = try await zk.getData(root)
        #expect(node.data == Array("hello".utf8))
        #expect(node.stat.version == 0)
        #expect(node.stat.dataLength == 5)
        #expect(node.stat.ephemeralOwner == 0)

        let stat = try await zk.setData(root, Array("world".utf8), version: 0)
        #expect(stat.version == 1)
        #expect(try await zk.exists(root)?.version == 1)
        #expect(try await zk.getData(root).data == Array("world".utf8))

        try await zk.delete(root, version: 1)
        #expect(try await zk.exists(root) == nil)
    }

    /// `ensurePath` makes every missing ancestor, and asks once when the path is there: every
    /// member's start ensures its group's paths (walking from the root each time cost 14
    /// requests a join instead of 4). Counted by a proxy that reads the client's requests.
    @Test func ensurePathMakesAncestorsAndAsksOnceWhenThePathIsThere() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try ZooKeeperProxy(port: server.firstPort)
        defer { proxy.stop() }
        let zk = try await server.client(through: proxy)
        defer { Task { await zk.close() } }
        let root = uniquePath()
        let path = root + "/a/b/c"
        try await zk.ensurePath(path)
        for made in [root, root + "/a", root + "/a/b", path] {
            #expect(try await zk.getData(made).data == [], "\(made)")
        }
        let before = proxy.requests.count
        try await zk.ensurePath(path)
        // Only `exists` of the path itself (sent again, should the connection drop meanwhile),
        // none of its ancestors, no `create`; the client's pings (type 11) and heartbeats
        // (`exists` of "/", which a walk never asks) aside.
        let asked = proxy.requests.dropFirst(before).filter { $0.type != 11 && $0.path != "/" }
        #expect(!asked.isEmpty && asked.allSatisfy { $0.type == 3 && $0.path == path }, "\(asked)")
    }

    @Test func emptyAndBinaryDataSurvive() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        #expect(try await zk.getData(root).data == [])
        let binary: [UInt8] = [0, 255, 1, 0, 128, 10]
        try await zk.setData(root, binary)
        #expect(try await zk.getData(root).data == binary)
    }

    @Test func errorsSayWhatFailedAndWhere() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()

        await #expect(throws: ZooKeeperError(code: .noNode, operation: "getData", path: root)) {
            try await zk.getData(root)
        }
        try await zk.create(root)
        await #expect(throws: ZooKeeperError(code: .nodeExists, operation: "create", path: root)) {
            try await zk.create(root)
        }
        try await zk.create(root + "/child")
        await #expect(throws: ZooKeeperError(code: .notEmpty, operation: "delete", path: root)) {
            try await zk.delete(root)
        }
        await #expect(throws: ZooKeeperError(code: .badVersion, operation: "setData", path: root)) {
            try await zk.setData(root, [1], version: 7)
        }
        await #expect(throws: ZooKeeperError(code: .noNode, operation: "create", path: root + "/missing/child")) {
            try await zk.create(root + "/missing/child")
        }
        let error = ZooKeeperError(code: .noNode, operation: "getData", path: "/x")
        #expect(error.description == "ZooKeeper getData /x: no node (-101)")
    }

    @Test func childrenComeWithTheParentsCversion() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let empty = try await zk.children(root)
        #expect(empty.names.isEmpty)
        #expect(empty.stat.cversion == 0)

        try await zk.create(root + "/b")
        try await zk.create(root + "/a")
        let two = try await zk.children(root)
        #expect(Set(two.names) == ["a", "b"])
        #expect(two.stat.cversion == 2)
        #expect(two.stat.numChildren == 2)

        try await zk.delete(root + "/a")
        #expect(try await zk.children(root).stat.cversion == 3)
    }

    @Test func sequentialNodesGetTenDigitSuffixes() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let first = try await zk.create(root + "/lock-", mode: .persistentSequential)
        let second = try await zk.create(root + "/lock-", mode: .ephemeralSequential)
        #expect(first == root + "/lock-0000000000")
        #expect(second == root + "/lock-0000000001")
        #expect(try await zk.exists(second)?.ephemeralOwner != 0)
    }

    @Test func ephemeralNodesGoWithTheirSession() async throws {
        let server = try await TestZooKeeper.shared.value
        let owner = try await server.client()
        let observer = try await server.client()
        defer { Task { await observer.close() } }
        let root = uniquePath()
        try await owner.create(root)
        try await owner.create(root + "/member", mode: .ephemeral)
        let session = try #require(owner.status.session)
        #expect(try await observer.exists(root + "/member")?.ephemeralOwner == session.id)

        await owner.close()
        // Closing ends the session on the server before close returns.
        #expect(try await observer.exists(root + "/member") == nil)
    }

    @Test func conditionalSetLosesARace() async throws {
        let server = try await TestZooKeeper.shared.value
        let first = try await server.client()
        let second = try await server.client()
        defer { Task { await first.close(); await second.close() } }
        let root = uniquePath()
        try await first.create(root, data: Array("[]".utf8))

        let readByFirst = try await first.getData(root)
        let readBySecond = try await second.getData(root)
        try await second.setData(root, Array("[\"b\"]".utf8), version: readBySecond.stat.version)
        await #expect(throws: ZooKeeperError(code: .badVersion, operation: "setData", path: root)) {
            try await first.setData(root, Array("[\"a\"]".utf8), version: readByFirst.stat.version)
        }
        #expect(try await first.getData(root).data == Array("[\"b\"]".utf8))
        await #expect(throws: ZooKeeperError(code: .badVersion, operation: "delete", path: root)) {
            try await first.delete(root, version: readByFirst.stat.version)
        }
    }

    @Test func chrootMakesEveryPathRelative() async throws {
        let server = try await TestZooKeeper.shared.value
        let plain = try await server.client()
        defer { Task { await plain.close() } }
        let chroot = uniquePath()
        try await plain.create(chroot)

        let rooted = try await server.client(chroot: chroot)
        defer { Task { await rooted.close() } }
        #expect(rooted.configuration.connectString.chroot == chroot)
        try await rooted.create("/groups", data: [7])
        #expect(try await plain.getData(chroot + "/groups").data == [7])
        #expect(try await rooted.children("/").names == ["groups"])

        let (_, watch) = try await rooted.childrenWatching("/groups")
        try await plain.create(chroot + "/groups/g1")
        let event = try await watch.fired()
        #expect(event == WatchedEvent(kind: .nodeChildrenChanged, path: "/groups"))
    }

    @Test func operationsAfterCloseFail() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        await zk.close()
        await zk.close()  // idempotent
        #expect(zk.status.state == .closed)
        await #expect(throws: ZooKeeperError(code: .closing, operation: "exists", path: "/")) {
            try await zk.exists("/")
        }
    }
}
