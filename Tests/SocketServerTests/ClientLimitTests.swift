import SocketServer
import TestSupport
import Testing

/// Many clients, too many clients, and clients that do not read.
@Suite struct ClientLimitTests {
    @Test func clientOverTheLimitGetsTheErrorAndIsClosed() async throws {
        var configuration = LineServerConfiguration()
        configuration.maxClients = 3
        try await TestServer.with(configuration) { test in
            var clients: [TestClient] = []
            for _ in 0..<3 {
                let client = try test.connect()
                try await client.send("ping\n")
                #expect(try await client.readLine() == "pong")
                clients.append(client)
            }
            // Refused at once, without a request (sending one could meet a closed connection).
            let refused = try test.connect()
            #expect(try await refused.readAll() == ["error too_many_clients 3"])
            #expect(test.server.clientCount == 3)

            clients.removeFirst().close()
            let server = test.server
            #expect(await eventually { server.clientCount == 2 })
            let admitted = try test.connect()
            try await admitted.send("ping\n")
            #expect(try await admitted.readLine() == "pong")
        }
    }

    @Test func stuckClientAmongAThousandIdleOnesDelaysNobody() async throws {
        try await TestServer.with { test in
            let idle = try (0..<1000).map { _ in try test.connect() }
            let server = test.server
            #expect(await eventually { server.clientCount == 1000 })

            // It asks for an endless stream and never reads.
            let stuck = try test.connect()
            try await stuck.send("flood\n")
            let client = try test.connect()
            for number in 0..<20 {
                try await client.send("echo \(number)\n")
                #expect(try await client.readLine() == "\(number)")
            }
            // It is cut off: the stream's producer is told at once, the connection goes soon after.
            let handler = test.handler
            #expect(await eventually { handler.cancelledStreams.value == 1 })
            #expect(await eventually { server.clientCount == 1001 })
            for other in idle { other.close() }
            #expect(await eventually { server.clientCount == 1 })
            stuck.close()
        }
    }

    @Test func replyLongerThanThePendingLimitReachesAClientThatReads() async throws {
        var configuration = LineServerConfiguration()
        configuration.maxPendingOutputBytes = 1024
        try await TestServer.with(configuration) { test in
            let client = try test.connect()
            let long = String(repeating: "y", count: 50_000)
            try await client.send("echo \(long)\necho \(long)\nping\n")
            #expect(try await client.readLine() == long)
            #expect(try await client.readLine() == long)
            #expect(try await client.readLine() == "pong")
        }
    }

    @Test func slowClientGetsTheErrorAfterWhatItHadNotRead() async throws {
        var configuration = LineServerConfiguration()
        configuration.maxPendingOutputBytes = 64 * 1024
        try await TestServer.with(configuration) { test in
            let client = try test.connect()
            try await client.send("flood\n")
            let handler = test.handler
            #expect(await eventually { handler.cancelledStreams.value == 1 })
            // Reading now, within the grace period, it gets its backlog and then the reason.
            let lines = try await client.readAll()
            #expect(lines.count > 64)
            #expect(lines.dropLast().allSatisfy { $0.count == 1000 })
            #expect(lines.last == "error too_slow")
        }
    }
}
