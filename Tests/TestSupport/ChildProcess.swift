import Foundation
import Glibc

/// A program a test runs, started with `posix_spawn`: with no blocked signals and every signal's
/// default action, and with no descriptor of the suite but the three it is given.
///
/// Not Foundation's `Process`: under load its `run()` crashed the suite (a bad read in its
/// `memcpy`), its children inherited the blocked signals of the Dispatch thread that started
/// them (SIGTERM did nothing), and every descriptor open at that moment (so a pipe's reader
/// waited for EOF from an unrelated daemon that another test had started at the same instant).
///
/// Its exit is collected on a thread of its own; a child still running when this goes away is
/// killed (SIGKILL), so that no test leaves a program behind.
public final class ChildProcess: Sendable {
    /// Where the child's standard input comes from.
    public enum Input: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe that `write(_:)` and `closeInput()` feed.
        case pipe
    }

    /// Where the child's standard output or error goes.
    public enum Output: Sendable {
        /// This process's own (the test log).
        case inherit
        /// `/dev/null`.
        case discard
        /// Kept, as `output` or `errors`, read on a thread of its own.
        case collect
        /// Each complete line, without its newline, given to the handler on a thread of its own
        /// as soon as it arrives.
        case lines(@Sendable (Data) -> Void)
        /// A pipe whose read end is `outputHandle` (the caller reads it; standard output only).
        case pipe
    }

    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)

        /// The exit status, or the number of the signal that ended it (as Foundation's
        /// `terminationStatus`).
        public var status: Int32 {
            switch self {
            case .exited(let status), .signaled(let status): status
            }
        }
    }

    /// A program that could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        public let path: String
        public let code: Int32
        public var description: String { "cannot start \(path): \(String(cString: strerror(code)))" }
    }

    public let processIdentifier: pid_t
    /// The read end of standard output, with `Output.pipe`.
    public let outputHandle: FileHandle?
    /// The write end of standard input (`Input.pipe`) until `closeInput()`.
    private let inputDescriptor: Shared<Int32?>
    private let outputReader: PipeReader?
    private let errorReader: PipeReader?
    private let ended = Shared<Termination?>(nil)
    private let exitSignal = DispatchSemaphore(value: 0)

    /// Starts `path` with `arguments`; `environment` is added to this process's (a value
    /// replaces the inherited one); `directory` is its working directory.
    public init(
        _ path: String, _ arguments: [String] = [], environment: [String: String] = [:], directory: String? = nil,
        input: Input = .null, output: Output = .discard, errors: Output = .inherit
    ) throws {
        Self.ignoreBrokenPipes
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), everySignal = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&everySignal)
        for number in Int32(1)...31 where number != SIGKILL && number != SIGSTOP { sigaddset(&everySignal, number) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        // The child's ends of pipes are closed here once it has started; ours are close-on-exec.
        var childEnds: [Int32] = []
        defer { childEnds.forEach { _ = Glibc.close($0) } }
        func makePipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { throw SpawnError(path: path, code: errno) }
            ends.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
            return (ends[0], ends[1])
        }

        var inputEnd: Int32?
        switch input {
        case .null: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .pipe:
            let ends = try makePipe()
            childEnds.append(ends.read)
            posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
            inputEnd = ends.write
        }

        var readEnds: [Int32: Int32] = [:]
        for (descriptor, mode) in [(Int32(1), output), (2, errors)] {
            switch mode {
            case .inherit: continue
            case .discard: posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
            case .collect, .lines, .pipe:
                let ends = try makePipe()
                childEnds.append(ends.write)
                posix_spawn_file_actions_adddup2(&actions, ends.write, descriptor)
                readEnds[descriptor] = ends.read
            }
        }
        _ = GNUSpawn.addCloseFrom(&actions, 3)
        if let directory { _ = GNUSpawn.addChdir(&actions, directory) }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard code == 0 else {
            (Array(readEnds.values) + (inputEnd.map { [$0] } ?? [])).forEach { _ = Glibc.close($0) }
            throw SpawnError(path: path, code: code)
        }
        processIdentifier = pid
        inputDescriptor = Shared(inputEnd)

        func reader(_ mode: Output, _ descriptor: Int32) -> PipeReader? {
            switch mode {
            case .collect: readEnds[descriptor].map { PipeReader($0, lines: nil) }
            case .lines(let handler): readEnds[descriptor].map { PipeReader($0, lines: handler) }
            default: nil
            }
        }
        outputReader = reader(output, 1)
        errorReader = reader(errors, 2)
        if case .pipe = output, let end = readEnds[1] {
            outputHandle = FileHandle(fileDescriptor: end, closeOnDealloc: true)
        } else {
            outputHandle = nil
        }

        let (ended, exitSignal) = (ended, exitSignal)
        Thread { [pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
            // <sys/wait.h>'s macros: the low 7 bits are the signal, or 0 and the exit status above.
            ended.update { $0 = status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signaled(status & 0x7F) }
            exitSignal.signal()
        }.start()
    }

    /// A write to a child that no longer reads fails with EPIPE instead of ending the suite.
    private static let ignoreBrokenPipes: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    /// How it ended, or nil while it runs.
    public var termination: Termination? { ended.value }

    public var isRunning: Bool { ended.value == nil }

    /// Sends a signal, unless it has already ended.
    public func signal(_ number: Int32) {
        if isRunning { kill(processIdentifier, number) }
    }

    /// Writes to its standard input (`Input.pipe`); false if it no longer reads.
    @discardableResult
    public func write(_ bytes: some Collection<UInt8>) -> Bool {
        guard let descriptor = inputDescriptor.value else { return false }
        var remaining = Array(bytes)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            remaining = remaining.dropFirst(written)
        }
        return true
    }

    /// Ends its standard input (`Input.pipe`).
    public func closeInput() {
        inputDescriptor.update { descriptor in
            descriptor.map { _ = Glibc.close($0) }
            descriptor = nil
        }
    }

    /// Feeds `input` to its standard input (`Input.pipe`) and ends it, waits for it to end,
    /// and returns what it printed (`Output.collect`), blocking the calling thread.
    public func finish(feeding input: [UInt8] = []) -> CommandResult {
        // On a thread of its own: a child that prints much before it reads would otherwise
        // wait for us, and we for it.
        Thread {
            self.write(input)
            self.closeInput()
        }.start()
        let termination = waitUntilExit()
        // Both pipes end with the child, whose descriptors are its own: a second at most.
        for reader in [outputReader, errorReader] { reader?.waitForEnd() }
        return CommandResult(
            status: termination.status, output: String(decoding: output, as: UTF8.self),
            errors: String(decoding: errors, as: UTF8.self))
    }

    /// Waits for it to end, for at most `timeout`; nil if it still runs.
    public func exited(timeout: Duration = .seconds(30)) async -> Termination? {
        _ = await eventually(timeout: timeout) { !self.isRunning }
        return termination
    }

    /// Waits for it to end, blocking the calling thread (for code on threads of its own).
    @discardableResult
    public func waitUntilExit() -> Termination {
        exitSignal.wait()
        exitSignal.signal()
        return termination!
    }

    /// Its standard output so far (`Output.collect`).
    public var output: Data { outputReader?.collected ?? Data() }

    /// Its standard error so far (`Output.collect`).
    public var errors: Data { errorReader?.collected ?? Data() }

    deinit {
        if isRunning { kill(processIdentifier, SIGKILL) }
        closeInput()
    }
}

/// glibc's spawn file actions that Swift's Glibc module leaves out (they need `_GNU_SOURCE`).
private enum GNUSpawn {
    typealias Actions = UnsafeMutablePointer<posix_spawn_file_actions_t>

    /// `posix_spawn_file_actions_addclosefrom_np`: closes every descriptor from the one given.
    static let addCloseFrom = unsafeBitCast(
        dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"), to: (@convention(c) (Actions, Int32) -> Int32).self)

    /// `posix_spawn_file_actions_addchdir_np`: the child's working directory.
    static let addChdir = unsafeBitCast(
        dlsym(nil, "posix_spawn_file_actions_addchdir_np"),
        to: (@convention(c) (Actions, UnsafePointer<CChar>) -> Int32).self)
}

/// Reads a pipe to its end on a thread of its own, keeping what came or handing on lines.
private final class PipeReader: Sendable {
    private let data = Shared(Data())
    private let done = DispatchSemaphore(value: 0)

    init(_ descriptor: Int32, lines handler: (@Sendable (Data) -> Void)?) {
        let (data, done) = (data, done)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            var pending = Data()
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                guard let handler else {
                    data.update { $0.append(contentsOf: buffer[..<count]) }
                    continue
                }
                pending.append(contentsOf: buffer[..<count])
                while let newline = pending.firstIndex(of: 0x0A) {
                    handler(Data(pending[pending.startIndex..<newline]))
                    pending = Data(pending[pending.index(after: newline)...])
                }
            }
            Glibc.close(descriptor)
            done.signal()
        }.start()
    }

    var collected: Data { data.value }

    /// Waits until the pipe ended, for at most a second.
    func waitForEnd() {
        if done.wait(timeout: .now() + .seconds(1)) == .success { done.signal() }
    }
}

/// Runs a program to its end with `input` on its standard input, blocking the calling thread:
/// for threads of a test's own and quick programs; a test on the concurrency pool waits for
/// anything longer with `runProcess`.
public func runBlocking(
    _ path: String, _ arguments: [String], input: [UInt8] = [], environment: [String: String] = [:]
) throws -> CommandResult {
    try ChildProcess(path, arguments, environment: environment, input: .pipe, output: .collect, errors: .collect)
        .finish(feeding: input)
}

/// Runs a program to its end with `input` on its standard input, on a thread of its own (not
/// the concurrency pool, which has as many threads as cores).
public func runProcess(
    _ path: String, _ arguments: [String], bytes input: [UInt8], environment: [String: String] = [:]
) async throws -> CommandResult {
    let child = try ChildProcess(path, arguments, environment: environment, input: .pipe, output: .collect, errors: .collect)
    return await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: child.finish(feeding: input)) }.start()
    }
}
