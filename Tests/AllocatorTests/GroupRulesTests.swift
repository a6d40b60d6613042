import Allocation
import Allocator
import Coordination
import Recipes
import Testing
import TestSupport
import ZooKeeper

/// Names, strategies and bad data: what a member refuses, and what it survives.
@Suite struct GroupRulesTests {
    // Sessions of 2 s: a shorter one expires now and then on a loaded machine, and each new
    // session of the second member waits for the name again.
    @Test(.timeLimit(.minutes(1))) func aDuplicateNameIsRefusedAfterASessionTimeoutAndTheFirstKeepsIt() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let first = try RunningMember(server, group: group, name: "same", seed: "t:0-3", sessionTimeout: .seconds(4))
        defer { Task { await first.stop() } }
        try await first.waitFor("active") { $0.state == .active }

        // Should the second ever get the name (the first's session expiring on a starved
        // machine), its run would not end by itself.
        let second = try RunningMember(server, group: group, name: "same", sessionTimeout: .seconds(4))
        let started = ContinuousClock.now
        await #expect {
            try await second.runEnds()
        } throws: { error in
            guard case PartyError.nameTaken(member: "same", _, _) = error else { return false }
            return "\(error)".contains("held by another session")
        }
        #expect(ContinuousClock.now - started >= .seconds(4))
        #expect(await eventually { second.latest?.state == .stopped })
        // The first member was never disturbed.
        #expect(first.latest?.state == .active)
        #expect(first.latest?.allocation["t"] == [0, 1, 2, 3])
    }

    @Test func aStrategyMismatchIsRefusedNamingBoth() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let first = try RunningMember(server, group: group, name: "a", strategy: .range, seed: "t:0-3")
        defer { Task { await first.stop() } }
        try await first.waitFor("active") { $0.state == .active }

        let mismatched = try RunningMember(server, group: group, name: "b", strategy: .consistent)
        await #expect(throws: StrategyMismatch(group: group, configured: "consistent", pinned: "range")) {
            try await mismatched.runEnds()
        }
        #expect("\(StrategyMismatch(group: "g", configured: "consistent", pinned: "range"))".contains("\"range\""))

        // A member with no strategy adopts the group's.
        let adopting = try RunningMember(server, group: group, name: "c", strategy: nil)
        defer { Task { await adopting.stop() } }
        let documents = try await waitForAgreement([first, adopting], partitionCount: 4)
        #expect(documents.allSatisfy { $0.strategy == "range" })
    }

    @Test func aNewGroupIsPinnedToTheDefaultStrategy() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let member = try RunningMember(server, group: group, name: "a", strategy: nil, seed: "t:0")
        defer { Task { await member.stop() } }
        try await member.waitFor("active") { $0.state == .active }
        #expect(member.latest?.strategy == "consistent")
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        #expect(try await zk.getData("/kiel/groups/\(group)").data == Array(#"{"strategy":"consistent","protocol":2}"#.utf8))
    }

    @Test func unparsableGroupSettingsAreRefused() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        try await zk.ensurePath("/kiel/groups/\(group)")
        try await zk.setData("/kiel/groups/\(group)", Array(#"{"strategy": "fastest"}"#.utf8))
        let member = try RunningMember(server, group: group, name: "a", strategy: nil)
        await #expect { try await member.runEnds() } throws: { "\($0)".contains("fastest") }
    }

    @Test func corruptPartitionDataLeavesMembersOnTheirLastGoodView() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-5")
        let b = try RunningMember(server, group: group, name: "b")
        defer { Task { await a.stop(); await b.stop() } }
        let good = try await waitForAgreement([a, b], partitionCount: 6)
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        let path = "/kiel/groups/\(group)/partitions"

        for garbage in ["not json", #"{"t:1": 1}"#, #"["t:1", 2]"#, #"["t:01"]"#, #"["t:1", "bad topic:2"]"#] {
            try await zk.retrying { _ = try await zk.setData(path, Array(garbage.utf8)) }
            // Every member reports it (the leader tells the others through the summary).
            #expect(await eventually { await a.member.status.partitionSetMalformed != nil })
            #expect(await eventually { await b.member.status.partitionSetMalformed != nil })
            // Still active, with the last good set's shares.
            for (member, before) in zip([a, b], good) {
                #expect(member.latest?.state == .active)
                #expect(member.latest?.allocation == before.allocation)
                #expect(member.latest?.partitionCount == 6)
            }
            // Nobody writes over it: not a seed, not an add.
            await #expect { _ = try await a.member.commands().add([Partition(topic: "t", id: 9)]) } throws: { error in
                (error as? GroupCommandError)?.code == .partitionSetMalformed
            }
            #expect(try await zk.retrying { try await zk.getData(path).data } == Array(garbage.utf8))
        }

        // A member joining now gets its share of the last good set, which the leader keeps.
        let c = try RunningMember(server, group: group, name: "c")
        defer { Task { await c.stop() } }
        try await waitForAgreement([a, b, c], partitionCount: 6)

        // repair writes the last good set back, conditionally on the bad data's version.
        let leader = try #require(await [a, b, c].asyncFirst { await $0.member.status.role == .leader })
        #expect(try await leader.member.commands().repair() == 6)
        #expect(await eventually { await a.member.status.partitionSetMalformed == nil })
        try await waitForAgreement([a, b, c], partitionCount: 6)
        await #expect { _ = try await a.member.commands().repair() } throws: { error in
            (error as? GroupCommandError)?.code == .notMalformed
        }
    }

    @Test func aRootGivenAsChrootOrAsRootGivesTheSameLayout() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let base = uniquePath()
        // One member names the root as a chroot (which it creates), the other as --root.
        let a = try RunningMember(server, group: group, name: "a", root: "/", chroot: base, seed: "t:0-3")
        let b = try RunningMember(server, group: group, name: "b", root: base, seed: "t:4-5")
        defer { Task { await a.stop(); await b.stop() } }
        try await waitForAgreement([a, b], partitionCount: 6)
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        #expect(Set(try await zk.children("\(base)/groups/\(group)/members").names) == ["a", "b"])
    }

    @Test func withACredentialOthersCanReadButNotChangeTheGroup() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let base = uniquePath()
        let a = try RunningMember(server, group: group, name: "a", root: base, seed: "t:0-3", credential: "allocatord:secret")
        let b = try RunningMember(server, group: group, name: "b", root: base, credential: "allocatord:secret")
        defer { Task { await a.stop(); await b.stop() } }
        try await waitForAgreement([a, b], partitionCount: 4)

        let stranger = try await server.client()
        defer { Task { await stranger.close() } }
        let partitions = "\(base)/groups/\(group)/partitions"
        #expect(try await stranger.getData(partitions).data.count > 0)
        for path in [partitions, "\(base)/groups/\(group)", "\(base)/groups/\(group)/members/a"] {
            await #expect(throws: ZooKeeperError(code: .noAuth, operation: "setData", path: path)) {
                try await stranger.setData(path, Array("[]".utf8))
            }
        }
        await #expect(throws: ZooKeeperError(code: .noAuth, operation: "create", path: "\(base)/groups/\(group)/members/intruder")) {
            try await stranger.create("\(base)/groups/\(group)/members/intruder", mode: .ephemeral)
        }
        // Members with the credential still change it.
        #expect(try await b.member.commands().add([Partition(topic: "t", id: 4)]) == 5)
    }

    @Test func memberRecordsTellWhatEachAcknowledgedAndItsWeight() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-7")
        let b = try RunningMember(server, group: group, name: "b", weight: 3)
        defer { Task { await a.stop(); await b.stop() } }
        let documents = try await waitForAgreement([a, b], partitionCount: 8)
        // The leader read b's weight from its record: 8·1/4 and 8·3/4.
        #expect(documents.map { partitions(of: $0).count } == [2, 6])
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        for name in ["a", "b"] {
            let path = "/kiel/groups/\(group)/members/\(name)"
            // Each acknowledged its first grant, and what it gave up (nothing is left releasing);
            // a grant that only grew since is not acknowledged.
            let grant = try Grant(decoding: try await zk.getData("/kiel/groups/\(group)/assignments/\(name)").data)
            #expect(!grant.hasUnacknowledgedHoldings)
            #expect(try await eventually {
                let acknowledged = MemberRecord(decoding: try await zk.getData(path).data)?.ackedEpoch ?? 0
                return acknowledged > 0 && acknowledged <= grant.epoch
            })
            let record = try #require(MemberRecord(decoding: try await zk.getData(path).data))
            #expect(record.host == "test-host")
            #expect(record.pid == 42)
            #expect(record.strategy == "consistent")
            #expect(record.weight == (name == "b" ? 3 : 1))
        }
        #expect(try await zk.getData("/kiel/groups/\(group)").data == Array(#"{"strategy":"consistent","protocol":2}"#.utf8))
    }
}

extension Array {
    /// The first element satisfying an asynchronous condition.
    func asyncFirst(where condition: (Element) async -> Bool) async -> Element? {
        for element in self where await condition(element) { return element }
        return nil
    }
}
