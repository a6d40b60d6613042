import Allocation
import Allocator
import Testing
import TestSupport
import ZooKeeper

/// Several members in one group against a real server: they agree on one mapping, and it is
/// the strategy's.
@Suite struct AgreementTests {
    @Test func membersAgreeAfterJoinsLeavesAndPartitionChanges() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", seed: "orders:0-11")
        let b = try RunningMember(server, group: group, name: "b", seed: "payments:0-3")
        defer { Task { await a.stop(); await b.stop() } }
        try await checkAgreement([a, b], partitionCount: 16)

        // A join.
        let c = try RunningMember(server, group: group, name: "c")
        try await checkAgreement([a, b, c], partitionCount: 16)

        // Partitions added and removed through members.
        #expect(try await c.member.commands().add(try PartitionSpec(parsing: "orders:12-15,audit:0").partitions) == 21)
        try await checkAgreement([a, b, c], partitionCount: 21)
        #expect(try await a.member.commands().remove(try PartitionSpec(parsing: "payments:0-3").partitions) == 17)
        try await checkAgreement([a, b, c], partitionCount: 17)

        // A graceful leave: the others rebalance at once.
        let before = try #require(a.latest?.generation)
        await c.stop()
        #expect(c.latest?.state == .stopped)
        #expect(c.latest?.allocation.isEmpty == true)
        let after = try await checkAgreement([a, b], partitionCount: 17)
        #expect(after[0].generation > before)
    }

    @Test func everyStrategyGivesTheSameAgreedMapping() async throws {
        let server = try await TestZooKeeper.shared.value
        for strategy in [Strategy.roundRobin, .range, .consistent] {
            let group = uniqueGroup()
            let members = try ["m1", "m2", "m3"].map {
                try RunningMember(server, group: group, name: $0, strategy: strategy, seed: "x:0-6,y:0-2")
            }
            try await checkAgreement(members, partitionCount: 10)
            #expect(members.allSatisfy { $0.latest?.strategy == strategy.name })
            for member in members { await member.stop() }
        }
    }

    /// Waits for agreement and checks the shares: disjoint, covering, and exactly the
    /// strategy's result for the published view.
    @discardableResult
    private func checkAgreement(_ members: [RunningMember], partitionCount: Int) async throws -> [MemberDocument] {
        let documents = try await waitForAgreement(members, partitionCount: partitionCount)
        let strategy = try Strategy(parsing: try #require(documents[0].strategy))
        var all: [Partition] = []
        for document in documents { all += partitions(of: document) }
        #expect(all.count == partitionCount)
        #expect(Set(all).count == partitionCount)
        let expected = try #require(strategy.pure).allocate(members: documents[0].members, partitions: all)
        for document in documents {
            #expect(document.allocation == expected.share(of: document.member))
            #expect(document.validUntil != nil)
        }
        return documents
    }
}
