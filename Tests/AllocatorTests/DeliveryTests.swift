import Allocation
import Allocator
import Coordination
import Logging
import Testing
import TestSupport
import ZooKeeper

/// A member whose documents' consumer reports deliveries acknowledges a grant (its record's
/// `acked_epoch`, spec §14 I2, I4) only after its documents are out: killed in between, it must
/// not leave a file that claims partitions it has said it released.
@Suite struct DeliveryTests {
    @Test func theAcknowledgementWaitsForTheDocumentsBeforeIt() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let configuration = MemberConfiguration(
            zooKeeper: .init(connectString: try ConnectString(parsing: server.connectString), sessionTimeout: .seconds(4)),
            layout: try GroupLayout(root: "/kiel", group: group), member: "a", strategy: .consistent,
            seedPartitions: try PartitionSpec(parsing: "t:0-3").partitions, host: "test-host", pid: 42)
        var logger = Logger(label: "member")
        logger.logLevel = .warning
        let member = Member(configuration: configuration, logger: logger)
        await member.reportsDeliveries()
        let received = Shared<[MemberDocument]>([])
        let collector = Task {
            for await document in member.documents { received.update { $0.append(document) } }
        }
        let run = Task { try await member.run() }

        // Its node exists with nothing acknowledged; the documents so far are not delivered.
        let zk = try await server.client()
        let path = "/kiel/groups/\(group)/members/a"
        @Sendable func acknowledged() async -> Int64 {
            (try? await zk.getData(path)).flatMap { MemberRecord(decoding: $0.data) }?.ackedEpoch ?? -1
        }
        #expect(await eventually { await acknowledged() == 0 })
        // The grant is read and published: the member now waits for the deliveries (a little
        // longer, to see that it goes on waiting).
        #expect(await eventually { received.value.contains { $0.state == .active } })
        try await Task.sleep(for: .milliseconds(200))
        #expect(await acknowledged() == 0)

        // Delivered: the acknowledgement follows, then the share.
        let delivered = Shared(0)
        @Sendable func deliverAll() async {
            while delivered.value < received.value.count {
                await member.delivered()
                delivered.update { $0 += 1 }
            }
        }
        #expect(await eventually {
            await deliverAll()
            return await acknowledged() > 0
        })
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
