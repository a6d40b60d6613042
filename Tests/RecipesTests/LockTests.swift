@testable import Recipes
import Testing
import TestSupport
import ZooKeeper

@Suite struct LockTests {
    @Test func contendersAreNamedAsKazooNamesThem() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let lock = Lock(client: zk, path: root + "/lock")
        try await lock.withLock { () async throws -> Void in
            let names = try await zk.children(root + "/lock").names
            #expect(names.count == 1)
            // kazoo: uuid4().hex + "__lock__", ephemeral sequential.
            let name = try #require(names.first)
            #expect(name.utf8.count == 32 + 8 + 10)
            #expect(name.prefix(32).allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect(name.dropFirst(32).hasPrefix("__lock__0000000000"))
            #expect(try await zk.exists(root + "/lock/" + name)?.ephemeralOwner == zk.status.session?.id)
        }
        #expect(try await zk.children(root + "/lock").names.isEmpty)
    }

    @Test func sequencesAreReadAsKazooReadsThem() {
        #expect(Lock.sequence(of: "0123456789abcdef0123456789abcdef__lock__0000000042") == "0000000042")
        #expect(Lock.sequence(of: "anything__lock__-2147483648") == "-2147483648")
        #expect(Lock.sequence(of: "x__lock__000000042") == nil)
        #expect(Lock.sequence(of: "x__lock__00000000421") == nil)
        #expect(Lock.sequence(of: "x__rlock__0000000042") == nil)
        #expect(Lock.sequence(of: "lock-0000000042") == nil)
    }

    @Test func waitsForAForeignContenderWithALowerSequence() async throws {
        let server = try await TestZooKeeper.shared.value
        let holder = try await server.client()
        let zk = try await server.client()
        defer { Task { await holder.close(); await zk.close() } }
        let root = uniquePath()
        try await holder.create(root)
        try await holder.create(root + "/lock")
        // Another client (kiel, through kazoo) holds the lock.
        let foreign = try await holder.create(
            root + "/lock/ffffffffffffffffffffffffffffffff__lock__", mode: .ephemeralSequential)

        let acquired = Shared(false)
        let waiting = Task {
            try await Lock(client: zk, path: root + "/lock").withLock { acquired.update { $0 = true } }
        }
        // Our contender queues behind the foreign one and waits.
        #expect(try await eventually { try await zk.children(root + "/lock").names.count == 2 })
        #expect(!acquired.value)
        try await holder.delete(foreign)
        _ = try await waiting.value
        #expect(acquired.value)
    }

    @Test func excludesConcurrentHolders() async throws {
        let server = try await TestZooKeeper.shared.value
        let root = uniquePath()
        var connecting: [ZooKeeperClient] = []
        for _ in 0..<5 { connecting.append(try await server.client()) }
        let clients = connecting
        defer { Task { for client in clients { await client.close() } } }
        try await clients[0].create(root, data: Array("0".utf8))
        let inside = Shared(0)
        let mostInside = Shared(0)

        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask {
                    let lock = Lock(client: client, path: root + "/lock")
                    for _ in 0..<4 {
                        try await lock.withLock {
                            let now = inside.update { $0 += 1 }
                            mostInside.update { $0 = max($0, now) }
                            // An unconditional read-modify-write: only the lock keeps it correct.
                            let value = Int(String(decoding: try await client.getData(root).data, as: UTF8.self))!
                            try await Task.sleep(for: .milliseconds(2))
                            try await client.setData(root, Array(String(value + 1).utf8))
                            inside.update { $0 -= 1 }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(mostInside.value == 1)
        #expect(String(decoding: try await clients[0].getData(root).data, as: UTF8.self) == "20")
    }

    @Test func cancellingAWaiterRemovesItsContender() async throws {
        let server = try await TestZooKeeper.shared.value
        let holder = try await server.client()
        let zk = try await server.client()
        defer { Task { await holder.close(); await zk.close() } }
        let root = uniquePath()
        try await holder.create(root)
        let lock = Lock(client: holder, path: root + "/lock")
        try await lock.withLock { () async throws -> Void in
            let waiting = Task { try await Lock(client: zk, path: root + "/lock").withLock {} }
            #expect(try await eventually { try await zk.children(root + "/lock").names.count == 2 })
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(try await zk.children(root + "/lock").names.count == 1)
        }
    }
}
