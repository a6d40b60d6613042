import Allocator
import ControlProtocol
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Stopping a member at the worst moments: SIGTERM must always end the process, with
    /// `stopped` published and status 0 (spec §11).
    @Suite(.serialized) struct ShutdownFaultTests {
        /// Issue 14, item 7: a member joining a large group, sent SIGTERM within a few
        /// milliseconds of its join, now and then never exited: the SIGTERM came during its first
        /// rebalance, whose reads of the others' acknowledgements were in flight when the session
        /// closed, and the ZooKeeper C library dropped their completions. Join, SIGTERM, wait,
        /// thirty times, the SIGTERM at a different moment of the first rebalance each time; the
        /// overlap checker over every document of the thirty cycles (a–d's partitions revoked
        /// for the joiner mid-plan, and given back once it left).
        @Test(.timeLimit(.minutes(3))) func sigtermWithinMillisecondsOfAJoin() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(zk: server.connectString, arguments: ["--session-timeout", "4000"])
            let partitions = partitionNames("t", 0..<10_000)
            try cluster.start("a", ["--partitions", "t:0-9999"])
            for name in ["b", "c", "d"] { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60))

            for cycle in 0..<30 {
                let joiner = try cluster.start("e", watch: false)
                let joined = await eventually(timeout: .seconds(60)) { joiner.log.contains("joined") }
                try #require(joined, "cycle \(cycle): e did not join; log:\n\(joiner.log)")
                // 0 to 29 ms after the join: into the reads, the strategy's run, the handovers.
                try await Task.sleep(for: .milliseconds(cycle))
                joiner.signal(SIGTERM)
                let status = await joiner.waitForExit(timeout: .seconds(5))
                #expect(status == 0, "cycle \(cycle): SIGTERM \(cycle) ms after the join; exit status \(status.map(String.init) ?? "none: still running after 5 s"); log:\n\(joiner.log)")
                #expect(joiner.fileDocument?.state == .stopped, "cycle \(cycle): \(joiner.fileDocument?.json ?? "no document")")
                if status != 0 { break }
            }
            let settled = try await cluster.waitForAgreement(["a", "b", "c", "d"], partitions: partitions, timeout: .seconds(60), "a-d after the cycles")
            await cluster.stopAll()
            cluster.expectNoOverlap("SIGTERM within 0–29 ms of a join, 30 times", settledAt: settled, partitions: partitions)
        }

        /// A member stopped while its state file cannot be written (a folder in its place here;
        /// a full or read-only disk alike) keeps its session until the lease of the document
        /// the file holds is over, and only then leaves. Closed after the usual second, its
        /// nodes went at once, the leader gave its share away, and the file still claimed it
        /// under that lease.
        @Test(.timeLimit(.minutes(1))) func aStopWhoseFileCannotBeWrittenLeavesOnceTheFilesLeaseIsOver() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(zk: server.connectString, arguments: ["--session-timeout", "4000", "--partitions", "t:0-3"])
            let partitions = partitionNames("t", 0..<4)
            try cluster.start("a")
            try await cluster.waitForAgreement(["a"], partitions: partitions, "a alone")
            let b = try cluster.start("b")
            try await cluster.waitForAgreement(partitions: partitions, "a and b")

            // The lease of the document b's file holds, then a folder in the file's place (a
            // renewal may rename a newer file in between: then again).
            let fileLease = Shared<Int64?>(nil)
            let blocked = await eventually {
                guard let document = b.fileDocument, document.state == .active, !document.allocation.isEmpty,
                      let lease = document.validUntilBoottime
                else { return false }
                try? FileManager.default.removeItem(atPath: b.stateFile)
                guard (try? FileManager.default.createDirectory(atPath: b.stateFile, withIntermediateDirectories: false)) != nil else { return false }
                fileLease.update { $0 = lease }
                return true
            }
            let lease = try #require(blocked ? fileLease.value : nil, "b's file was never blocked")
            b.signal(SIGTERM)
            // a takes b's share once b's session is over: never while b's file claims it.
            let taken = await eventually(timeout: .seconds(20)) {
                cluster["a"].fileDocument?.allocation.values.reduce(0) { $0 + $1.count } == partitions.count
            }
            let takenAt = BootClock.now()
            #expect(taken, "a never took b's share")
            #expect(takenAt >= lease, "a took b's share \(Double(lease - takenAt) / 1e9) s before the lease of b's file ran out")
            #expect(await b.waitForExit(timeout: .seconds(10)) == 0, "b: \(b.log)")
            await cluster.stopAll()
        }
    }
}
