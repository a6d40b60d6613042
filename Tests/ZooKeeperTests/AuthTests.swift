import Testing
import TestSupport
import ZooKeeper

/// Digest credentials and ACLs: what the daemon uses to keep other clients from changing a group.
@Suite struct AuthTests {
    @Test func digestACLRefusesUnauthenticatedWriters() async throws {
        let server = try await TestZooKeeper.shared.value
        let owner = try await server.client(digestCredential: "allocatord:secret")
        let stranger = try await server.client()
        let impostor = try await server.client(digestCredential: "allocatord:wrong")
        let colleague = try await server.client(digestCredential: "allocatord:secret")
        defer { Task { for zk in [owner, stranger, impostor, colleague] { await zk.close() } } }
        let root = uniquePath()

        #expect(owner.defaultACL == ACL.creatorAllWorldRead)
        try await owner.create(root, data: [1])

        // Everyone may read...
        #expect(try await stranger.getData(root).data == [1])
        // ...only the credential may write, delete or create below.
        await #expect(throws: ZooKeeperError(code: .noAuth, operation: "setData", path: root)) {
            try await stranger.setData(root, [2])
        }
        await #expect(throws: ZooKeeperError(code: .noAuth, operation: "setData", path: root)) {
            try await impostor.setData(root, [2])
        }
        await #expect(throws: ZooKeeperError(code: .noAuth, operation: "create", path: root + "/x")) {
            try await stranger.create(root + "/x")
        }
        try await colleague.setData(root, [3])
        try await colleague.create(root + "/x")
        #expect(try await owner.getData(root).data == [3])
    }

    @Test func creatorACLNeedsACredential() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        await #expect(throws: ZooKeeperError.self) {
            try await zk.create(uniquePath(), acl: ACL.creatorAllWorldRead)
        }
        try await zk.addAuth(scheme: "digest", credential: "late:comer")
        try await zk.create(uniquePath(), acl: ACL.creatorAllWorldRead)
    }

    @Test func explicitACLsAreKept() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        defer { Task { await zk.close() } }
        let root = uniquePath()
        try await zk.create(root, acl: [ACL(permissions: [.read, .create], scheme: "world", id: "anyone")])
        try await zk.create(root + "/child")
        await #expect(throws: ZooKeeperError(code: .noAuth, operation: "setData", path: root)) {
            try await zk.setData(root, [1])
        }
    }
}
