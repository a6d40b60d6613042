import ControlProtocol
import Foundation
import Glibc

/// The supervised consumer's guard (spec §15): a small process between the daemon and the
/// consumer, so that the consumer's share is enforced over its whole process tree even when the
/// daemon cannot act (killed with SIGKILL, frozen by SIGSTOP, hung). It is the daemon's own
/// binary, run as `allocatord --consumer-guard STOP_TIMEOUT_MS LEASE_NS|none -- PROGRAM
/// ARGS...` by the daemon alone: it needs `ALLOCATORD_CONSUMER_GUARD` set to its parent's pid
/// and the daemon's socket as descriptor 3, and refuses to run otherwise.
///
/// - It dies with the daemon's starting thread (`PR_SET_PDEATHSIG`: SIGTERM, checked against
///   `getppid()` to close the race), and sees the daemon go when its socket closes.
/// - It starts the consumer in a process group of its own and passes each signal the daemon
///   asks for to the whole group.
/// - It is the tree's subreaper (`PR_SET_CHILD_SUBREAPER`): what the consumer leaves behind
///   becomes its child, so the consumer has ended only once every process of its tree has.
///   When the first process (the group's leader) ends by itself, the rest is ended too.
/// - It holds the lease the daemon last gave it. A stop (asked by the daemon, the daemon gone,
///   SIGTERM or SIGINT to the guard) sends SIGTERM to the group and to every process of the
///   tree, and SIGKILL at the earlier of the stop timeout and the lease's end. Without a
///   renewal it stops the tree on its own. With G a quarter of what remained of the lease when
///   it was given (at most the stop timeout), SIGTERM comes G before the end and SIGKILL G/2
///   before it: a guard that waits a moment for the CPU still ends the tree in time.
///
/// It reports to the daemon on the socket (`GuardProtocol.swift`) and exits 0 once the tree is
/// gone. A process that leaves the tree's process group still gets SIGTERM and SIGKILL; one
/// that leaves the tree (started by another parent, a service manager) is not the consumer's.
enum ConsumerGuard {
    /// The first argument that makes `allocatord` a guard.
    static let mode = "--consumer-guard"
    /// The environment variable that must hold the guard's parent's pid.
    static let environmentKey = "ALLOCATORD_CONSUMER_GUARD"

    /// The guard's `argv` after the executable's name.
    static func arguments(stopTimeout: Duration, lease: Int64?, program: [String]) -> [String] {
        [mode, "\(stopTimeout.nanoseconds / 1_000_000)", lease.map(String.init) ?? "none", "--"] + program
    }

    /// Runs the guard (`arguments` as `Daemon.main` has them); returns the exit status.
    static func main(arguments: [String], environment: [String: String]) -> Int32 {
        var info = stat()
        guard arguments.count >= 5, arguments[0] == mode, arguments[3] == "--",
              let milliseconds = Int64(arguments[1]), milliseconds > 0,
              let daemon = environment[environmentKey].flatMap(pid_t.init),
              fstat(3, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK
        else {
            FileHandle.standardError.write(Data("""
                allocatord: \(mode) is not an option: it is how allocatord itself runs the guard of its \
                supervised consumer (--exec); see allocatord(8)\n
                """.utf8))
            return 64  // EX_USAGE
        }
        let lease = arguments[2] == "none" ? nil : Int64(arguments[2])
        var loop = GuardLoop(
            stopTimeout: milliseconds * 1_000_000, lease: lease, program: Array(arguments[4...]),
            environment: environment.filter { $0.key != environmentKey })
        guard loop.prepare(daemon: daemon) else { return 0 }
        return loop.run()
    }
}

/// The guard's end of the socket.
private let control: Int32 = 3

/// The write end of the guard's self-pipe: its signal handler writes each signal's number there.
nonisolated(unsafe) private var wakeWriter: Int32 = -1

private func wake(_ signal: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(wakeWriter, &byte, 1)
    errno = saved
}

/// The guard's life: one loop over the consumer's tree, the daemon's socket and the clock.
private struct GuardLoop {
    enum Phase {
        /// The consumer works; the lease (if any) is watched.
        case running
        /// SIGTERM went to the tree at `since` for `cause`; SIGKILL at `killAt` (once: `killed`).
        case stopping(cause: ConsumerEnding.Cause, since: Int64, killAt: Int64, killed: Bool)
    }

    let stopTimeout: Int64
    var lease: Int64?
    /// When the guard stops the tree on its own if no renewal comes first.
    var backstop: Int64?
    /// The latest a SIGKILL may come: a little before the lease's end, so that a guard that
    /// waits a moment for the CPU still ends the tree in time.
    var lastKill: Int64?
    let program: [String]
    let environment: [String: String]
    var phase = Phase.running
    var leader: pid_t = 0
    var leaderEnded: ConsumerEnding.Status?
    /// Whether the daemon's end of the socket is still open.
    var daemonListens = true
    var wakeReader: Int32 = -1

    init(stopTimeout: Int64, lease: Int64?, program: [String], environment: [String: String]) {
        self.stopTimeout = stopTimeout
        self.program = program
        self.environment = environment
        renew(lease, now: BootClock.now())
    }

    /// Signals, the parent-death signal and the subreaper; false if the daemon is gone already.
    mutating func prepare(daemon: pid_t) -> Bool {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return false }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        (wakeReader, wakeWriter) = (ends[0], ends[1])
        for number in [SIGCHLD, SIGTERM, SIGINT] { _ = signal(number, wake) }
        // The daemon's reload and passed-on signals (a terminal's SIGHUP, a `pkill -USR1 allocatord`)
        // are not the guard's; the consumer starts with every signal's default action anyway.
        for number in [SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE] { _ = signal(number, SIG_IGN) }
        _ = fcntl(control, F_SETFD, FD_CLOEXEC)
        _ = fcntl(control, F_SETFL, O_NONBLOCK)
        _ = UnimportedGlibc.prctl(UnimportedGlibc.setParentDeathSignal, UInt(SIGTERM))
        // The daemon may have died before the line above: then nothing is started.
        guard getppid() == daemon else { return false }
        _ = UnimportedGlibc.prctl(UnimportedGlibc.setChildSubreaper, 1)
        return true
    }

    mutating func run() -> Int32 {
        if let lease, lease <= BootClock.now() {
            report(.expired)
            return 0
        }
        switch ProcessSpawn.start(arguments: program, environment: environment, input: .inherit, newGroup: true) {
        case .success(let pid): leader = pid
        case .failure(let error):
            report(.couldNotStart(errno: error.code))
            return 0
        }
        report(.started(pid: leader))
        while true {
            let hasChildren = reap()
            let now = BootClock.now()
            switch phase {
            case .running:
                if let backstop, now >= backstop { stop(.lease, now: now) }
            case .stopping(let cause, let since, let killAt, killed: false) where now >= killAt:
                signalTree(SIGKILL)
                phase = .stopping(cause: cause, since: since, killAt: killAt, killed: true)
            case .stopping(_, _, _, killed: true):
                // A process of another group comes to the guard only when its parent dies,
                // perhaps by the SIGKILL above: each one that came since is killed too (swept
                // once, it ran on, and the guard waited for it for good).
                for child in Self.children() { _ = kill(child, SIGKILL) }
            case .stopping: break
            }
            if let status = leaderEnded, !hasChildren {
                if case .stopping(let cause, _, _, let killed) = phase {
                    report(.ended(ConsumerEnding(status: status, cause: cause, killed: killed)))
                }
                return 0
            }
            waitForEvents(now: now)
        }
    }

    /// Waits (at most a second) for a signal, a command or the next deadline, and takes them.
    mutating func waitForEvents(now: Int64) {
        var deadline: Int64?
        switch phase {
        case .running: deadline = backstop
        case .stopping(_, _, let killAt, false): deadline = killAt
        case .stopping: deadline = nil
        }
        let timeout = deadline.map { Int32(clamping: max(0, ($0 - now + 999_999) / 1_000_000)) } ?? 1000
        var descriptors = [
            pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0),
            pollfd(fd: daemonListens ? control : -1, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&descriptors, 2, min(timeout, 1000))
        var byte: UInt8 = 0
        while read(wakeReader, &byte, 1) == 1 {
            if Int32(byte) == SIGTERM || Int32(byte) == SIGINT { stop(.stopped, now: BootClock.now()) }
        }
        guard daemonListens else { return }
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = recv(control, &buffer, buffer.count, 0)
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
            guard count > 0 else {
                // The daemon is gone (kill -9 included): the tree ends, within the lease.
                let reason = count == 0 ? "closed" : "failed: \(String(cString: strerror(errno)))"
                FileHandle.standardError.write(Data("allocatord consumer guard: the daemon's socket \(reason); stopping the consumer\n".utf8))
                daemonListens = false
                stop(.stopped, now: BootClock.now())
                return
            }
            guard let command = GuardCommand(text: String(decoding: buffer[..<count], as: UTF8.self)) else { continue }
            take(command, now: BootClock.now())
        }
    }

    mutating func take(_ command: GuardCommand, now: Int64) {
        switch command {
        case .lease(let deadline): renew(deadline, now: now)
        case .signal(let number): _ = kill(-leader, number)
        case .stop: stop(.stopped, now: now)
        }
    }

    /// A new lease: the backstop moves, and so does a stop's SIGKILL (never past the lease).
    mutating func renew(_ deadline: Int64?, now: Int64) {
        lease = deadline
        // A live daemon renews at least every third of the session timeout, while about nine
        // tenths of it remain: a quarter of what remains is left when a renewal is late.
        if let deadline {
            let grace = min(stopTimeout, max(0, deadline - now) / 4)
            (backstop, lastKill) = (deadline - grace, deadline - grace / 2)
        } else {
            (backstop, lastKill) = (nil, nil)
        }
        if case .stopping(let cause, let since, _, let killed) = phase {
            phase = .stopping(cause: cause, since: since, killAt: min(since + stopTimeout, lastKill ?? .max), killed: killed)
        }
    }

    /// SIGTERM to the tree (once), SIGKILL due at the earlier of the stop timeout and the lease.
    mutating func stop(_ cause: ConsumerEnding.Cause, now: Int64) {
        guard case .running = phase else { return }
        phase = .stopping(cause: cause, since: now, killAt: min(now + stopTimeout, lastKill ?? .max), killed: false)
        signalTree(SIGTERM)
    }

    /// Sends `number` to the consumer's group and to every other process of the tree that
    /// came to the guard (left behind in another group).
    func signalTree(_ number: Int32) {
        _ = kill(-leader, number)
        for child in Self.children() where getpgid(child) != leader { _ = kill(child, number) }
    }

    /// Reaps what ended; returns whether any child is left.
    mutating func reap() -> Bool {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                guard pid == leader else { continue }
                leaderEnded = ConsumerEnding.Status(waitStatus: status)
                // Its leader gone by itself, the rest of the tree is ended too.
                stop(.itself, now: BootClock.now())
                continue
            }
            if pid == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    func report(_ message: GuardReport) {
        guard daemonListens else { return }
        let text = Array(message.text.utf8)
        _ = send(control, text, text.count, Int32(MSG_NOSIGNAL))
    }

    /// The guard's children (the consumer's leader and what came to the subreaper).
    static func children() -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0) }
        }
    }
}

extension Duration {
    /// The whole nanoseconds of a duration.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
