import Foundation
import ZooKeeper

/// Another client of a test's ZooKeeper, writing whatever a test wants where a group keeps its
/// data (corrupt partition sets, member nodes with garbage), for fault tests whose targets
/// need not import the ZooKeeper client. Every operation is retried over a dropped connection
/// or a timed-out request (a busy machine makes both happen), so a test fails only on what
/// it is testing.
public final class ZNodeWriter: Sendable {
    private let client: ZooKeeperClient

    public init(_ server: TestZooKeeper, sessionTimeout: Duration = .seconds(4)) async throws {
        client = try await server.client(sessionTimeout: sessionTimeout)
    }

    /// Sets the data of `path` unconditionally, creating it (and its parents) if missing.
    public func set(_ path: String, _ data: [UInt8]) async throws {
        try await client.retrying {
            try await client.ensurePath(path)
            _ = try await client.setData(path, data)
        }
    }

    /// The data of `path`.
    public func get(_ path: String) async throws -> [UInt8] {
        try await client.retrying { try await client.getData(path).data }
    }

    /// Creates `path` as an ephemeral node of this writer's session (parents must exist).
    public func createEphemeral(_ path: String, _ data: [UInt8]) async throws {
        try await client.retrying {
            do {
                _ = try await client.create(path, data: data, mode: .ephemeral)
            } catch let error as ZooKeeperError where error.code == .nodeExists {
                // An earlier try that timed out may have created it; it is ours only if it
                // belongs to this session.
                let session = try await client.waitUntilConnected()
                guard let stat = try await client.exists(path), stat.ephemeralOwner == session.id else { throw error }
            }
        }
    }

    /// Ends the session: its ephemeral nodes go.
    public func close() async {
        await client.close()
    }
}
