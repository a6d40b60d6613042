import Logging
import Testing
import TestSupport
import ZooKeeper

/// Connection and session states against a real server: restart, expiry, heartbeats.
@Suite struct SessionTests {
    @Test func connectReportsTheNegotiatedSession() async throws {
        let server = try await TestZooKeeper.shared.value
        // The test server's tick is 200 ms: it grants 400 ms to 60 s.
        let zk = try await server.client(sessionTimeout: .milliseconds(100))
        defer { Task { await zk.close() } }
        guard case .connected(let session) = zk.status.state else {
            Issue.record("not connected: \(zk.status.state)")
            return
        }
        #expect(session.timeout == .milliseconds(400))
        #expect(session.id != 0)
        #expect(session.password.count == 16)
        #expect(zk.status.session == session)
    }

    @Test func theServerIsHeardFromWithoutAnyRequest() async throws {
        let zk = try await TestZooKeeper.shared.value.client(sessionTimeout: .milliseconds(800))
        defer { Task { await zk.close() } }
        let first = try await waitForHeartbeat(zk, after: nil)
        // Heartbeats every quarter of the session timeout keep it fresh.
        let second = try await waitForHeartbeat(zk, after: first)
        #expect(second > first)
        #expect(ContinuousClock.now - second < .milliseconds(800))
    }

    /// The heartbeats are `sync`s: the ensemble's leader answers them, so that they show the
    /// session alive where sessions expire (a read's answer does not: a server that lost the
    /// leader answers reads for a while after the leader expired the session).
    @Test func heartbeatsAreSyncs() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try ZooKeeperProxy(port: server.firstPort)
        defer { proxy.stop() }
        let zk = try await server.client(sessionTimeout: .milliseconds(800), through: proxy)
        defer { Task { await zk.close() } }
        let first = try await waitForHeartbeat(zk, after: nil)
        _ = try await waitForHeartbeat(zk, after: first)
        let requests = proxy.requests.filter { $0.type != 11 }  // pings aside
        #expect(requests.contains { $0.type == 9 && $0.path == "/" }, "\(requests)")
        #expect(!requests.contains { $0.type == 3 }, "an exists among the heartbeats: \(requests)")
    }

    @Test func reconnectsWithinTheSessionAfterAServerRestart() async throws {
        let server = try await TestZooKeeper.start()
        defer { Task { try await server.stop() } }
        let zk = try await server.client(sessionTimeout: .seconds(20))
        defer { Task { await zk.close() } }
        let session = try #require(zk.status.session)
        try await zk.create("/member", mode: .ephemeral)
        let (_, watch) = try await zk.getDataWatching("/member")
        var states = zk.sessionStates().makeAsyncIterator()
        #expect(await states.next() == .connected(session))

        try await server.stopServer()
        #expect(await states.next() == .suspended)
        await #expect(throws: ZooKeeperError.self) { try await zk.exists("/member") }

        try await server.startServer()
        #expect(await states.next() == .connected(session))
        // Same session: the ephemeral node and the watch survived.
        #expect(try await zk.exists("/member")?.ephemeralOwner == session.id)
        let writer = try await server.client()
        defer { Task { await writer.close() } }
        try await writer.setData("/member", [1])
        #expect(try await watch.fired().kind == .nodeDataChanged)
    }

    @Test func aSessionCutOffPastItsTimeoutIsSeenExpired() async throws {
        let server = try await TestZooKeeper.shared.value
        let proxy = try TCPProxy(port: Int(server.connectString.split(separator: ":").last!)!)
        defer { proxy.stop() }
        let root = uniquePath()
        let configuration = ZooKeeperClient.Configuration(
            connectString: try ConnectString(parsing: proxy.address), sessionTimeout: .milliseconds(800))
        let zk = try await ZooKeeperClient.connect(configuration, logger: Logger(label: "test"))
        defer { Task { await zk.close() } }
        let session = try await zk.waitUntilConnected()
        try await zk.create(root, mode: .ephemeral)
        let (_, watch) = try await zk.getDataWatching(root)
        var states = zk.sessionStates().makeAsyncIterator()
        #expect(await states.next() == .connected(session))

        // A network partition longer than the session timeout: the server expires the session.
        proxy.blackhole()
        #expect(await states.next() == .suspended)
        let observer = try await server.client()
        defer { Task { await observer.close() } }
        #expect(try await eventually { try await observer.exists(root) == nil })

        // On healing, the server tells the client so.
        proxy.heal()
        #expect(await states.next() == .expired)
        #expect(try await watch.fired() == WatchedEvent(kind: .sessionEnded, path: root))
        await #expect(throws: ZooKeeperError.self) { try await zk.exists(root) }
    }

    @Test func resumingAClosedSessionIsExpired() async throws {
        let server = try await TestZooKeeper.shared.value
        let zk = try await server.client(sessionTimeout: .seconds(4))
        let session = try #require(zk.status.session)
        await zk.close()
        // Resuming a closed session: the server answers "expired".
        let late = try await server.client(session: session, connected: false)
        defer { Task { await late.close() } }
        await #expect(throws: ZooKeeperError(code: .sessionExpired, operation: "connect", path: nil)) {
            try await late.waitUntilConnected()
        }
    }

    @Test func stateStreamsEndWithClosed() async throws {
        let zk = try await TestZooKeeper.shared.value.client()
        let stream = zk.sessionStates()
        await zk.close()
        var seen: [SessionState] = []
        for await state in stream { seen.append(state) }
        #expect(seen.count == 2)
        #expect(seen.last == .closed)
        // A stream asked for after close has just the final state.
        var after: [SessionState] = []
        for await state in zk.sessionStates() { after.append(state) }
        #expect(after == [.closed])
    }

    private func waitForHeartbeat(
        _ zk: ZooKeeperClient, after previous: ContinuousClock.Instant?
    ) async throws -> ContinuousClock.Instant {
        let arrived = await eventually(timeout: .seconds(5)) {
            let heard = zk.status.lastHeardFromServer
            return heard != nil && heard != previous
        }
        #expect(arrived)
        return try #require(zk.status.lastHeardFromServer)
    }
}
