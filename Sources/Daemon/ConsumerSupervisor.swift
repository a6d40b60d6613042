import Allocator
import Configuration
import CoreMetrics
import Foundation
import Glibc
import Logging
import Subprocess
import SystemPackage

/// Runs the consumer as the daemon's child (`--exec`), so that it never works without a valid
/// share: started once the member is `active`, sent a signal (SIGHUP by default) after each
/// change of its share, and stopped (SIGTERM, then SIGKILL after the stop timeout) when the
/// member is `lost` or `stopped`, or when a suspended member's lease comes within the stop
/// timeout of its end, so that the SIGKILL lands before the lease is over. It is started
/// again once the member is `active` again.
///
/// With consumer handover (spec §15) a consumer that is not running has released everything:
/// its exit, or a revocation while none runs, is the release.
///
/// A consumer that exits by itself ends the daemon with its status (`waitUntilDone()` returns,
/// `exitStatus` says it), unless `restart` is `on-failure` and it failed: then it is started
/// again a second later.
actor ConsumerSupervisor {
    private let program: ConsumerProgram
    private let environment: [String: String]
    private let member: Member
    private let consumerHandover: Bool
    private let logger: Logger

    /// The running child: where to send signals, and whether the daemon asked it to stop.
    private struct Child {
        let pid: pid_t
        let signals: AsyncStream<Int32>.Continuation
        var stopRequested = false
        var killTimer: Task<Void, Never>?
    }

    private var child: Child?
    /// A child is being started (its pid is not known yet).
    private var starting = false
    private var latest: MemberDocument?
    /// The share the running child was last told of (started with, or signalled about).
    private var toldShare: (allocation: [String: [Int]], revoking: [String: [Int]], generation: Int64)?
    /// What was last released on the consumer's behalf (consumer handover): the documents that
    /// repeat it (renewals, a restart's wait) release nothing more. A new generation, or other
    /// revocations in the same one (a stop takes the whole share), are released again; a
    /// document with nothing revoking forgets it.
    private var released: (generation: Int64, revoking: [String: [Int]])?
    private var leaseTimer: Task<Void, Never>?
    private var restartAt: ContinuousClock.Instant?
    /// Calls `startIfDue()` again at `restartAt` (one timer, however many documents come first).
    private var restartTimer: Task<Void, Never>?
    private var shuttingDown = false
    private var exited: [CheckedContinuation<Void, Never>] = []
    /// The status the daemon exits with: the consumer's, when it exited by itself.
    private(set) var exitStatus: Int32?
    private var done = false
    private var doneWaiters: [CheckedContinuation<Void, Never>] = []
    private static let starts = Counter(label: "allocatord_consumer_starts_total")
    /// Consumers that needed SIGKILL: they did not stop within the stop timeout.
    private static let kills = Counter(label: "allocatord_consumer_kills_total")

    init(
        program: ConsumerProgram, environment: [String: String], member: Member, consumerHandover: Bool, logger: Logger
    ) {
        self.program = program
        self.environment = environment
        self.member = member
        self.consumerHandover = consumerHandover
        self.logger = logger
    }

    /// Returns once the supervision is over: the consumer exited by itself (and is not
    /// restarted), or `shutDown()` stopped it.
    func waitUntilDone() async {
        guard !done else { return }
        await withCheckedContinuation { doneWaiters.append($0) }
    }

    private func markDone() {
        done = true
        doneWaiters.forEach { $0.resume() }
        doneWaiters = []
    }

    /// A document is delivered (the file is written): start, signal or stop the child.
    func delivered(_ document: MemberDocument) {
        latest = document
        if document.revoking.isEmpty { released = nil }
        reconsider()
    }

    /// Passes a signal the daemon received on to the child (SIGHUP, SIGUSR1, SIGUSR2).
    func forward(_ signal: Int32) {
        child?.signals.yield(signal)
    }

    /// Stops the child for good (the daemon is stopping) and returns once it has exited.
    func shutDown() async {
        shuttingDown = true
        leaseTimer?.cancel()
        restartTimer?.cancel()
        if child != nil || starting {
            if child != nil { stopChild(reason: "the daemon is stopping") }
            await withCheckedContinuation { exited.append($0) }
        }
        markDone()
    }

    // MARK: Deciding

    private func reconsider() {
        leaseTimer?.cancel()
        leaseTimer = nil
        guard let document = latest else { return }
        // Nobody works on what is revoking: released.
        if child == nil, !starting { release(document) }
        switch document.state {
        case .active:
            if child == nil { startIfDue() } else { tellOfChange(document) }
        case .suspended:
            tellOfChange(document)
            guard child != nil, let deadline = document.validUntilBoottime else { break }
            // SIGTERM so early that the SIGKILL after the stop timeout comes before the lease ends.
            let remaining = Duration.nanoseconds(deadline - Self.bootTimeNow()) - program.stopTimeout
            if remaining <= .zero {
                stopChild(reason: "the lease ends within the stop timeout while ZooKeeper is unreachable")
            } else {
                leaseTimer = Task { [weak self] in
                    guard (try? await Task.sleep(for: remaining)) != nil else { return }
                    await self?.leaseEnding()
                }
            }
        case .lost, .stopped:
            if child != nil { stopChild(reason: "the member is \(document.state.rawValue)") }
        case .joining:
            break
        }
    }

    /// With consumer handover, tells the member that what `document` has revoking is released,
    /// unless that was told already.
    private func release(_ document: MemberDocument) {
        guard consumerHandover, !document.revoking.isEmpty else { return }
        if let released, released.generation == document.generation, released.revoking == document.revoking { return }
        released = (document.generation, document.revoking)
        let epoch = document.generation
        Task { await member.release(epoch: epoch) }
    }

    private func leaseEnding() {
        guard latest?.state == .suspended else { return }
        stopChild(reason: "the lease ends within the stop timeout while ZooKeeper is unreachable")
    }

    /// Sends the change signal when the share (or its generation) differs from what the child
    /// was told.
    private func tellOfChange(_ document: MemberDocument) {
        guard let child, !child.stopRequested else { return }
        let share = (document.allocation, document.revoking, document.generation)
        if let told = toldShare, told.allocation == share.0, told.revoking == share.1, told.generation == share.2 { return }
        toldShare = share
        if let signal = program.changeSignal { child.signals.yield(signal) }
    }

    // MARK: Running the child

    private func startIfDue() {
        guard !shuttingDown, child == nil, !starting, let document = latest, document.state == .active else { return }
        if let restartAt, ContinuousClock.now < restartAt {
            if restartTimer == nil {
                restartTimer = Task { [weak self] in
                    try? await Task.sleep(until: restartAt)
                    await self?.restartDue()
                }
            }
            return
        }
        restartAt = nil
        starting = true
        let (signals, continuation) = AsyncStream.makeStream(of: Int32.self)
        toldShare = (document.allocation, document.revoking, document.generation)
        let arguments = program.arguments
        let executable: Executable = arguments[0].contains("/") ? .path(FilePath(arguments[0])) : .name(arguments[0])
        var variables: [Environment.Key: String?] = [
            "NOTIFY_SOCKET": nil, "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil,
            "LISTEN_FDS": nil, "LISTEN_PID": nil, "LISTEN_FDNAMES": nil,
        ]
        for (name, value) in environment { variables[Environment.Key(stringLiteral: name)] = value }
        let environment = Environment.inherit.updating(variables)
        Task { [weak self] in
            let outcome: TerminationStatus?
            do {
                outcome = try await Subprocess.run(
                    executable, arguments: Arguments(Array(arguments.dropFirst())), environment: environment,
                    input: .none, output: .currentStandardOutput, error: .currentStandardError
                ) { execution in
                    await self?.childStarted(pid: execution.processIdentifier.value, signals: continuation)
                    await Self.relay(signals, to: execution, until: execution.processIdentifier.value)
                }.terminationStatus
            } catch {
                await self?.couldNotStart(error)
                outcome = nil
            }
            if let outcome { await self?.childExited(outcome) }
        }
    }

    private func restartDue() {
        restartTimer = nil
        startIfDue()
    }

    private func childStarted(pid: pid_t, signals: AsyncStream<Int32>.Continuation) {
        starting = false
        Self.starts.increment()
        child = Child(pid: pid, signals: signals)
        logger.info("consumer started", metadata: ["pid": "\(pid)", "command": "\(program.arguments.joined(separator: " "))"])
        if shuttingDown {
            stopChild(reason: "the daemon is stopping")
            return
        }
        // The state may have moved on while it started.
        reconsider()
    }

    private func couldNotStart(_ error: any Error) {
        starting = false
        logger.error("the consumer could not start: \(error)", metadata: ["command": "\(program.arguments.joined(separator: " "))"])
        finishExit(status: 127, byItself: true, failed: true)
    }

    private func stopChild(reason: String) {
        guard var child, !child.stopRequested else { return }
        logger.notice("stopping the consumer: \(reason)", metadata: ["pid": "\(child.pid)"])
        child.stopRequested = true
        child.signals.yield(SIGTERM)
        let timeout = program.stopTimeout
        child.killTimer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            await self?.kill()
        }
        self.child = child
    }

    private func kill() {
        guard let child else { return }
        logger.warning("the consumer did not stop within \(program.stopTimeout); SIGKILL", metadata: ["pid": "\(child.pid)"])
        Self.kills.increment()
        child.signals.yield(SIGKILL)
    }

    private func childExited(_ status: TerminationStatus) {
        guard let ended = child else { return }
        ended.killTimer?.cancel()
        ended.signals.finish()
        child = nil
        toldShare = nil
        let (code, failed, description): (Int32, Bool, String) = switch status {
        case .exited(let code): (code, code != 0, "exited with status \(code)")
        case .signaled(let signal): (128 + signal, true, "was killed by signal \(signal)")
        }
        if ended.stopRequested {
            logger.info("consumer stopped: \(description)", metadata: ["pid": "\(ended.pid)"])
        } else {
            logger.log(level: failed ? .error : .notice, "the consumer \(description) by itself", metadata: ["pid": "\(ended.pid)"])
        }
        finishExit(status: code, byItself: !ended.stopRequested, failed: failed)
    }

    /// After the child is gone: its release, then what its exit calls for.
    private func finishExit(status: Int32, byItself: Bool, failed: Bool) {
        if let document = latest { release(document) }
        exited.forEach { $0.resume() }
        exited = []
        guard !shuttingDown else { return }
        if byItself {
            if program.restart == .onFailure, failed {
                logger.notice("starting the consumer again in a second (exec-restart: on-failure)")
                restartAt = ContinuousClock.now + .seconds(1)
            } else {
                shuttingDown = true
                exitStatus = status
                markDone()
                return
            }
        }
        reconsider()
    }

    /// Sends each signal asked for to the child until it exits (its exit is seen without
    /// reaping it, so no signal can reach another process that got its pid).
    private static func relay<Input, Output, Error>(
        _ signals: AsyncStream<Int32>, to execution: Execution<Input, Output, Error>, until pid: pid_t
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await waitForExit(pid) }
            group.addTask {
                for await signal in signals { try? execution.send(signal: Signal(rawValue: signal)) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once process `pid` has exited, leaving it to be reaped (`WNOWAIT`); on a thread
    /// of its own, since `waitid` blocks.
    private static func waitForExit(_ pid: pid_t) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                var info = siginfo_t()
                while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
                continuation.resume()
            }
            thread.start()
        }
    }

    private static func bootTimeNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
