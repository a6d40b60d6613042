import Allocation
import Allocator
import Foundation
import Testing
import TestSupport
import ZooKeeper

/// What a member publishes when it loses ZooKeeper (spec §7), against a real server and a
/// proxy that cuts the member off.
@Suite struct SessionLossTests {
    @Test func aCutOffMemberGoesSuspendedThenLostBeforeOthersTakeOverThenRejoins() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try TCPProxy(port: Int(server.connectString.split(separator: ":").last!)!)
        defer { proxy.stop() }
        let group = uniqueGroup()
        // Long enough that a loaded CI machine does not blur the lease's margin (300 ms here).
        let timeout = Duration.milliseconds(3000)
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-9", sessionTimeout: timeout)
        let b = try RunningMember(server, group: group, name: "b", through: proxy, sessionTimeout: timeout)
        defer { Task { await a.stop(); await b.stop() } }
        try await waitForAgreement([a, b], partitionCount: 10)
        let held = try #require(b.latest)
        #expect(!held.allocation.isEmpty)

        // Cut b off, as a crash or a partition does: no leave, the session ends on the server.
        let cut = ContinuousClock.now
        let before = b.history.value.count
        proxy.blackhole()
        // Any document since the cut, not only the latest: on a busy machine `lost` can follow
        // `suspended` before a look at the latest sees it.
        #expect(await eventually(timeout: .seconds(30)) { b.history.value.dropFirst(before).contains { $0.state == .suspended } })
        let suspended = try #require(b.history.value.dropFirst(before).first { $0.state == .suspended })
        #expect(suspended.allocation == held.allocation)
        #expect(suspended.generation == held.generation)
        let lost = try await b.waitFor("lost") { $0.state == .lost }
        #expect(lost.allocation.isEmpty)
        #expect(lost.validUntil == nil)
        // Protocol 2 may publish the member list before the grant: a ends with all ten.
        try await a.waitFor("a alone with everything") {
            $0.members == ["a"] && $0.state == .active && $0.allocation["t"]?.count == 10
        }

        // b dropped its share (at its lease's end) before a was given any of it.
        let bShare = Set(partitions(of: held))
        let lostAt = try #require(b.timeline.value.first { $0.document.state == .lost }?.at)
        let takeover = try #require(a.timeline.value.first {
            $0.at > cut && !Set(partitions(of: $0.document)).isDisjoint(with: bShare)
        })
        #expect(lostAt < takeover.at)
        // `lost` comes with the lease's end, within a session timeout of the cut; on a machine
        // so busy that the member's timer fires seconds late (scripts/test --under-load), later.
        #expect(lostAt - cut < timeout * 3)
        // And while b's lease lasted, b held it: the lease it published ended before a took over.
        let lease = try #require(suspended.validUntil)
        #expect(lease <= takeover.document.updatedAt)

        // Healing: b learns its session expired and rejoins with a new one.
        proxy.heal()
        try await waitForAgreement([a, b], partitionCount: 10)
        let states = b.history.value.map(\.state)
        #expect(states.contains(.joining))
    }

    @Test func partitionsOfAnUnreactiveMemberAreNotTakenBeforeItsLeaseEnds() async throws {
        // b is cut off (as if dead, its session still alive) and d joins at once: the rebalance
        // moves some of b's partitions, but no one publishes them before b's lease has ended.
        let server = try await TestZooKeeper.shared.value
        let proxy = try TCPProxy(port: Int(server.connectString.split(separator: ":").last!)!)
        defer { proxy.stop() }
        let group = uniqueGroup()
        let timeout = Duration.milliseconds(3000)
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-11", sessionTimeout: timeout)
        let b = try RunningMember(server, group: group, name: "b", through: proxy, sessionTimeout: timeout)
        let c = try RunningMember(server, group: group, name: "c", sessionTimeout: timeout)
        defer { Task { for member in [a, b, c] { await member.stop() } } }
        try await waitForAgreement([a, b, c], partitionCount: 12)

        let cutAt = Date.now
        proxy.blackhole()
        let held = Set(partitions(of: try #require(b.latest)))
        let d = try RunningMember(server, group: group, name: "d", sessionTimeout: timeout)
        defer { Task { await d.stop() } }
        try await waitForAgreement([a, c, d], partitionCount: 12, timeout: .seconds(60))

        let lease = try #require(b.history.value.compactMap(\.validUntil).max())
        var takenOver = Set<Partition>()
        for member in [a, c, d] {
            for document in member.history.value where document.state == .active && document.updatedAt > cutAt {
                let taken = Set(partitions(of: document)).intersection(held)
                takenOver.formUnion(taken)
                #expect(taken.isEmpty || document.updatedAt >= lease,
                        "\(member.name) took \(taken) at \(document.updatedAt), b's lease ran to \(lease)")
            }
        }
        #expect(takenOver == held)
    }

    @Test func aSlowConnectionKeepsTheMemberActiveAndInAgreement() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try TCPProxy(port: server.firstPort)
        defer { proxy.stop() }
        let group = uniqueGroup()
        // The session timeout leaves room for a busy machine: the client gives up on a connection
        // that is silent for two thirds of it, and a loaded test machine adds its own delays.
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-9", sessionTimeout: .seconds(6))
        let b = try RunningMember(server, group: group, name: "b", through: proxy, sessionTimeout: .seconds(6))
        defer { Task { await a.stop(); await b.stop() } }
        try await waitForAgreement([a, b], partitionCount: 10)
        // 150 ms each way: well under a tenth of the session timeout.
        proxy.delay(.milliseconds(150))
        let before = b.history.value.count
        _ = try await a.member.commands().add([Partition(topic: "u", id: 0), Partition(topic: "u", id: 1)])
        try await waitForAgreement([a, b], partitionCount: 12)
        #expect(!b.history.value.dropFirst(before).contains { $0.state == .suspended || $0.state == .lost })
    }

    @Test func aShortDisconnectionWithinTheSessionKeepsTheShare() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try TCPProxy(port: Int(server.connectString.split(separator: ":").last!)!)
        defer { proxy.stop() }
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", seed: "t:0-9", sessionTimeout: .seconds(6))
        let b = try RunningMember(server, group: group, name: "b", through: proxy, sessionTimeout: .seconds(6))
        defer { Task { await a.stop(); await b.stop() } }
        let agreed = try await waitForAgreement([a, b], partitionCount: 10)
        let session = try #require(await b.member.session)

        let before = b.history.value.count
        proxy.cutConnections()
        #expect(await eventually { b.history.value.dropFirst(before).contains { $0.state == .suspended } })
        let back = try await b.waitFor("active again") { $0.state == .active }
        #expect(back.generation == agreed[0].generation)
        #expect(back.allocation == agreed.first { $0.member == "b" }?.allocation)
        #expect(try #require(await b.member.session).id == session.id)
        #expect(!b.history.value.contains { $0.state == .lost })
    }

    @Test func theLeaseIsRenewedWhileActive() async throws {
        let server = try await TestZooKeeper.shared.value
        let a = try RunningMember(server, group: uniqueGroup(), name: "a", seed: "t:0-2", sessionTimeout: .milliseconds(2000))
        defer { Task { await a.stop() } }
        let first = try await a.waitFor("active") { $0.state == .active }
        let firstLease = try #require(first.validUntil)
        // Renewals come at least every third of the session timeout, and change only the lease.
        let renewed = try await a.waitFor("renewed") { ($0.validUntil ?? .distantPast) > firstLease }
        #expect(renewed.updatedAt == first.updatedAt)
        #expect(renewed.generation == first.generation)
        // Several renewals later, it never stopped being active, each lease later than the last.
        let history = a.history
        #expect(await eventually { Set(history.value.compactMap(\.validUntil)).count >= 4 })
        let leases = history.value.filter { $0.state == .active }.compactMap(\.validUntil)
        #expect(history.value.allSatisfy { $0.state == .joining || $0.state == .active })
        #expect(leases == leases.sorted(), "\(leases.map(\.timeIntervalSince1970))")
        #expect(try #require(a.latest?.validUntil) > .now)
    }
}
