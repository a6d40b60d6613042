import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Faults aimed at protocol 2's leader (spec §14, issue 10): the one member that computes
    /// and grants, killed, paused, cut off, or lost in the middle of a plan; and a plan that
    /// waits on a paused follower. One 3-server ensemble serves the whole suite, each schedule
    /// in a group of its own; the overlap checker allows no overlap beyond the stamps'
    /// resolution, as everywhere.
    @Suite(.serialized) struct LeaderFaultTests {
        static let ensemble = Task { try await TestZooKeeper.start(servers: 3) }
        static let sessionTimeout = ["--session-timeout", "2000"]
        let partitions = partitionNames("t", 0..<24)

        /// A cluster of `names` on the ensemble, agreed; the first one started leads.
        func agreedCluster(
            _ names: [String] = ["a", "b", "c"], arguments: [String] = sessionTimeout, through proxy: TCPProxy? = nil,
            test: String = #function
        ) async throws -> Cluster {
            let ensemble = try await Self.ensemble.value
            let cluster = try Cluster(zk: ensemble.connectString, arguments: arguments + ["--partitions", "t:0-23"], test: test)
            // The first to join takes the leader lock: wait for it before the others start.
            try cluster.start(names[0], zk: proxy?.address)
            try await cluster.waitForAgreement([names[0]], partitions: partitions, "\(names[0]) alone")
            for name in names.dropFirst() { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitions)
            #expect(try await leader(of: cluster, among: names) == names[0])
            return cluster
        }

        /// The member whose `status` says it leads, among `names`.
        func leader(of cluster: Cluster, among names: [String]) async throws -> String {
            let leader = Shared<String?>(nil)
            let found = await eventually {
                for name in names where await BadInputTests.status(cluster[name])?["role"] as? String == "leader" {
                    leader.update { $0 = name }
                    return true
                }
                return false
            }
            guard found, let name = leader.value else { throw Timeout(what: "a leader among \(names)") }
            return name
        }

        /// A follower among `followers` that loses partitions when `joiner` joins `members`
        /// (spec §14: the leader revokes them first and awaits its acknowledgement).
        func followerLosingPartitions(to joiner: String, members: [String], followers: [String]) throws -> String {
            let set = partitions.map { try! Partition(parsing: $0) }.sorted()
            let before = PureStrategy.consistent.allocate(members: members, partitions: set)
            let after = PureStrategy.consistent.allocate(members: (members + [joiner]).sorted(), partitions: set)
            let loser = followers.first { !Set(before.partitions(of: $0)).isSubset(of: Set(after.partitions(of: $0))) }
            return try #require(loser, "no follower loses a partition to \(joiner)")
        }

        /// Waits until the leader's plan awaits `member`'s acknowledgement.
        func waitUntil(_ leader: DaemonProcess, awaits member: String) async throws {
            let awaiting = await eventually {
                (await BadInputTests.status(leader)?["awaited"] as? [String: Any])?[member] != nil
            }
            guard awaiting else { throw Timeout(what: "\(leader.member) awaiting \(member)") }
        }

        @Test(.timeLimit(.minutes(1))) func killMinus9OfTheLeader() async throws {
            let cluster = try await agreedCluster()
            cluster["a"].signal(SIGKILL)
            // b or c leads once a's session has expired, and hands a's partitions out.
            let settled = try await cluster.waitForAgreement(["b", "c"], partitions: partitions, "b and c after a's kill")
            let next = try await leader(of: cluster, among: ["b", "c"])
            try cluster.start("a")
            try await cluster.waitForAgreement(partitions: partitions, "a back")
            #expect(try await leader(of: cluster, among: ["a", "b", "c"]) == next, "the leadership moved again when a came back")
            await cluster.stopAll()
            cluster.expectNoOverlap("kill -9 of the leader", settledAt: settled, partitions: partitions)
        }

        @Test(.timeLimit(.minutes(1))) func sigstopOfTheLeaderPastItsSessionTimeout() async throws {
            let cluster = try await agreedCluster()
            let before = try #require(cluster["a"].fileDocument)
            cluster["a"].signal(SIGSTOP)
            try await cluster.waitForAgreement(["b", "c"], partitions: partitions, "b and c while a is paused")
            let woke = ContinuousClock.now
            cluster["a"].signal(SIGCONT)
            let settled = try await cluster.waitForAgreement(partitions: partitions, "a back")
            // The old leader wakes deposed (its session is over): it leads no more, and it shows
            // no share until it has a grant of its new session.
            #expect(try await leader(of: cluster, among: ["a", "b", "c"]) != "a")
            try cluster.expectNoOldShareAfterWaking("a", woke: woke, before: before)
            await cluster.stopAll()
            cluster.expectNoOverlap("SIGSTOP of the leader past its session timeout, SIGCONT", settledAt: settled, partitions: partitions)
        }

        @Test(.timeLimit(.minutes(1))) func theLeaderCutOffThenHealed() async throws {
            let ensemble = try await Self.ensemble.value
            let first = ensemble.firstPort
            let proxy = try TCPProxy(port: first)
            defer { proxy.stop() }
            let cluster = try await agreedCluster(through: proxy)
            let cut = ContinuousClock.now
            proxy.blackhole()
            try await cluster["a"].waitForFile("lost") { $0.state == .lost }
            try await cluster.waitForAgreement(["b", "c"], partitions: partitions, "b and c without a")
            #expect(try await leader(of: cluster, among: ["b", "c"]) != "a")
            proxy.heal()
            let settled = try await cluster.waitForAgreement(partitions: partitions, "a back")
            // suspended → lost → a new session (joining) → active, as any member cut off.
            let states = cluster.observer.documents(of: "a").filter { $0.at > cut }.map(\.document.state)
            let suspended = try #require(states.firstIndex(of: .suspended), "\(states)")
            let lost = try #require(states.firstIndex(of: .lost), "\(states)")
            #expect(suspended < lost, "\(states)")
            await cluster.stopAll()
            cluster.expectNoOverlap("the leader cut off by the proxy past its session timeout, healed", settledAt: settled, partitions: partitions)
        }

        /// The leader has revoked partitions from a follower (paused, so the plan cannot go on)
        /// and is killed before it grants them: the next leader reads the revoke from the grant
        /// nodes and grants them only once the follower has acknowledged.
        @Test(.timeLimit(.minutes(1))) func theLeaderKilledBetweenRevokeAndGrant() async throws {
            let cluster = try await agreedCluster()
            let loser = try followerLosingPartitions(to: "d", members: ["a", "b", "c"], followers: ["b", "c"])
            cluster[loser].signal(SIGSTOP)
            try cluster.start("d")
            try await waitUntil(cluster["a"], awaits: loser)
            cluster["a"].signal(SIGKILL)
            cluster[loser].signal(SIGCONT)
            let settled = try await cluster.waitForAgreement(["b", "c", "d"], partitions: partitions, timeout: .seconds(30), "b, c, d after a's kill")
            #expect(try await leader(of: cluster, among: ["b", "c", "d"]) != "a")
            await cluster.stopAll()
            cluster.expectNoOverlap("the leader killed between revoke and grant", settledAt: settled, partitions: partitions)
        }

        /// A follower paused (within its session) while the leader awaits its acknowledgement:
        /// the plan waits for it, nothing it may still publish is granted to the joiner, and once
        /// it runs again the plan completes with its session (and share) intact.
        @Test(.timeLimit(.minutes(1))) func aFollowerPausedDuringARevoke() async throws {
            // A session long enough that the pause (the joiner's start and the revoke, on a
            // machine that may be busy) stays well within it and within the lease.
            let cluster = try await agreedCluster(arguments: ["--session-timeout", "8000"])
            let loser = try followerLosingPartitions(to: "d", members: ["a", "b", "c"], followers: ["b", "c"])
            let session = try #require(await BadInputTests.status(cluster[loser])?["session_id"] as? String)
            cluster[loser].signal(SIGSTOP)
            try cluster.start("d")
            try await waitUntil(cluster["a"], awaits: loser)
            // The joiner is active with what nobody may still publish, and waits for the rest.
            let partial = try await cluster["d"].waitForFile("d active") { $0.state == .active }
            let held = Set(cluster[loser].fileDocument.map { partitions(of: $0) } ?? [])
            #expect(held.isDisjoint(with: partitions(of: partial)), "d granted what the paused \(loser) publishes: \(partial.json)")
            cluster[loser].signal(SIGCONT)
            let settled = try await cluster.waitForAgreement(partitions: partitions, "after \(loser) ran again")
            #expect(await BadInputTests.status(cluster[loser])?["session_id"] as? String == session, "\(loser) lost its session")
            #expect(!cluster.observer.documents(of: loser).contains { $0.document.state == .lost })
            await cluster.stopAll()
            cluster.expectNoOverlap("a follower paused during a revoke", settledAt: settled, partitions: partitions)
        }

        @Test(.timeLimit(.minutes(2))) func tenMembersJoiningAtOnce() async throws {
            let cluster = try await agreedCluster()
            let joiners = (0..<10).map { "j\($0)" }
            for name in joiners { try cluster.start(name) }
            let settled = try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "13 members")
            #expect(try await leader(of: cluster, among: cluster.names) == "a")
            await cluster.stopAll()
            cluster.expectNoOverlap("10 members joining at once", settledAt: settled, partitions: partitions)
        }

        /// `topic:id` of every partition in a document's share.
        func partitions(of document: MemberDocument) -> [String] {
            document.allocation.flatMap { topic, ids in ids.map { "\(topic):\($0)" } }
        }
    }
}
