import Allocation
import Coordination
import Testing

/// What a change costs on its critical path, counted in the simulation's server (the member's
/// own code, no faults): requests that must not be made.
@Suite struct CriticalPathTests {
    /// The requests the server answered, one line each (`SimulatedZooKeeper.trace`).
    final class ServedRequests {
        var lines: [String] = []
    }

    /// The leader takes what it wrote as read: its own grant and the summary go straight to its
    /// follower, which publishes and acknowledges without reading its grant node (the leader
    /// was the last to acknowledge its own revocations, its reads queued behind everyone's
    /// acknowledgements). It still reads the summary its watch says changed.
    @Test func aLeaderNeverReadsTheGrantItWrote() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false)
        world.faults = false
        let served = ServedRequests()
        world.zk.trace = { served.lines.append($0) }
        world.start("a")
        _ = try world.settle(within: 10_000)
        world.start("b")
        _ = try world.settle(within: 10_000)
        let grantOfA = "getData(\"\(world.layout.grant("a"))\""
        let grantOfB = "getData(\"\(world.layout.grant("b"))\""
        let leader = try #require(world.members.first { $0.leader.isLeading })
        let (own, other) = leader.name == "a" ? (grantOfA, grantOfB) : (grantOfB, grantOfA)
        #expect(!served.lines.contains { $0.contains(own) }, "the leader read the grant it wrote")
        // The test sees what it means to: the other member reads its grant.
        #expect(served.lines.contains { $0.contains(other) })
        #expect(world.epoch >= 2)
    }

    /// The leader knows of its own acknowledgements from its member as they are written: it
    /// never watches its own node for them (the watch, its notification and the read after it
    /// cost 5 packets a change in which it gives something up).
    @Test func aLeaderNeverWatchesItsOwnNodeForItsAcknowledgement() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false)
        world.faults = false
        let served = ServedRequests()
        world.zk.trace = { served.lines.append($0) }
        for name in ["a", "b"] { world.start(name) }
        _ = try world.settle(within: 10_000)
        let leader = try #require(world.members.first { $0.leader.isLeading })
        let before = served.lines.count
        world.start("c")  // the leader gives some partitions up: awaited
        _ = try world.settle(within: 10_000)
        let own = "getData(\"\(world.layout.member(leader.name))\", watch: true"
        let other = "getData(\"\(world.layout.member(leader.name == "a" ? "b" : "a"))\", watch: true"
        let changes = served.lines.dropFirst(before)
        #expect(!changes.contains { $0.contains(own) }, "the leader watched its own node")
        // The test sees what it means to: the other member, awaited too, is watched.
        #expect(changes.contains { $0.contains(other) })
    }

    /// A settled group leaves no watch on member nodes: the leader watches a member only
    /// while it awaits its acknowledgement, so the members' next writes (each acknowledges
    /// every grant, also ones nobody awaits) wake nobody.
    @Test func noMemberNodeStaysWatchedOnceTheGroupSettles() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false)
        world.faults = false
        for name in ["a", "b", "c"] { world.start(name) }
        _ = try world.settle(within: 10_000)
        let epoch = world.epoch
        world.start("d")  // every member gives some partitions up: awaited, watched
        _ = try world.settle(within: 10_000)
        #expect(world.epoch >= epoch + 2, "a revocation and a grant")
        for name in ["a", "b", "c", "d"] {
            #expect(world.zk.dataWatchers(of: world.layout.member(name)).isEmpty, "\(name)'s node is watched")
        }
    }

    /// A group's first leader finds no grant list (the node is made by its first write) and
    /// watches for it: once made, the list is watched, so that a grant node deleted by hand is
    /// seen. (A watch event says its kind since session 12; the creation fired a data watch, and
    /// the list was never listed again: seed 9747129607997597988.)
    @Test func aNewGroupsLeaderWatchesTheGrantListOnceItIsMade() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false)
        world.faults = false
        world.start("a")
        _ = try world.settle(within: 10_000)
        let leader = try #require(world.members.first { $0.leader.isLeading })
        #expect(world.zk.childWatchers(of: world.layout.assignments) == [try #require(leader.session)])
        // And it sees a grant deleted: written again.
        world.writeAsOperator(.delete(world.layout.grant("a"), version: -1))
        _ = try world.settle(within: 10_000)
        #expect(world.zk.node(world.layout.grant("a")) != nil)
    }

    /// The leader lists the grant nodes only when the list changed. The summary's data watch
    /// and the leader's watch of the grant list are on one node: a summary write fired both in
    /// the machine, the list was read again at every epoch and armed a watch that never fired
    /// (in the daemon its triggers piled up, about 1 KB a change on the leader).
    @Test func aSummaryWriteDoesNotListTheGrantsAgain() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false)
        world.faults = false
        let served = ServedRequests()
        world.zk.trace = { served.lines.append($0) }
        for name in ["a", "b", "c"] { world.start(name) }
        _ = try world.settle(within: 10_000)
        let epoch = world.epoch
        let before = served.lines.count
        // More partitions: every grant is written again, none made or deleted.
        world.partitionSet += (12..<18).map { Partition(topic: "t", id: $0) }
        world.writeAsOperator(.setData(world.layout.partitions, SimulatedLayout.encode(world.partitionSet), version: -1))
        _ = try world.settle(within: 10_000)
        #expect(world.epoch > epoch)
        let listings = served.lines.dropFirst(before).filter { $0.contains("getChildren(\"\(world.layout.assignments)\", watch: true)") }
        #expect(listings.isEmpty, "\(listings.count) listings of the grants")
    }
}
