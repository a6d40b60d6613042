import Foundation
import Subprocess
import SystemPackage
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

    /// A client of this server; `chroot` is appended to the connect string.
    public func client(
        chroot: String = "", sessionTimeout: Duration = .seconds(4), session: Session? = nil,
        digestCredential: String? = nil, connected: Bool = true
    ) async throws -> ZooKeeperClient {
        let configuration = ZooKeeperClient.Configuration(
            connectString: try ConnectString(parsing: connectString + chroot), sessionTimeout: sessionTimeout,
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

    /// Runs `scripts/zk` and returns its standard output, through swift-subprocess: the script
    /// starts with no signal blocked. (Foundation's `Process` would pass on the blocked mask of
    /// the Swift concurrency thread it is called from, and the servers the script starts could
    /// then not be stopped by SIGTERM: docs/faults.md, F2.)
    private static func zk(_ arguments: [String]) async throws -> String {
        let result = try await Subprocess.run(
            .path(FilePath(repositoryRoot.appendingPathComponent("scripts/zk").path)), arguments: Arguments(arguments),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        guard result.terminationStatus.isSuccess else {
            throw ScriptError(message: "scripts/zk \(arguments.joined(separator: " ")) failed (\(result.terminationStatus)): "
                + result.standardError)
        }
        return result.standardOutput
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

/// Runs a program with `arguments` and `input` on its standard input.
public func runProcess(_ path: String, _ arguments: [String], input: String = "") async throws -> CommandResult {
    try await runProcess(path, arguments, bytes: Array(input.utf8))
}

/// Runs a program with `arguments` and `bytes`, which need not be UTF-8, on its standard input.
public func runProcess(_ path: String, _ arguments: [String], bytes input: [UInt8]) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    let exited = AsyncStream.makeStream(of: Void.self)
    process.terminationHandler = { _ in exited.continuation.finish() }
    try process.runSerially()
    // Off the concurrency pool: a write end of these pipes may also be held by another process
    // that the suite started at the same moment (it inherits every descriptor open then), so
    // reading to EOF could wait for that process, not this one.
    let output = PipeReader(stdout.fileHandleForReading), errors = PipeReader(stderr.fileHandleForReading)
    try stdin.fileHandleForWriting.write(contentsOf: Data(input))
    try stdin.fileHandleForWriting.close()
    for await _ in exited.stream {}
    return CommandResult(
        status: process.terminationStatus, output: String(decoding: await output.finish(), as: UTF8.self),
        errors: String(decoding: await errors.finish(), as: UTF8.self))
}

/// Collects what comes through a pipe on a thread of its own, until EOF or `finish()`.
final class PipeReader: Sendable {
    private let collected = Shared(Data())
    private let ended = Shared(false)

    init(_ handle: FileHandle) {
        let (collected, ended) = (collected, ended)
        Thread {
            while case let chunk = handle.availableData, !chunk.isEmpty {
                collected.update { $0.append(chunk) }
            }
            ended.update { $0 = true }
        }.start()
    }

    /// What came, once the pipe ended; or, should another process hold it open, what came
    /// within a second after the writer exited.
    func finish() async -> Data {
        _ = await eventually(timeout: .seconds(1)) { self.ended.value }
        return collected.value
    }
}

extension Process {
    /// `run()`, never at the same moment as another test's: Foundation's `Process.run()`
    /// crashed (a bad read in its memcpy) when two threads started processes at once under load.
    public func runSerially() throws {
        try processLaunch.withLock { _ in try run() }
    }
}

private let processLaunch = Mutex(())
