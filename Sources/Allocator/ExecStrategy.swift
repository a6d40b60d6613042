import Allocation
import Dispatch
import Foundation
import Synchronization

extension Strategy {
    /// The allocation this strategy gives: computed here for the pure strategies, by running
    /// the program for `exec:PATH` (which may take up to `execTimeout`).
    /// - Throws: `ExecStrategyError` if the program fails.
    public func allocate(members: [String], partitions: [Partition], execTimeout: Duration) async throws -> Allocation {
        if case .exec(let path) = self {
            return try await ExecStrategy(path: path, timeout: execTimeout).allocate(members: members, partitions: partitions)
        }
        return allocate(members: members, partitions: partitions)
    }
}

/// Runs an external allocator program (`exec:PATH`, spec §6): the request
/// `{"members": [...], "partitions": [...]}` on its standard input, the mapping
/// `{"MEMBER": {"TOPIC": [ID, ...]}}` expected on its standard output. A program that cannot
/// start, exits non-zero, outlives `timeout`, prints more than `outputLimit` bytes or a mapping
/// that does not assign every partition exactly once is an `ExecStrategyError`.
struct ExecStrategy: Sendable {
    let path: String
    let timeout: Duration
    var outputLimit = 64 << 20

    func allocate(members: [String], partitions: [Partition]) async throws(ExecStrategyError) -> Allocation {
        let request = Array((ExecRequest(members: members, partitions: partitions).json + "\n").utf8)
        let output = try await run(input: request)
        let mapping: [String: [String: [Int]]]
        do {
            mapping = try JSONDecoder().decode([String: [String: [Int]]].self, from: output)
        } catch {
            let excerpt = String(decoding: output.prefix(200), as: UTF8.self)
            throw .invalidOutput(path: path, reason: "not a JSON object of member → topic → ids: \(excerpt)")
        }
        do {
            return try Allocation.validated(mapping: mapping, members: members, partitions: partitions)
        } catch {
            throw .invalidMapping(path: path, error: error)
        }
    }

    private func run(input: [UInt8]) async throws(ExecStrategyError) -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.environment = childEnvironment()
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        guard access(path, X_OK) == 0 else {
            throw .couldNotStart(path: path, reason: String(cString: strerror(errno)))
        }
        do {
            try process.run()
        } catch {
            throw .couldNotStart(path: path, reason: "\(error)")
        }
        let run = RunningProgram(process: process)
        // Blocking pipe work stays on Dispatch threads, off the concurrency pool.
        DispatchQueue.global().async {
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }
        DispatchQueue.global().async {
            // Read to the end, so the program never blocks on a full pipe; keep the start.
            while case let chunk = stderr.fileHandleForReading.availableData, !chunk.isEmpty {
                run.errorOutput.withLock { if $0.count < 4096 { $0.append(chunk.prefix(4096 - $0.count)) } }
            }
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { run.stop(reason: .timedOut) }
        let limit = outputLimit
        let output: Data = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var output = Data()
                while let chunk = try? stdout.fileHandleForReading.read(upToCount: 65536), !chunk.isEmpty {
                    output.append(chunk)
                    if output.count > limit {
                        run.stop(reason: .tooMuchOutput)
                        break
                    }
                }
                process.waitUntilExit()
                continuation.resume(returning: output)
            }
        }
        switch run.stopReason.withLock({ $0 }) {
        case .timedOut:
            throw .timedOut(path: path, after: timeout)
        case .tooMuchOutput:
            throw .invalidOutput(path: path, reason: "more than \(limit) bytes of output")
        case nil:
            guard process.terminationReason == .exit, process.terminationStatus == 0 else {
                let message = String(decoding: run.errorOutput.withLock { $0 }, as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw .failed(
                    path: path, status: process.terminationStatus,
                    signalled: process.terminationReason == .uncaughtSignal, message: message)
            }
            return output
        }
    }
}

/// A started program and what the threads watching it share.
/// `Process` is safe to query and signal from any thread; the rest is behind locks.
private final class RunningProgram: @unchecked Sendable {
    enum StopReason { case timedOut, tooMuchOutput }

    let process: Process
    let stopReason = Mutex<StopReason?>(nil)
    let errorOutput = Mutex(Data())

    init(process: Process) {
        self.process = process
    }

    /// Terminates the program (SIGTERM, then SIGKILL a second later) unless it has exited.
    func stop(reason: StopReason) {
        guard process.isRunning else { return }
        stopReason.withLock { if $0 == nil { $0 = reason } }
        process.terminate()
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [process] in
            if process.isRunning { kill(pid, SIGKILL) }
        }
    }
}

/// This process's environment without what systemd meant for the daemon alone
/// (`NOTIFY_SOCKET`, `WATCHDOG_*`, `LISTEN_*`), for the programs it runs.
public func childEnvironment() -> [String: String] {
    ProcessInfo.processInfo.environment.filter { name, _ in
        name != "NOTIFY_SOCKET" && !name.hasPrefix("WATCHDOG_") && !name.hasPrefix("LISTEN_")
    }
}

/// Why an `exec:` allocator gave no usable allocation.
public enum ExecStrategyError: Error, Sendable, Equatable, CustomStringConvertible {
    case couldNotStart(path: String, reason: String)
    case failed(path: String, status: Int32, signalled: Bool, message: String)
    case timedOut(path: String, after: Duration)
    case invalidOutput(path: String, reason: String)
    case invalidMapping(path: String, error: MappingError)

    public var description: String {
        switch self {
        case .couldNotStart(let path, let reason): "allocator \(path) could not start: \(reason)"
        case .failed(let path, let status, let signalled, let message):
            "allocator \(path) \(signalled ? "was killed by signal" : "exited with status") \(status)"
                + (message.isEmpty ? "" : ": \(message)")
        case .timedOut(let path, let after): "allocator \(path) did not finish within \(after)"
        case .invalidOutput(let path, let reason): "allocator \(path) printed no mapping: \(reason)"
        case .invalidMapping(let path, let error): "allocator \(path): \(error)"
        }
    }
}
