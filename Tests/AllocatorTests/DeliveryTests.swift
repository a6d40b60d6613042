import Allocation
import Allocator
import Logging
import Testing
import TestSupport
import ZooKeeper

/// A member whose documents' consumer reports deliveries acknowledges a view to the others (its
/// metadata write) only after its documents are out: killed in between, it must not leave a
/// file that claims partitions it has said it handed over.
@Suite struct DeliveryTests {
    @Test func theMetadataWaitsForTheDocumentsBeforeIt() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let configuration = MemberConfiguration(
            zooKeeper: .init(connectString: try ConnectString(parsing: server.connectString), sessionTimeout: .seconds(4)),
            layout: try GroupLayout(root: "/kiel", group: group), member: "a", strategy: .consistent,
            seedPartitions: try PartitionSpec(parsing: "t:0-3").partitions,
            rebalanceDelayMin: .zero, rebalanceDelayMax: .zero, execTimeout: .seconds(5), host: "test-host", pid: 42)
        var logger = Logger(label: "member")
        logger.logLevel = .warning
        let member = GroupMember(configuration: configuration, logger: logger)
        await member.reportsDeliveries()
        let received = Shared<[MemberDocument]>([])
        let collector = Task {
            for await document in member.documents { received.update { $0.append(document) } }
        }
        let run = Task { try await member.run() }

        // Its node exists with the joining metadata; the documents so far are not delivered.
        let zk = try await server.client()
        let path = "/kiel/groups/\(group)/members/a"
        #expect(await eventually { (try? await zk.getData(path)) != nil })
        // The view is computed: the member now waits for the deliveries (a little longer, to
        // see that it goes on waiting).
        #expect(await eventually { await member.status.generation > 0 })
        try await Task.sleep(for: .milliseconds(200))
        #expect(MemberMetadata(decoding: try await zk.getData(path).data)?.generation == 0)
        #expect(!received.value.contains { $0.state == .active })

        // Delivered: the acknowledgement follows, then the share.
        let delivered = Shared(0)
        @Sendable func deliverAll() async {
            while delivered.value < received.value.count {
                await member.delivered()
                delivered.update { $0 += 1 }
            }
        }
        let acknowledged = await eventually {
            await deliverAll()
            return (MemberMetadata(decoding: (try? await zk.getData(path).data) ?? [])?.generation ?? 0) > 0
        }
        #expect(acknowledged)
        #expect(await eventually {
            await deliverAll()
            return received.value.last?.allocation["t"] == [0, 1, 2, 3]
        })

        await member.stop()
        _ = try? await run.value
        await collector.value
        await zk.close()
    }
}
