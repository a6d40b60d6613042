import Foundation
import SocketServer
import TestSupport
import Testing

/// The socket itself: its file, its mode, a stale or foreign one, systemd's, closing.
@Suite struct ListeningTests {
    @Test func socketFileHasTheConfiguredMode() async throws {
        try await TestServer.with { test in
            let attributes = try FileManager.default.attributesOfItem(atPath: test.path)
            #expect(attributes[.type] as? FileAttributeType == .typeSocket)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o660)
        }
    }

    @Test func closeRemovesTheSocketFileAndEndsConnections() async throws {
        let test = try TestServer()
        try await test.server.bind(path: test.path)
        let client = try test.connect()
        try await client.send("ping\n")
        #expect(try await client.readLine() == "pong")
        await test.server.close()
        #expect(!FileManager.default.fileExists(atPath: test.path))
        #expect(try await client.readAll() == [])
        #expect(test.server.clientCount == 0)
        await test.tearDown()
    }

    @Test func bindRefusesAPathThatIsNotASocket() async throws {
        let test = try TestServer()
        try "keep me".write(toFile: test.path, atomically: false, encoding: .utf8)
        await #expect(throws: LineServerError(code: .notASocket, target: test.path)) {
            try await test.server.bind(path: test.path)
        }
        #expect(try String(contentsOfFile: test.path, encoding: .utf8) == "keep me")
        await test.tearDown()
    }

    @Test func bindReplacesAStaleSocket() async throws {
        let test = try TestServer()
        // A socket file whose process is gone: bound, never listening, closed.
        close(try UnixAddress.boundSocket(at: test.path, listen: false))
        try await test.server.bind(path: test.path)
        let client = try test.connect()
        try await client.send("ping\n")
        #expect(try await client.readLine() == "pong")
        await test.tearDown()
    }

    @Test func bindRefusesASocketAnotherServerListensOn() async throws {
        try await TestServer.with { test in
            let second = LineServer(handler: TestHandler(), logger: .init(label: "second"))
            await #expect(throws: LineServerError(code: .inUse, target: test.path)) {
                try await second.bind(path: test.path)
            }
            let client = try test.connect()
            try await client.send("ping\n")
            #expect(try await client.readLine() == "pong")
        }
    }

    @Test func adoptServesASocketThatIsAlreadyListening() async throws {
        let test = try TestServer()
        let descriptor = try UnixAddress.boundSocket(at: test.path)
        try await test.server.adopt(listeningDescriptor: descriptor)
        let client = try test.connect()
        try await client.send("peer\n")
        #expect(try await client.readLine() == "\(getpid()) \(getuid()) \(getgid())")
        await test.server.close()
        // The file is systemd's: it stays.
        #expect(FileManager.default.fileExists(atPath: test.path))
        await test.tearDown()
    }

    @Test func aServerListensOnce() async throws {
        try await TestServer.with { test in
            await #expect(throws: LineServerError.self) { try await test.server.bind(path: test.path + "2") }
        }
    }
}
