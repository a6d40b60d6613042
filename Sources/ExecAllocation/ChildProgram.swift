import Foundation
import Subprocess
import SystemPackage

/// Runs a program the daemon starts on the user's behalf (an `exec:` allocator, the
/// `on-rebalance` hook), through swift-subprocess: the child starts with a clean signal mask
/// and default signal handlers (a child of a Dispatch thread would otherwise inherit SIGTERM,
/// SIGINT and others blocked), without systemd's variables meant for the daemon alone
/// (`NOTIFY_SOCKET`, `WATCHDOG_*`, `LISTEN_*`) and without the daemon's other descriptors.
/// Past `timeout` it gets SIGKILL, with every process of its process group (its own).
public struct ChildProgram: Sendable {
    /// How a run ended.
    public struct Result: Sendable {
        /// The exit status, or the signal's number if `signalled`.
        public var status: Int32
        public var signalled: Bool
        public var output: [UInt8]
        public var errorOutput: [UInt8]
        public var succeeded: Bool { !signalled && status == 0 }
    }

    /// Why a run gave no result.
    public enum Failure: Error, Sendable, Equatable {
        case couldNotStart(String)
        case timedOut
        case tooMuchOutput(limit: Int)
    }

    public let executable: String
    public let arguments: [String]
    public let timeout: Duration
    /// The most bytes kept of standard output, and of standard error; more is a failure.
    public var outputLimit = 64 << 20

    public init(executable: String, arguments: [String] = [], timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.timeout = timeout
    }

    /// Runs the program with `input` on its standard input.
    ///
    /// The input is a deleted temporary file rather than a pipe: a program that never reads
    /// it (a hook that ignores the document) must not make writing it fail.
    public func run(input: [UInt8]) async throws(Failure) -> Result {
        let descriptor = try Self.temporaryFile(holding: input)
        let (executable, arguments, limit, timeout) = (executable, arguments, outputLimit, timeout)
        do {
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    var options = PlatformOptions()
                    // A process group of its own, signalled whole: what `/bin/sh -c` started (a
                    // pipeline, a program it forked) went on running past the timeout, and each
                    // run of a hung allocator left more behind.
                    options.processGroupID = 0
                    // SIGKILL at once: a SIGTERM step ends as soon as the shell is gone, and what
                    // it started, if it ignores SIGTERM, was never sent the SIGKILL.
                    options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .zero)]
                    let environment = Environment.inherit.updating([
                        "NOTIFY_SOCKET": nil, "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil,
                        "LISTEN_FDS": nil, "LISTEN_PID": nil, "LISTEN_FDNAMES": nil,
                    ])
                    let result = try await Subprocess.run(
                        .path(FilePath(executable)), arguments: Arguments(arguments), environment: environment,
                        platformOptions: options, input: .fileDescriptor(descriptor, closeAfterSpawningProcess: true),
                        output: .bytes(limit: limit), error: .bytes(limit: limit))
                    switch result.terminationStatus {
                    case .exited(let code):
                        return Result(status: code, signalled: false, output: result.standardOutput, errorOutput: result.standardError)
                    case .signaled(let signal):
                        return Result(status: signal, signalled: true, output: result.standardOutput, errorOutput: result.standardError)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else { throw Failure.timedOut }
                return result
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as SubprocessError where error.code == .outputLimitExceeded {
            throw .tooMuchOutput(limit: limit)
        } catch {
            throw .couldNotStart("\(error)")
        }
    }

    /// An open, already unlinked file in the temporary folder with `bytes` in it, read from
    /// the start.
    private static func temporaryFile(holding bytes: [UInt8]) throws(Failure) -> FileDescriptor {
        var template = Array((ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp").utf8) + Array("/allocatord-input.XXXXXX".utf8) + [0]
        let raw = template.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { mkstemp($0.baseAddress!) }
        }
        guard raw >= 0 else { throw .couldNotStart("cannot create a temporary file for the input: \(String(cString: strerror(errno)))") }
        _ = fcntl(raw, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = unlink($0.baseAddress!) }
        }
        let descriptor = FileDescriptor(rawValue: raw)
        do {
            try descriptor.writeAll(bytes)
            _ = try descriptor.seek(offset: 0, from: FileDescriptor.SeekOrigin.start)
        } catch {
            try? descriptor.close()
            throw .couldNotStart("cannot write the input: \(error)")
        }
        return descriptor
    }
}
