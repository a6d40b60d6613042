import Foundation
import Glibc
import Synchronization
import Logging
import ZooKeeper

/// A real ZooKeeper server (or a 3-server ensemble) on loopback for a test, started and stopped
/// by `scripts/zk` with a throw-away data folder, free ports and a 200 ms tick, so sessions of
/// a few hundred milliseconds are possible.
///
/// The servers are tied to the test process (`scripts/zk up --owner`): if the process dies
/// without stopping them, they go too.
public final class TestZooKeeper: Sendable {
    /// `127.0.0.1:PORT[,...]`.
    public let connectString: String
    /// The state folder `scripts/zk` keeps the servers' files in.
    public let directory: String

    private init(connectString: String, directory: String) {
        self.connectString = connectString
        self.directory = directory
    }

    /// One server for the whole test process, for tests that do not stop or restart it. Each
    /// test keeps to its own paths (see `uniquePath`).
    public static let shared = Task { try await TestZooKeeper.start() }

    /// Starts `servers` servers (1 or 3) and waits until they answer; `maxClientConnections`
    /// is ZooKeeper's `maxClientCnxns` (0: no limit).
    public static func start(servers: Int = 1, tickTime: Int = 200, maxClientConnections: Int = 0) async throws -> TestZooKeeper {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("allocatord-zk-\(UUID().uuidString.prefix(8))").path
        let output = try await zk([
            "up", "--servers", "\(servers)", "--tick-time", "\(tickTime)", "--max-client-connections", "\(maxClientConnections)",
            "--owner", "\(ProcessInfo.processInfo.processIdentifier)", directory,
        ])
        let connectString = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return TestZooKeeper(connectString: connectString, directory: directory)
    }

    /// Stops every server and removes their data.
    public func stop() async throws {
        _ = try await Self.zk(["down", directory])
    }

    /// Stops server `number` (1-based), keeping its data; `kill` sends SIGKILL.
    public func stopServer(_ number: Int = 1, kill: Bool = false) async throws {
        _ = try await Self.zk(["stop"] + (kill ? ["--kill"] : []) + [directory, "\(number)"])
    }

    /// Starts server `number` again on its port, with its data.
    public func startServer(_ number: Int = 1) async throws {
        _ = try await Self.zk(["start", directory, "\(number)"])
    }

    /// The number of the ensemble's current leader.
    public func leader() async throws -> Int {
        let output = try await Self.zk(["leader", directory]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let number = Int(output) else { throw ScriptError(message: "no leader: \(output)") }
        return number
    }

    /// A client of this server (or of `proxy`, in front of it); `chroot` is appended to the
    /// connect string.
    public func client(
        chroot: String = "", sessionTimeout: Duration = .seconds(4), session: Session? = nil,
        digestCredential: String? = nil, connected: Bool = true, through proxy: ZooKeeperProxy? = nil
    ) async throws -> ZooKeeperClient {
        let configuration = ZooKeeperClient.Configuration(
            connectString: try ConnectString(parsing: (proxy?.address ?? connectString) + chroot), sessionTimeout: sessionTimeout,
            session: session, digestCredential: digestCredential)
        let client = try await ZooKeeperClient.connect(configuration, logger: Logger(label: "test"))
        if connected { try await client.waitUntilConnected() }
        return client
    }

    public struct ScriptError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The port of the first server, for a proxy in front of it.
    public var firstPort: Int { Int(connectString.split(separator: ",")[0].split(separator: ":")[1])! }

    /// Runs `scripts/zk` and returns its standard output.
    private static func zk(_ arguments: [String]) async throws -> String {
        let result = try await runProcess(repositoryRoot.appendingPathComponent("scripts/zk").path, arguments)
        guard result.status == 0 else {
            throw ScriptError(message: "scripts/zk \(arguments.joined(separator: " ")) failed (\(result.status)): "
                + result.errors)
        }
        return result.output
    }
}

/// The root of this repository, found from this file's place in it.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A path no other test uses, under `/tests`.
public func uniquePath(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    return "/tests-\(safe.prefix(40))-\(UUID().uuidString.prefix(8))"
}

/// Waits until `condition` holds, checking every 10 ms, for at most `timeout`: generous by
/// default, because the suite runs all at once on a machine that may be busy besides
/// (`scripts/test --under-load`), and a test that passes never waits for the timeout.
/// - Returns: whether it held in time.
public func eventually(
    timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A value several tasks of a test share, behind a lock.
public final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) {
        storage = Mutex(value)
    }

    public var value: Value { storage.withLock { $0 } }

    /// Changes the value and returns the new one.
    @discardableResult
    public func update(_ change: (inout Value) -> Void) -> Value {
        storage.withLock { value in
            change(&value)
            return value
        }
    }
}

/// Where `swift build` put the executables (`allocatord`, `allocatorctl`): next to the test
/// bundle that runs this.
public let productsDirectory: URL = {
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents" || directory.lastPathComponent == "MacOS" {
        directory.deleteLastPathComponent()
    }
    return directory
}()

/// What a finished command printed and how it ended.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String
}

/// Runs one of the package's executables with `arguments` and `input` on its standard input.
public func runProduct(_ name: String, _ arguments: [String], input: String = "") async throws -> CommandResult {
    try await runProcess(productsDirectory.appendingPathComponent(name).path, arguments, input: input)
}

/// Runs a program with `arguments` and `input` on its standard input; `environment` is added
/// to this process's.
public func runProcess(
    _ path: String, _ arguments: [String], input: String = "", environment: [String: String] = [:]
) async throws -> CommandResult {
    try await runProcess(path, arguments, bytes: Array(input.utf8), environment: environment)
}
