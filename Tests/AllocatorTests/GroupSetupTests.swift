import Allocation
@testable import Allocator
import Coordination
import Logging
import Testing
import TestSupport
import ZooKeeper

/// What a member asks at the start of a session, before it joins (spec §3, §5): in a group
/// that is there, as at nearly every start, as little as it can.
@Suite struct GroupSetupTests {
    /// A start that seeds, in a group whose nodes are all there: one transaction of checks
    /// (not an `exists` a node), the settings, and the partition set read outside the lock
    /// (the seed is in): three requests, no `exists`, no `create`, no lock.
    @Test func aStartInAGroupThatIsThereAsksThreeRequests() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let first = try RunningMember(server, group: group, name: "a", strategy: .consistent, seed: "t:0-3")
        defer { Task { await first.stop() } }
        try await first.waitFor("active") { $0.state == .active }

        let proxy = try ZooKeeperProxy(port: server.firstPort)
        defer { proxy.stop() }
        let zk = try await server.client(through: proxy)
        defer { Task { await zk.close() } }
        let configuration = MemberConfiguration(
            zooKeeper: .init(connectString: try ConnectString(parsing: proxy.address), sessionTimeout: .seconds(4)),
            layout: try GroupLayout(root: "/kiel", group: group), member: "b", strategy: .consistent,
            seedPartitions: try PartitionSpec(parsing: "t:0-3").partitions, host: "test-host", pid: 42)
        let setup = GroupSetup(
            client: zk, configuration: configuration, paths: GroupPaths(group: configuration.layout.groupPath),
            logger: Logger(label: "setup"))
        let before = proxy.requests.count
        #expect(try await setup.prepare(seeding: true) == .consistent)
        // The client's pings (type 11) and heartbeats (`exists` of "/") aside: `getData` (4) of
        // the group node and of the partition set, one `multi` (14); each sent again should the
        // connection drop meanwhile, but no `exists` (3), `create` (1), `delete` (2) or listing
        // (8, 12).
        let asked = proxy.requests.dropFirst(before).filter { $0.type != 11 && $0.path != "/" }
        #expect(Set(asked.map(\.type)) == [4, 14], "\(asked)")
        #expect(asked.filter { $0.type == 4 }.map(\.path).contains(configuration.layout.groupPath))
    }
}
