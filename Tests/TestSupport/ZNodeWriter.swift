import Foundation
import ZooKeeper

/// Another client of a test's ZooKeeper, writing whatever a test wants where a group keeps its
/// data (corrupt partition sets, member nodes with garbage), for fault tests whose targets
/// need not import the ZooKeeper client.
public final class ZNodeWriter: Sendable {
    private let client: ZooKeeperClient

    public init(_ server: TestZooKeeper, sessionTimeout: Duration = .seconds(4)) async throws {
        client = try await server.client(sessionTimeout: sessionTimeout)
    }

    /// Sets the data of `path` unconditionally, creating it (and its parents) if missing.
    public func set(_ path: String, _ data: [UInt8]) async throws {
        try await client.ensurePath(path)
        _ = try await client.setData(path, data)
    }

    /// The data of `path`.
    public func get(_ path: String) async throws -> [UInt8] {
        try await client.getData(path).data
    }

    /// Creates `path` as an ephemeral node of this writer's session (parents must exist).
    public func createEphemeral(_ path: String, _ data: [UInt8]) async throws {
        _ = try await client.create(path, data: data, mode: .ephemeral)
    }

    /// Ends the session: its ephemeral nodes go.
    public func close() async {
        await client.close()
    }
}
