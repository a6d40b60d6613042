@testable import Recipes
import Foundation
import Testing
import TestSupport
import ZooKeeper

@Suite struct SharedSetTests {
    /// Accepts `topic:number` items, a stand-in for the allocator's partition rule.
    static let validate: @Sendable (String) -> String? = { item in
        let parts = item.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && Int(parts[1]) != nil ? nil : "not topic:number"
    }

    private func makeSet(_ zk: ZooKeeperClient, sizeLimit: Int = SharedSet.defaultSizeLimit) async throws -> SharedSet {
        let root = uniquePath()
        try await zk.create(root)
        return SharedSet(client: zk, path: root + "/partitions", sizeLimit: sizeLimit, validate: Self.validate)
    }

    @Test func addAndRemoveAreUnions() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk)
        #expect(try await set.read() == .init(contents: .valid([]), version: -1, size: 0))

        #expect(try await set.add(["t:1", "t:0"]) == ["t:0", "t:1"])
        #expect(try await set.add(["t:1", "t:10"]) == ["t:0", "t:1", "t:10"])
        #expect(try await set.remove(["t:0", "u:9"]) == ["t:1", "t:10"])
        let snapshot = try await set.read()
        #expect(snapshot.contents == .valid(["t:1", "t:10"]))
        // Compact JSON, in UTF-8 order.
        #expect(try await zk.getData(set.path).data == Array(#"["t:1","t:10"]"#.utf8))
        #expect(snapshot.size == 14)

        // Nothing to add or remove: no write, the version stays.
        let version = snapshot.version
        try await set.add(["t:1"])
        try await set.remove(["x:1"])
        #expect(try await set.read().version == version)
    }

    @Test func aChangeThatChangesNothingTakesNoLock() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk)
        try await set.add(["t:0", "t:1"])
        let lockChanges = try #require(try await zk.exists(set.lockPath)).cversion

        // A contender node made and deleted would count twice in the lock node's cversion.
        #expect(try await set.add(["t:1"]) == ["t:0", "t:1"])
        #expect(try await set.remove(["t:2"]) == ["t:0", "t:1"])
        #expect(try await zk.exists(set.lockPath)?.cversion == lockChanges)
        try await set.add(["t:2"])
        #expect(try await zk.exists(set.lockPath)?.cversion == lockChanges + 2)
    }

    @Test func readsWhatKielWrites() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk)
        try await zk.create(set.path, data: [])  // kazoo's ensure_path
        #expect(try await set.read().contents == .valid([]))
        try await zk.setData(set.path, Array(#"["t:10", "t:3", "u:1", "t:0"]"#.utf8))
        #expect(try await set.read().contents == .valid(["t:10", "t:3", "u:1", "t:0"]))
        try await zk.setData(set.path, Array("[\"t:1\",\n \"t:1\"]".utf8))
        #expect(try await set.read().contents == .valid(["t:1"]))
    }

    @Test(arguments: [
        ("not json", "not valid JSON"),
        (#"{"t:1": 1}"#, "not a JSON list of strings"),
        (#"["t:1", 2]"#, "not a JSON list of strings: element 1 is not a string"),
        (#"["t:1", null]"#, "not a JSON list of strings: element 1 is not a string"),
        (#"[null]"#, "not a JSON list of strings: element 0 is not a string"),
        (#""t:1""#, "not a JSON list of strings"),
        (#"["t:1", "t:x"]"#, "item \"t:x\": not topic:number"),
        ("[\"t:1\"", "not valid JSON"),
    ])
    func malformedDataIsReportedAndNeverOverwritten(data: String, reason: String) async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk)
        try await zk.create(set.path, data: Array(data.utf8))

        let snapshot = try await set.read()
        guard case .malformed(let found) = snapshot.contents else {
            Issue.record("parsed: \(snapshot.contents)")
            return
        }
        #expect(found.contains(reason))
        await #expect(throws: SharedSetError.malformed(path: set.path, reason: found)) { try await set.add(["t:2"]) }
        await #expect(throws: SharedSetError.malformed(path: set.path, reason: found)) { try await set.remove(["t:1"]) }
        #expect(try await zk.getData(set.path).data == Array(data.utf8))

        // Repair is conditional on the version of the bad data.
        await #expect(throws: SharedSetError.changedMeanwhile(path: set.path)) {
            try await set.repair(with: ["t:0"], malformedVersion: snapshot.version + 1)
        }
        try await set.repair(with: ["t:0"], malformedVersion: snapshot.version)
        #expect(try await set.read().contents == .valid(["t:0"]))
        await #expect(throws: SharedSetError.notMalformed(path: set.path)) {
            try await set.repair(with: [], malformedVersion: snapshot.version + 1)
        }
    }

    @Test func invalidItemsAreRefusedBeforeAnyWrite() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk)
        await #expect(throws: SharedSetError.invalidItem(item: "t:", reason: "not topic:number")) {
            try await set.add(["t:1", "t:"])
        }
        #expect(try await set.read().contents == .valid([]))
    }

    @Test func theSizeLimitIsEnforcedOnAdd() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let set = try await makeSet(zk, sizeLimit: 34)
        try await set.add(["t:1", "t:2", "t:3"])  // 19 bytes
        await #expect(throws: SharedSetError.tooLarge(path: set.path, size: 37, limit: 34)) {
            try await set.add(["t:4", "t:5", "t:6"])
        }
        #expect(try await set.read().contents == .valid(["t:1", "t:2", "t:3"]))
    }

    @Test func tenConcurrentWritersLoseNoUpdate() async throws {
        let server = try await TestZooKeeper.shared.value
        let root = uniquePath()
        let setup = try await server.client()
        defer { Task { await setup.close() } }
        try await setup.create(root)
        let path = root + "/partitions"

        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<10 {
                group.addTask {
                    let zk = try await server.client()
                    let set = SharedSet(client: zk, path: path, validate: Self.validate)
                    for round in 0..<5 {
                        // Each writer adds two of its own and removes one of them again.
                        try await set.add(["w\(writer):\(round)", "w\(writer):\(round + 100)"])
                        try await set.remove(["w\(writer):\(round + 100)"])
                    }
                    await zk.close()
                }
            }
            try await group.waitForAll()
        }
        let expected = Set((0..<10).flatMap { writer in (0..<5).map { "w\(writer):\($0)" } })
        let final = try await SharedSet(client: setup, path: path, validate: Self.validate).read()
        #expect(final.contents == .valid(expected))
        #expect(try await setup.children(path + "/lock").names.isEmpty)
    }

    @Test func writersThatSkipTheLockLoseNothingEither() async throws {
        let server = try await TestZooKeeper.shared.value
        let root = uniquePath()
        let setup = try await server.client()
        defer { Task { await setup.close() } }
        try await setup.create(root)
        let path = root + "/partitions"
        try await setup.create(path, data: Array("[]".utf8))

        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<3 {
                group.addTask {
                    let zk = try await server.client()
                    let set = SharedSet(client: zk, path: path, validate: Self.validate)
                    for item in 0..<15 { try await set.add(["locked\(writer):\(item)"]) }
                    await zk.close()
                }
            }
            for writer in 0..<2 {
                group.addTask {
                    // A careful writer without the lock: read, add, write conditionally, retry.
                    let zk = try await server.client()
                    for item in 0..<15 {
                        while true {
                            let node = try await zk.getData(path)
                            var items = try JSONDecoder().decode([String].self, from: Data(node.data))
                            items.append("free\(writer):\(item)")
                            do {
                                try await zk.setData(path, Array(try JSONEncoder().encode(items)), version: node.stat.version)
                                break
                            } catch let error as ZooKeeperError where error.code == .badVersion {
                                continue
                            }
                        }
                    }
                    await zk.close()
                }
            }
            try await group.waitForAll()
        }
        let expected = Set((0..<3).flatMap { w in (0..<15).map { "locked\(w):\($0)" } })
            .union((0..<2).flatMap { w in (0..<15).map { "free\(w):\($0)" } })
        #expect(try await SharedSet(client: setup, path: path, validate: Self.validate).read().contents == .valid(expected))
    }

    @Test func encodingEscapesWhatJSONNeeds() throws {
        #expect(SharedSet.encode([]) == Array("[]".utf8))
        let encoded = SharedSet.encode(["b", "a\"\\\n/é"])
        #expect(try JSONDecoder().decode([String].self, from: Data(encoded)) == ["a\"\\\n/é", "b"])
    }
}
