import Foundation
import Logging
import SocketServer

/// A ``LineServer`` with a ``TestHandler``, bound in a directory of its own that goes away with it.
struct TestServer {
    let server: LineServer
    let handler: TestHandler
    /// The socket's path.
    let path: String
    /// The directory the socket is in.
    let directory: String

    /// A server not yet listening, and the path it is meant for.
    init(_ configuration: LineServerConfiguration = .init()) throws {
        directory = "/tmp/line-server-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        path = directory + "/test.sock"
        handler = TestHandler()
        var logger = Logger(label: "line-server-test")
        logger.logLevel = .critical
        server = LineServer(handler: handler, configuration: configuration, logger: logger)
    }

    /// Binds a server, runs `body`, then closes the server and removes its directory.
    static func with(
        _ configuration: LineServerConfiguration = .init(), _ body: (TestServer) async throws -> Void
    ) async throws {
        let test = try TestServer(configuration)
        do {
            try await test.server.bind(path: test.path)
            try await body(test)
        } catch {
            await test.tearDown()
            throw error
        }
        await test.tearDown()
    }

    /// A new client of the server.
    func connect() throws -> TestClient {
        try TestClient(path: path)
    }

    /// Closes the server and removes its directory.
    func tearDown() async {
        await server.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
