import Foundation
import Glibc
import Logging
import ZooKeeper

/// ZooKeeper servers for fault tests, through `scripts/zk` like `TestZooKeeper`, but with every
/// `scripts/zk` run started from a thread whose signal mask is empty.
///
/// Why: Swift concurrency runs on libdispatch threads that block almost every signal, and a
/// child inherits its parent thread's mask. `scripts/zk` waits for a server with
/// `timeout 2 bash -c '... ruok ...'`; with SIGALRM blocked, `timeout` never fires, and when a
/// loaded machine's server accepts the connection without answering yet, `scripts/zk up` (and
/// the test) hangs for good. See docs/faults.md, F2.
public final class FaultZooKeeper: Sendable {
    /// `127.0.0.1:PORT[,...]`.
    public let connectString: String
    public let directory: String

    private init(connectString: String, directory: String) {
        self.connectString = connectString
        self.directory = directory
    }

    /// One server for every fault test of the process that does not stop or restart it.
    public static let shared = Task { try await FaultZooKeeper.start() }

    /// Starts `servers` servers (1 or 3), tied to this process (`--owner`).
    public static func start(servers: Int = 1, tickTime: Int = 200) async throws -> FaultZooKeeper {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("allocatord-zk-\(UUID().uuidString.prefix(8))").path
        let output = try await zk([
            "up", "--servers", "\(servers)", "--tick-time", "\(tickTime)",
            "--owner", "\(ProcessInfo.processInfo.processIdentifier)", directory,
        ])
        return FaultZooKeeper(connectString: output.trimmingCharacters(in: .whitespacesAndNewlines), directory: directory)
    }

    public func stop() async throws { _ = try await Self.zk(["down", directory]) }

    public func stopServer(_ number: Int, kill: Bool = false) async throws {
        _ = try await Self.zk(["stop"] + (kill ? ["--kill"] : []) + [directory, "\(number)"])
    }

    public func startServer(_ number: Int) async throws { _ = try await Self.zk(["start", directory, "\(number)"]) }

    public func leader() async throws -> Int {
        let output = try await Self.zk(["leader", directory]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let number = Int(output) else { throw TestZooKeeper.ScriptError(message: "no leader: \(output)") }
        return number
    }

    /// The port of the first server, for a proxy in front of it.
    public var firstPort: Int { Int(connectString.split(separator: ",")[0].split(separator: ":")[1])! }

    /// A connected client.
    public func client(sessionTimeout: Duration = .seconds(4)) async throws -> ZooKeeperClient {
        let configuration = ZooKeeperClient.Configuration(
            connectString: try ConnectString(parsing: connectString), sessionTimeout: sessionTimeout)
        let client = try await ZooKeeperClient.connect(configuration, logger: Logger(label: "test"))
        try await client.waitUntilConnected()
        return client
    }

    /// Runs `scripts/zk` on a thread of its own with no signal blocked; returns its output.
    private static func zk(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runUnblocked(repositoryRoot.appendingPathComponent("scripts/zk").path, arguments) })
            }.start()
        }
    }

    private static func runUnblocked(_ path: String, _ arguments: [String]) throws -> String {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errorData = Shared(Data())
        let done = DispatchSemaphore(value: 0)
        Thread {
            errorData.update { $0 = errors.fileHandleForReading.readDataToEndOfFile() }
            done.signal()
        }.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestZooKeeper.ScriptError(message: "scripts/zk \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): "
                + String(decoding: errorData.value, as: UTF8.self))
        }
        return String(decoding: outputData, as: UTF8.self)
    }
}
