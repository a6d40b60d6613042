import Allocation
import Coordination
import Testing
import TestSupport

/// What a change costs on its critical path, counted in the simulation's server (the member's
/// own code, no faults): requests that must not be made.
@Suite struct CriticalPathTests {
    /// The requests the server answered, one line each (`SimulatedZooKeeper.trace`).
    final class ServedRequests {
        var lines: [String] = []
    }

    /// A world without faults whose server's requests go to `served` from the start, with
    /// `names` started and settled.
    func settledWorld(
        _ names: [String], tracing served: ServedRequests, seed: UInt64 = 7, partitions: Int = 12
    ) throws -> SimulationWorld {
        var world = SimulationWorld(seed: seed, partitions: partitions, extraFaults: false, drawsOptions: false)
        world.faults = false
        world.zk.trace = { served.lines.append($0) }
        for name in names { world.start(name) }
        _ = try world.settle(within: 10_000)
        return world
    }

    /// The leader takes what it wrote as read: its own grant and the summary go straight to its
    /// follower, which publishes and acknowledges without reading its grant node (the leader
    /// was the last to acknowledge its own revocations, its reads queued behind everyone's
    /// acknowledgements). It still reads the summary its watch says changed.
    @Test func aLeaderNeverReadsTheGrantItWrote() throws {
        let served = ServedRequests()
        var world = try settledWorld(["a"], tracing: served)
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
        let served = ServedRequests()
        var world = try settledWorld(["a", "b"], tracing: served)
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

    /// The leader keeps every member node but its own watched, armed by the reads it makes
    /// anyway: waiting for an acknowledgement costs the notification and one read after it (3
    /// packets), not also a read to arm the watch after each revocation (5, as when only
    /// awaited members were watched).
    @Test(arguments: [7, 8, 9] as [UInt64]) func theLeaderKeepsEveryMemberNodeButItsOwnWatched(seed: UInt64) throws {
        let served = ServedRequests()
        var world = try settledWorld(["a", "b", "c"], tracing: served, seed: seed, partitions: 120)
        let leader = try #require(world.members.first { $0.leader.isLeading })
        let epoch = world.epoch, before = served.lines.count
        world.start("d")  // every member gives some partitions up: awaited
        _ = try world.settle(within: 10_000)
        #expect(world.epoch >= epoch + 2, "a revocation and a grant")
        for name in ["a", "b", "c", "d"] {
            let watchers = world.zk.dataWatchers(of: world.layout.member(name))
            #expect(watchers.isEmpty == (name == leader.name), "\(name)'s node: \(watchers.count) watchers")
        }
        // In the 100 ms after the revocation (some 10 round trips here), the leader reads a
        // member's node only when its watch fired. (Its only other read of an awaited member is
        // the check after half a session timeout without an acknowledgement.)
        let change = Array(served.lines.dropFirst(before))
        let revocation = try #require(change.firstIndex { $0.contains(" multi(") })
        let writtenAt = Self.time(of: change[revocation])
        let soon = change[revocation...].filter { Self.time(of: $0) < writtenAt + 100 }
        for name in ["a", "b", "c"] where name != leader.name {
            let path = world.layout.member(name)
            var notified = false, unprompted: [String] = []
            for line in soon {
                if line.hasSuffix("nodeDataChanged \(path)") {
                    notified = true
                } else if line.contains("getData(\"\(path)\"") {
                    if !notified { unprompted.append(line) }
                    notified = false
                }
            }
            #expect(unprompted.isEmpty, "\(name)'s node read without a notification: \(unprompted)")
        }
    }

    /// A leaver's node deleted fires the watch the leader keeps on it; the leader leaves it to
    /// the members' listing, which comes with the contenders'. (Read at once, the node gone while
    /// the leaver's contender node was still listed made its session look alive: its partitions
    /// were held back for another epoch, half an epoch more per change on the real server.)
    @Test func aLeaversNodeIsNotReadWhenItsWatchFires() throws {
        let served = ServedRequests()
        var world = try settledWorld(["a", "b", "c"], tracing: served, partitions: 120)
        let leader = try #require(world.members.first { $0.leader.isLeading })
        let index = try #require(world.members.firstIndex { $0.name != leader.name })
        let leaver = world.layout.member(world.members[index].name)
        // The leader's read after the leaver's last acknowledgement, which arms the watch again,
        // may still be on its way.
        try world.step(until: { !$0.zk.dataWatchers(of: leaver).isEmpty }, atMost: 1_000)
        #expect(world.zk.dataWatchers(of: leaver).count == 1, "the leader watches the leaver's node")
        let before = served.lines.count
        world.stop(index)
        _ = try world.settle(within: 10_000)
        let change = served.lines.dropFirst(before)
        #expect(change.contains { $0.hasSuffix("nodeDeleted \(leaver)") }, "the watch fired")
        #expect(!change.contains { $0.contains("getData(\"\(leaver)\"") }, "the leader read the leaver's node")
    }

    /// A member that does not acknowledge (paused here) holds back only its own partitions
    /// for long: the others' go out one acknowledgement round after the last of theirs, not
    /// at the round's limit (the round goes on only while acknowledgements keep coming).
    @Test func aPausedMemberHoldsBackTheOthersOnlyARoundAfterTheLastOfThem() throws {
        let served = ServedRequests()
        var world = try settledWorld(["a", "b", "c", "d"], tracing: served, partitions: 120)
        let leader = try #require(world.members.first { $0.leader.isLeading })
        let paused = try #require(world.members.firstIndex { $0.name != leader.name })
        world.members[paused].paused = true
        let epoch = world.epoch, before = served.lines.count
        world.start("e")  // everyone gives e some partitions; the paused member never acknowledges
        try world.step(until: { $0.epoch >= epoch + 2 }, atMost: 100_000)
        #expect(world.epoch == epoch + 2, "the grant epoch was written")
        let change = served.lines.dropFirst(before)
        let pausedNode = world.layout.member(world.members[paused].name)
        let acknowledgements = change.filter { $0.contains("setData(\"\(world.layout.member(""))") && !$0.contains(pausedNode) }
        let lastAcknowledgement = try #require(acknowledgements.last.map(Self.time(of:)))
        let grant = try #require(change.last { $0.contains(" multi(") }.map(Self.time(of:)))
        let round = LeaderMachine.acknowledgementRound.milliseconds
        #expect(grant - lastAcknowledgement >= round, "the leader waited for the round")
        #expect(grant - lastAcknowledgement < round + 100, "the grant came \(grant - lastAcknowledgement) ms after the last acknowledgement")
    }

    /// The simulated time of a line of the server's trace (`t=MILLISECONDS ...`).
    static func time(of line: String) -> Int64 {
        Int64(line.dropFirst(2).prefix { $0.isNumber }) ?? -1
    }

    /// A group's first leader finds no grant list (the node is made by its first write) and
    /// watches for it: once made, the list is watched, so that a grant node deleted by hand is
    /// seen. (A watch event says its kind since session 12; the creation fired a data watch, and
    /// the list was never listed again: seed 9747129607997597988.)
    @Test func aNewGroupsLeaderWatchesTheGrantListOnceItIsMade() throws {
        var world = SimulationWorld(seed: 7, extraFaults: false, drawsOptions: false)
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
        let served = ServedRequests()
        var world = try settledWorld(["a", "b", "c"], tracing: served)
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
