import Foundation
import SocketServer
import TestSupport
import Testing

/// Requests and replies on one connection: framing, order, limits, bad input.
@Suite struct RequestTests {
    @Test func roundTrip() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send("ping\n")
            #expect(try await client.readLine() == "pong")
        }
    }

    @Test func severalRequestsOnOneConnection() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            for word in ["one", "two", "three"] {
                try await client.send("echo \(word)\n")
                #expect(try await client.readLine() == word)
            }
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            // The first takes longest: replies still come in the order of the requests.
            try await client.send("slow 100 a\necho b\r\nslow 10 c\n\n\r\necho d\n")
            for expected in ["a", "b", "c", "d"] {
                #expect(try await client.readLine() == expected)
            }
        }
    }

    @Test func thousandsOfPipelinedRequestsAreAllAnswered() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            // Far more than the server queues: it stops reading for a while, and goes on.
            try await client.send((0..<10_000).map { "echo \($0)\n" }.joined())
            client.shutdownWrite()
            #expect(try await client.readAll() == (0..<10_000).map(String.init))
        }
    }

    @Test func halfClosedConnectionGetsAllRepliesThenEnds() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send("slow 50 a\necho b\necho c")
            client.shutdownWrite()
            // The last request had no newline: the end of the input ends it.
            #expect(try await client.readAll() == ["a", "b", "c"])
        }
    }

    @Test func lineAtTheLimitIsServedAndOneByteMoreIsNot() async throws {
        var configuration = LineServerConfiguration()
        configuration.maxLineLength = 16
        try await TestServer.with(configuration) { test in
            let client = try test.connect()
            try await client.send("echo 0123456789a\n")  // 16 bytes
            #expect(try await client.readLine() == "0123456789a")
            try await client.send("echo 0123456789a\r\n")  // 16 bytes and CRLF
            #expect(try await client.readLine() == "0123456789a")
            // 17 bytes so far, but the last is a CR whose LF is still to come.
            try await client.send("echo 0123456789a\r")
            try await Task.sleep(for: .milliseconds(20))
            try await client.send("\n")
            #expect(try await client.readLine() == "0123456789a")
            try await client.send("echo 0123456789ab\nping\n")  // 17 bytes
            #expect(try await client.readAll() == ["error line_too_long 16"])
        }
    }

    @Test func overLongLineGetsTheErrorThenCloseAndOthersGoOn() async throws {
        try await TestServer.with { test in
            let other = try test.connect()
            let client = try test.connect()
            try await client.send("echo before\n")
            // No newline at all: the server must not wait for one.
            try await client.send(bytes: [UInt8](repeating: UInt8(ascii: "a"), count: 200_000))
            #expect(try await client.readAll() == ["before", "error line_too_long 65536"])
            try await other.send("ping\n")
            #expect(try await other.readLine() == "pong")
        }
    }

    @Test func invalidUTF8GetsTheErrorAndTheConnectionStaysUsable() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send(bytes: Array("echo ".utf8) + [0xFF, 0xFE, 0xC3] + Array("\n".utf8))
            try await client.send(bytes: [0xED, 0xA0, 0x80, 0x0A])  // an encoded surrogate
            try await client.send("echo grüße\n")
            #expect(try await client.readLine() == "error invalid_utf8")
            #expect(try await client.readLine() == "error invalid_utf8")
            #expect(try await client.readLine() == "grüße")
        }
    }

    @Test func randomBytesDoNotHurtTheServer() async throws {
        try await TestServer.with { test in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<4 {
                let client = try test.connect()
                let garbage = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try await client.send(bytes: garbage)
                client.shutdownWrite()
                // Whatever it answers, it answers and ends the connection.
                _ = try await client.readAll()
            }
            let client = try test.connect()
            try await client.send("ping\n")
            #expect(try await client.readLine() == "pong")
        }
    }

    @Test func handlerCallsOfDifferentConnectionsRunConcurrently() async throws {
        try await TestServer.with { test in
            let blocked = try test.connect()
            try await blocked.send("block\nping\n")
            let handler = test.handler
            #expect(await eventually { handler.blocked.value == 1 })
            let other = try test.connect()
            try await other.send("ping\n")
            #expect(try await other.readLine() == "pong")
            handler.gate.update { $0 = true }
            #expect(try await blocked.readLine() == "released")
            #expect(try await blocked.readLine() == "pong")
        }
    }

    @Test func peerCredentialsAreThisProcess() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send("peer\n")
            #expect(try await client.readLine() == "\(getpid()) \(getuid()) \(getgid())")
        }
    }
}
