import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Concurrent writers while members churn: no add or remove is ever lost (spec §5).
    @Suite(.serialized) struct WriterFaultTests {
        /// One writer's operations: `add` or `remove` of one partition of its own topic, so that
        /// the final set does not depend on how writers interleave, only on whether each write
        /// took effect. A failed write (the member is down, not connected) is retried until it
        /// succeeds; add and remove are idempotent, so a retry of a write that did go through
        /// changes nothing.
        static func operations(topic: String, count: Int) -> [(command: String, spec: String)] {
            var operations: [(String, String)] = []
            for id in 0..<count {
                operations.append(("add", "\(topic):\(id)"))
                if id % 3 == 2 { operations.append(("remove", "\(topic):\(id - 1)")) }
            }
            return operations
        }

        /// What a writer's operations leave in the set.
        static func outcome(_ operations: [(command: String, spec: String)]) -> Set<String> {
            var set: Set<String> = []
            for operation in operations {
                if operation.command == "add" { set.insert(operation.spec) } else { set.remove(operation.spec) }
            }
            return set
        }

        @Test(.timeLimit(.minutes(2))) func concurrentWritersWhileMembersChurnLoseNothing() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(
                zk: server.connectString, arguments: ["--session-timeout", "1500", "--strategy", "round-robin"])
            try cluster.start("a", ["--partitions", "t:0-5"])
            try cluster.start("b")
            try cluster.start("c")
            try await cluster.waitForAgreement(partitions: partitionNames("t", 0..<6))

            // Writers through the sockets of different members, each on its own thread (a
            // blocking child process each), plus one kiel peer writing under the kazoo lock.
            let writers = 9
            let perWriter = 9
            let finished = Shared(0)
            let failures = Shared<[String]>([])
            let attempts = Shared(0)
            var expected = partitionNames("t", 0..<6)
            for index in 0..<writers {
                let member = ["a", "b", "c"][index % 3]
                let socket = cluster[member].socket  // the folder, hence the socket path, survives restarts
                let operations = Self.operations(topic: "w\(index)", count: perWriter)
                expected.formUnion(Self.outcome(operations))
                Thread {
                    defer { finished.update { $0 += 1 } }
                    for operation in operations {
                        let deadline = ContinuousClock.now + .seconds(30)
                        while true {
                            attempts.update { $0 += 1 }
                            let result = try? runBlocking(productsDirectory.appendingPathComponent("allocatorctl").path, [
                                "--socket", socket, operation.command, operation.spec,
                            ])
                            if result?.status == 0 { break }
                            if ContinuousClock.now > deadline {
                                failures.update { $0.append("\(operation) via \(member): \(result?.errors ?? "allocatorctl did not start")") }
                                return
                            }
                            usleep(50_000)
                        }
                    }
                }.start()
            }
            let kiel = try await KielPeer(connectString: server.connectString, group: cluster.group, member: "kiel")
            let kielOperations = Self.operations(topic: "k", count: 6)
            expected.formUnion(Self.outcome(kielOperations))
            let kielWrites = Task {
                for operation in kielOperations {
                    let deadline = ContinuousClock.now + .seconds(30)
                    while true {
                        do {
                            try await kiel.send("\(operation.command) \(operation.spec)")
                            break
                        } catch {
                            if ContinuousClock.now > deadline { throw error }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }

            // Churn meanwhile: kill -9 of b and, once its session has expired (the others
            // rebalanced without it), a new b; SIGTERM of c and at once a new c.
            cluster["b"].signal(SIGKILL)
            _ = await cluster["b"].waitForExit()
            try await cluster["a"].waitForFile("a without b") { !$0.members.contains("b") }
            try cluster.start("b")
            try await cluster["b"].waitForFile("b active again") { $0.state == .active }
            cluster["c"].signal(SIGTERM)
            _ = await cluster["c"].waitForExit()
            try cluster.start("c")

            try await kielWrites.value
            #expect(await eventually(timeout: .seconds(60)) { finished.value == writers })
            #expect(failures.value.isEmpty, "\(failures.value)")
            await kiel.stop()

            let settled = try await cluster.waitForAgreement(partitions: expected, timeout: .seconds(60), "the final set")
            // The set as stored, read through a member, is exactly what the writes imply.
            let socket = cluster["a"].socket
            let listed = try #require(await RawSocket.command("partitions", to: socket))
            struct Listed: Decodable { var partitions: [String] }
            let stored = try JSONDecoder().decode(Listed.self, from: Data(listed.utf8))
            #expect(Set(stored.partitions) == expected)
            #expect(stored.partitions.count == expected.count)
            await cluster.stopAll()
            cluster.expectNoOverlap(
                "\(writers) allocatorctl writers + 1 kiel writer while members churn", settledAt: settled, partitions: expected,
                lostUpdates: "none (\(expected.count) partitions as the \(writers * perWriter + kielOperations.count) writes imply; \(attempts.value) attempts)")
        }
    }
}
