import SocketServer
import TestSupport
import Testing

/// Replies that are streams, as `watch` is.
@Suite struct StreamTests {
    @Test func streamDeliversItsLinesInOrderThenTheConnectionEnds() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            // The request after the stream is never answered.
            try await client.send("echo first\ncount 1000\nping\n")
            #expect(try await client.readAll() == ["first"] + (0..<1000).map(String.init))
        }
    }

    @Test func streamLinesGoOutAsTheyCome() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send("watch\n")
            let handler = test.handler
            try #require(await eventually { handler.watchers.value.count == 1 })
            for number in 0..<3 {
                handler.watchers.value[0].yield(ReplyLine("change \(number)"))
                #expect(try await client.readLine() == "change \(number)")
            }
            handler.watchers.value[0].finish()
            #expect(try await client.readLine() == nil)
            #expect(handler.cancelledStreams.value == 0)
        }
    }

    @Test func streamIsCancelledWhenTheClientCloses() async throws {
        try await TestServer.with { test in
            let client = try test.connect()
            try await client.send("watch\n")
            let handler = test.handler
            try #require(await eventually { handler.watchers.value.count == 1 })
            handler.watchers.value[0].yield("now")
            #expect(try await client.readLine() == "now")
            client.close()
            // Without another line to write: the server notices the hang-up by itself.
            #expect(await eventually { handler.cancelledStreams.value == 1 })
            let server = test.server
            #expect(await eventually { server.clientCount == 0 })
        }
    }

    @Test func closingTheServerCancelsStreams() async throws {
        let test = try TestServer()
        try await test.server.bind(path: test.path)
        let client = try test.connect()
        try await client.send("watch\n")
        let handler = test.handler
        try #require(await eventually { handler.watchers.value.count == 1 })
        await test.tearDown()
        #expect(await eventually { handler.cancelledStreams.value == 1 })
        #expect(try await client.readAll() == [])
    }
}

extension StreamTests {
    /// Spec §13: a `watch` client that does not keep up gets only the latest document. The
    /// server takes a stream's next line only once the kernel took the one before, so a stream
    /// keeping only its newest line holds one line for a stuck client, not all of them, and the
    /// client is never cut off for it.
    @Test func stuckClientOfANewestOnlyStreamGetsTheLatestLineAndIsNotCutOff() async throws {
        var configuration = LineServerConfiguration()
        configuration.maxPendingOutputBytes = 256 << 10
        try await TestServer.with(configuration) { test in
            let client = try test.connect()
            try await client.send("latest\n")
            let handler = test.handler
            try #require(await eventually { handler.watchers.value.count == 1 })
            // 5 MB of distinct lines, far more than the kernel and the limit hold, at a pace a
            // server taking every line would keep up with.
            for number in 0..<50 {
                handler.watchers.value[0].yield(ReplyLine("\(number) " + String(repeating: "z", count: 100_000)))
                try await Task.sleep(for: .milliseconds(20))
            }
            handler.watchers.value[0].yield("last")
            var received: [String] = []
            while let line = try await client.readLine(timeout: .seconds(60)) {
                received.append(String(line.prefix(10)))
                if line == "last" { break }
            }
            #expect(received.count < 50, "\(received.count) lines")
            #expect(received.last == "last")
            #expect(handler.tooSlowReplies.value == 0)
            #expect(handler.cancelledStreams.value == 0)
        }
    }
}
