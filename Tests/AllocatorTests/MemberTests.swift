import Allocation
import Allocator
import Logging
import Testing
import TestSupport
import ZooKeeper

/// Protocol 2's member against a real server.
@Suite struct MemberTests {
    final class Running: Sendable {
        let member: Member
        let run: Task<Void, any Error>
        let history = Shared<[MemberDocument]>([])
        let collector: Task<Void, Never>
        var latest: MemberDocument? { history.value.last }

        init(_ server: TestZooKeeper, group: String, name: String, seed: String? = nil, timeout: Duration = .seconds(4)) throws {
            let configuration = MemberConfiguration(
                zooKeeper: .init(connectString: try ConnectString(parsing: server.connectString), sessionTimeout: timeout),
                layout: try GroupLayout(root: "/kiel", group: group), member: name, strategy: nil,
                seedPartitions: try seed.map { try PartitionSpec(parsing: $0).partitions } ?? [],
                host: "test-host", pid: 42)
            var logger = Logger(label: name)
            logger.logLevel = .info
            let member = Member(configuration: configuration, logger: logger)
            self.member = member
            let history = history
            collector = Task { for await document in member.documents { history.update { $0.append(document) } } }
            run = Task { try await member.run() }
        }

        func stop() async {
            await member.stop()
            _ = try? await run.value
            await collector.value
        }
    }

    @Test func threeMembersShareThePartitions() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let members = try ["a", "b", "c"].map { try Running(server, group: group, name: $0, seed: $0 == "a" ? "t:0-11" : nil) }
        defer { Task { for member in members { await member.stop() } } }
        let settled = await eventually(timeout: .seconds(60)) {
            let latest = members.compactMap(\.latest)
            guard latest.count == 3, latest.allSatisfy({ $0.state == .active && $0.members == ["a", "b", "c"] }) else { return false }
            let held = latest.flatMap(partitions(of:))
            return held.count == 12 && Set(held).count == 12 && Set(latest.map(\.generation)).count == 1
        }
        #expect(settled, "\(members.map { $0.latest?.json ?? "none" })")
        await members[2].stop()
        let rebalanced = await eventually(timeout: .seconds(60)) {
            let latest = members.prefix(2).compactMap(\.latest)
            let held = latest.flatMap(partitions(of:))
            return latest.allSatisfy { $0.members == ["a", "b"] && $0.state == .active } && held.count == 12 && Set(held).count == 12
        }
        #expect(rebalanced, "\(members.map { $0.latest?.json ?? "none" })")
    }
}
