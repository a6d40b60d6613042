import Recipes
import Testing
import TestSupport
import ZooKeeper

@Suite struct PartyTests {
    @Test func joinUpdateLeave() async throws {
        let server = try await TestZooKeeper.shared.value
        let zk = try await server.client()
        let observer = try await server.client()
        defer { Task { await zk.close(); await observer.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let party = Party(client: zk, path: root, member: "host-a")

        let (before, cversionBefore, watch) = try await Party(client: observer, path: root, member: "x").members()
        #expect(before.isEmpty)
        try await party.join(data: Array("{}".utf8), conflictWait: .seconds(1))
        #expect(try await watch.fired().kind == .nodeChildrenChanged)
        let (after, cversionAfter, _) = try await party.members()
        #expect(after == ["host-a"])
        #expect(cversionAfter == cversionBefore + 1)
        #expect(try await observer.exists(root + "/host-a")?.ephemeralOwner == zk.status.session?.id)

        try await party.update(data: Array("{\"generation\":3}".utf8))
        #expect(try await party.data(of: "host-a") == Array("{\"generation\":3}".utf8))

        try await party.leave()
        #expect(try await party.members().names.isEmpty)
        #expect(try await party.data(of: "host-a") == nil)
        await #expect(throws: PartyError.notMember(member: "host-a", path: root + "/host-a")) {
            try await party.update(data: [])
        }
    }

    @Test func joiningTwiceInOneSessionKeepsTheNode() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let party = Party(client: zk, path: root, member: "m")
        try await party.join(data: [1], conflictWait: .zero)
        // As after a create whose reply was lost, or a second join of the session: the node is
        // recognised as ours, and its data is not set back (a later write may have updated it).
        try await party.update(data: [3])
        try await party.join(data: [2], conflictWait: .zero)
        #expect(try await party.data(of: "m") == [3])
    }

    /// An update at a version that is not the node's: the node is read; this member's own
    /// earlier write (applied before the connection dropped) is no news, anything else is
    /// someone else's rewrite, which the update writes over and reports.
    @Test func anUpdateTellsItsOwnEarlierWriteFromSomeoneElses() async throws {
        let server = try await TestZooKeeper.shared.value
        let zk = try await server.client()
        let other = try await server.client()
        defer { Task { await zk.close(); await other.close() } }
        let root = uniquePath()
        try await zk.create(root)
        let party = Party(client: zk, path: root, member: "m")
        try await party.join(data: [1], conflictWait: .zero)
        let written = try await party.update(data: [2], version: 0)
        #expect(written == Party.Update(version: 1))
        // The same write again, at the version it was made from: its own, no news.
        #expect(try await party.update(data: [2], version: 0) == Party.Update(version: 1))
        // Someone else rewrites the node.
        _ = try await other.setData(root + "/m", [9])
        let restored = try await party.update(data: [3], version: 1)
        #expect(restored == Party.Update(version: 3, foreignVersion: 2))
        #expect(try await party.data(of: "m") == [3])
    }

    @Test func aNameHeldByAnotherSessionIsRefusedAndNeverTaken() async throws {
        let server = try await TestZooKeeper.shared.value
        let first = try await server.client()
        let second = try await server.client()
        defer { Task { await first.close(); await second.close() } }
        let root = uniquePath()
        try await first.create(root)
        try await Party(client: first, path: root, member: "same").join(data: [1], conflictWait: .zero)

        let holder = try #require(first.status.session?.id)
        let started = ContinuousClock.now
        await #expect(throws: PartyError.nameTaken(member: "same", path: root + "/same", ownerSession: holder)) {
            try await Party(client: second, path: root, member: "same").join(data: [2], conflictWait: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        // The holder's node is untouched, and leave by the refused one does not delete it.
        try await Party(client: second, path: root, member: "same").leave()
        let stat = try #require(try await second.exists(root + "/same"))
        #expect(stat.ephemeralOwner == holder)
        #expect(try await second.getData(root + "/same").data == [1])
    }

    @Test func aNameIsTakenOnceItsHolderGoesWithinTheWait() async throws {
        let server = try await TestZooKeeper.shared.value
        let previous = try await server.client()
        let next = try await server.client()
        defer { Task { await next.close() } }
        let root = uniquePath()
        try await previous.create(root)
        try await Party(client: previous, path: root, member: "m").join(data: [1], conflictWait: .zero)

        let joining = Task {
            try await Party(client: next, path: root, member: "m").join(data: [2], conflictWait: .seconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))
        await previous.close()
        try await joining.value
        #expect(try await next.exists(root + "/m")?.ephemeralOwner == next.status.session?.id)
    }
}

/// The holder's session in the refusal reads as in a grant node and `status` (a server whose
/// `myid` is 128 or more gives ids with the high bit set).
@Test func aTakenNameNamesItsHoldersSessionAsSessionIDWritesIt() {
    let error = PartyError.nameTaken(member: "m", path: "/g/members/m", ownerSession: Int64(bitPattern: 0x8000_0a1b_2c3d_4e5f))
    #expect("\(error)".contains("held by another session (0x80000a1b2c3d4e5f, /g/members/m)"))
}
