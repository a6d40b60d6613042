import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Faults of ZooKeeper itself: a 3-server ensemble of its own per test, members connected to
    /// all three servers.
    @Suite(.serialized) struct EnsembleFaultTests {
        static let sessionTimeout = ["--session-timeout", "2000"]
        let partitions = partitionNames("t", 0..<12)

        @Test(.timeLimit(.minutes(1))) func restartOfOneZooKeeperServer() async throws {
            let ensemble = try await TestZooKeeper.start(servers: 3)
            let cluster = try Cluster(zk: ensemble.connectString, arguments: Self.sessionTimeout + ["--partitions", "t:0-11"])
            defer { Task { try? await ensemble.stop() } }
            for name in ["a", "b", "c"] { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitions)

            // Restart every follower in turn, so that whichever servers the members picked, some
            // lose theirs and move to another within the session.
            let leader = try await ensemble.leader()
            for server in [1, 2, 3] where server != leader {
                try await ensemble.stopServer(server)
                try await cluster.waitForAgreement(partitions: partitions, "with server \(server) down")
                try await ensemble.startServer(server)
            }
            let settled = try await cluster.waitForAgreement(partitions: partitions, "after the restarts")
            await cluster.stopAll()
            try await ensemble.stop()
            cluster.expectNoOverlap("restart of ZooKeeper servers (each follower in turn)", settledAt: settled, partitions: partitions)
        }

        @Test(.timeLimit(.minutes(1))) func killOfTheEnsemblesLeader() async throws {
            let ensemble = try await TestZooKeeper.start(servers: 3)
            let cluster = try Cluster(zk: ensemble.connectString, arguments: Self.sessionTimeout + ["--partitions", "t:0-11"])
            defer { Task { try? await ensemble.stop() } }
            for name in ["a", "b", "c"] { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitions)

            let leader = try await ensemble.leader()
            try await ensemble.stopServer(leader, kill: true)
            // The two left elect a new leader; the members carry on (or lose and regain their
            // leases, never both holding a partition).
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(30), "after the leader's kill")
            try await ensemble.startServer(leader)
            let settled = try await cluster.waitForAgreement(partitions: partitions, "with the old leader back")
            await cluster.stopAll()
            try await ensemble.stop()
            cluster.expectNoOverlap("kill -9 of the ZooKeeper ensemble's leader", settledAt: settled, partitions: partitions)
        }
    }
}
