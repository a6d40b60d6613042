import Testing
import TestSupport
import ZooKeeper

/// `multi` against a real server: all operations or none, and which one failed.
@Suite struct MultiTests {
    @Test func allOperationsApplyTogether() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        try await zk.create(root + "/old", data: Array("x".utf8))
        try await zk.create(root + "/lock")

        let results = try await zk.multi([
            .check(root + "/lock", version: -1),
            .create(root + "/new", data: Array("hello".utf8)),
            .create(root + "/seq-", data: [], mode: .persistentSequential),
            .setData(root + "/old", data: Array("y".utf8), version: 0),
            .delete(root + "/lock", version: 0),
        ])
        #expect(results.count == 5)
        #expect(results[0] == .checked)
        #expect(results[1] == .created(root + "/new"))
        #expect(results[2] == .created(root + "/seq-0000000003"))
        guard case .setData(let stat) = results[3] else { Issue.record("no stat: \(results[3])"); return }
        #expect(stat.version == 1)
        #expect(results[4] == .deleted)
        #expect(try await zk.getData(root + "/new").data == Array("hello".utf8))
        #expect(try await zk.getData(root + "/old").data == Array("y".utf8))
        #expect(try await zk.exists(root + "/lock") == nil)
    }

    /// The fence of protocol 2: a check of a node that is gone fails the whole transaction.
    @Test func aFailedCheckAppliesNothingAndSaysWhichOperation() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        try await zk.create(root + "/data", data: Array("before".utf8))

        await #expect(throws: ZooKeeperError(code: .noNode, operation: "multi", path: root + "/contender", failedOperation: 0)) {
            try await zk.multi([
                .check(root + "/contender", version: -1),
                .setData(root + "/data", data: Array("after".utf8), version: -1),
                .create(root + "/created", data: []),
            ])
        }
        #expect(try await zk.getData(root + "/data").data == Array("before".utf8))
        #expect(try await zk.exists(root + "/created") == nil)

        await #expect(throws: ZooKeeperError(code: .badVersion, operation: "multi", path: root + "/data", failedOperation: 1)) {
            try await zk.multi([
                .create(root + "/created", data: []),
                .setData(root + "/data", data: Array("after".utf8), version: 7),
            ])
        }
        #expect(try await zk.exists(root + "/created") == nil)
    }

    @Test func manyLargeOperationsInOneTransaction() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let data = [UInt8](repeating: 65, count: 20_000)
        let results = try await zk.multi((0..<40).map { .create(root + "/n\($0)", data: data) })
        #expect(results.count == 40)
        #expect(try await zk.children(root).names.count == 40)
        #expect(try await zk.getData(root + "/n39").data == data)
    }
}
