import Allocation
import Allocator
import Recipes
import Testing
import TestSupport

/// allocatord and kiel 0.9.3 in one group (spec §1, §3, §5, §6): the same znodes, the same lock,
/// the same round-robin mapping.
@Suite struct KielInteropTests {
    @Test func kielAndAllocatordMembersComputeTheSameMapping() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", strategy: .roundRobin, seed: "t:0-11")
        let kiel = try await KielPeer(connectString: server.connectString, group: group, member: "kiel-peer", partitions: "t:10-13,u:0")
        let b = try RunningMember(server, group: group, name: "b", strategy: .roundRobin)
        defer { Task { await a.stop(); await b.stop(); await kiel.stop() } }

        try await checkSameMapping([a, b], kiel, members: ["a", "b", "kiel-peer"], partitions: "t:0-13,u:0")

        // kiel adds partitions under the kazoo lock; allocatord sees them.
        try await kiel.send("add u:1-3,v:0")
        try await checkSameMapping([a, b], kiel, members: ["a", "b", "kiel-peer"], partitions: "t:0-13,u:0-3,v:0")

        // allocatord adds and removes under the same lock; kiel sees them.
        _ = try await b.member.commands().add(try PartitionSpec(parsing: "w:0-1").partitions)
        _ = try await a.member.commands().remove(try PartitionSpec(parsing: "t:0-3").partitions)
        try await checkSameMapping([a, b], kiel, members: ["a", "b", "kiel-peer"], partitions: "t:4-13,u:0-3,v:0,w:0-1")

        // One leaves.
        await b.stop()
        try await checkSameMapping([a], kiel, members: ["a", "kiel-peer"], partitions: "t:4-13,u:0-3,v:0,w:0-1")
        #expect(kiel.errors.isEmpty)
    }

    @Test func kielLeavingIsSeenAtOnce() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", strategy: .roundRobin, seed: "t:0-5")
        let kiel = try await KielPeer(connectString: server.connectString, group: group, member: "kiel-peer")
        defer { Task { await a.stop() } }
        try await checkSameMapping([a], kiel, members: ["a", "kiel-peer"], partitions: "t:0-5")
        await kiel.stop()
        try await a.waitFor("a alone") { $0.members == ["a"] && $0.allocation["t"] == [0, 1, 2, 3, 4, 5] }
    }

    @Test(.timeLimit(.minutes(1))) func aKielConsumerTakingOurNameMakesUsDropTheShareAndStop() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "same", strategy: .roundRobin, seed: "t:0-3", sessionTimeout: .seconds(2))
        try await a.waitFor("active") { $0.state == .active && $0.allocation["t"]?.count == 4 }

        // kiel deletes another session's node of its name and creates its own.
        let kiel = try await KielPeer(connectString: server.connectString, group: group, member: "same")
        defer { Task { await kiel.stop() } }
        await #expect {
            try await a.runEnds()
        } throws: { error in
            guard case PartyError.nameTaken(member: "same", _, _) = error else { return false }
            return true
        }
        // Its session lived until it stopped, so its share stayed its own (the leader gives
        // nothing away before a session ends or its member acknowledges); it stopped with an
        // empty share and never published one again.
        #expect(await eventually { a.latest?.state == .stopped })
        let states = a.history.value.map(\.state)
        let stopped = try #require(states.firstIndex(of: .stopped))
        #expect(states[stopped...].allSatisfy { $0 == .stopped })
        #expect(a.latest?.allocation.isEmpty == true)
    }

    /// Waits until kiel and every allocatord member show the view, then compares: kiel's whole
    /// mapping must be allocatord's round-robin, and each allocatord share its part of it.
    private func checkSameMapping(
        _ members: [RunningMember], _ kiel: KielPeer, members names: [String], partitions spec: String
    ) async throws {
        let partitions = try PartitionSpec(parsing: spec).partitions
        try await waitForAgreement(members, memberNames: names, partitionCount: partitions.count, coveredByThese: false)
        let expected = PureStrategy.roundRobin.allocate(members: names, partitions: partitions)
        // Settled once each allocatord member publishes its whole share (handovers done).
        #expect(await eventually { members.allSatisfy { $0.latest?.allocation == expected.share(of: $0.name) } })
        let kielAgrees = await eventually(timeout: .seconds(15)) {
            kiel.latest?.members == names && kiel.latest?.partitions.count == partitions.count
        }
        #expect(kielAgrees, "kiel saw \(String(describing: kiel.latest))")
        let view = try #require(kiel.latest)
        #expect(view.partitions == partitions.map(\.description))
        // kiel leaves out members that hold nothing; the shares must match either way.
        for name in names {
            #expect(view.mapping[name, default: [:]] == expected.share(of: name), "share of \(name)")
        }
        for member in members {
            #expect(member.latest?.allocation == expected.share(of: member.name))
        }
    }
}
