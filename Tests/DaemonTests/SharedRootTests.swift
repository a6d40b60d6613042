import Allocation
import Foundation
import Testing
import TestSupport
import ZooKeeper

/// Groups share `ROOT` and `ROOT/groups` (spec §13): a credential's ACL guards its own
/// group's subtree, never the ancestors, so one group's credential locks no other group out.
@Suite struct SharedRootTests {
    /// Three groups under one fresh root: two with credentials of their own, one with none, the
    /// first started with a credential (it makes the root). Every one of them comes up active.
    @Test(.timeLimit(.minutes(1))) func groupsWithTwoCredentialsAndNoneShareARoot() async throws {
        let server = try await TestZooKeeper.shared.value
        let root = "/shared-\(UUID().uuidString.prefix(8))"
        let groups: [(name: String, auth: [String])] = [
            ("ga", ["--zk-auth", "alice:secret-a"]), ("gb", ["--zk-auth", "bob:secret-b"]), ("gc", []),
        ]
        let daemons = Shared<[DaemonProcess]>([])
        defer { Task { for daemon in daemons.value { await daemon.stop() } } }
        for (name, auth) in groups {
            let daemon = try DaemonProcess(
                zk: server.connectString, group: name, member: "m",
                arguments: ["--root", root, "--partitions", "t:0-3", "--session-timeout", "4000"] + auth)
            daemons.update { $0.append(daemon) }
            // One after another: the first makes ROOT and ROOT/groups.
            let active = try await daemon.waitForFile("\(name) active") { $0.state == .active }
            #expect(active.allocation == ["t": [0, 1, 2, 3]], "\(name): \(daemon.log.suffix(1500))")
        }
        // Anyone may make a group beside them; nobody without the credential may change ga's.
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        try await zk.create(root + "/groups/another")
        await #expect(throws: ZooKeeperError.self) {
            _ = try await zk.setData(root + "/groups/ga", Array("{}".utf8))
        }
        await #expect(throws: ZooKeeperError.self) {
            try await zk.create(root + "/groups/ga/members/intruder")
        }
    }
}
