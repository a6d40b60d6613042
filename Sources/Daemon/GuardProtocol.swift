import Glibc

// What the daemon and a consumer's guard (ConsumerGuard.swift) say to each other: one short
// text message per datagram on a SOCK_SEQPACKET socket pair, the guard's end its descriptor 3.
// The daemon's end closing (its exit, kill -9 included) is the guard's sign that it is gone.

/// What the daemon tells a consumer's guard.
enum GuardCommand: Equatable, Sendable {
    /// The share's lease now ends at this `CLOCK_BOOTTIME` instant (ns); `nil`: the share is
    /// empty, and no deadline holds. `lease NS` or `lease none`.
    case lease(Int64?)
    /// Send this signal to the consumer's process group. `signal N`.
    case signal(Int32)
    /// Stop the consumer: SIGTERM to its group now, SIGKILL at the earlier of the stop timeout
    /// and the lease's end. `stop`.
    case stop

    var text: String {
        switch self {
        case .lease(let deadline): "lease \(deadline.map(String.init) ?? "none")"
        case .signal(let number): "signal \(number)"
        case .stop: "stop"
        }
    }

    init?(text: String) {
        let words = text.split(separator: " ")
        switch (words.first, words.count) {
        case ("lease", 2) where words[1] == "none": self = .lease(nil)
        case ("lease", 2): guard let deadline = Int64(words[1]) else { return nil }; self = .lease(deadline)
        case ("signal", 2): guard let number = Int32(words[1]), (1...64).contains(number) else { return nil }; self = .signal(number)
        case ("stop", 1): self = .stop
        default: return nil
        }
    }
}

/// How a supervised consumer ended, as its guard saw it.
struct ConsumerEnding: Equatable, Sendable {
    /// How its first process (the group's leader) ended.
    enum Status: Equatable, Sendable {
        case exited(Int32)
        case signaled(Int32)

        /// The status the daemon exits with for it: the code, or 128 + the signal.
        var code: Int32 {
            switch self {
            case .exited(let code): code
            case .signaled(let signal): 128 + signal
            }
        }

        /// The status `waitpid` gave for a process that ended.
        init(waitStatus: Int32) {
            // <sys/wait.h>: the low 7 bits are the signal, or 0 and the exit status above.
            self = waitStatus & 0x7F == 0 ? .exited((waitStatus >> 8) & 0xFF) : .signaled(waitStatus & 0x7F)
        }

        var failed: Bool { self != .exited(0) }

        var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signaled(let signal): "was killed by signal \(signal)"
            }
        }
    }

    /// Why it ended.
    enum Cause: String, Sendable {
        /// Its leader exited before anyone asked it to stop.
        case itself
        /// The daemon asked (`stop`), or the guard was told to stop by a signal.
        case stopped
        /// The lease the guard held ran out without a renewal (the daemon frozen or hung).
        case lease
    }

    var status: Status
    var cause: Cause
    /// Whether SIGKILL was needed (the tree did not end within the stop timeout or the lease).
    var killed: Bool
}

/// What a guard tells the daemon.
enum GuardReport: Equatable, Sendable {
    /// The consumer runs, its process group led by `pid`. `started PID`.
    case started(pid: Int32)
    /// The program could not be started (`errno`). `failed ERRNO`.
    case couldNotStart(errno: Int32)
    /// The lease had ended before the consumer could be started. `expired`.
    case expired
    /// The consumer's whole tree is gone. `ended exited|signaled N itself|stopped|lease 0|1`.
    case ended(ConsumerEnding)
    /// The guard ended without saying how the consumer did; how the guard itself ended, unless
    /// it could not be reaped (the daemon's side adds it when the socket closes first).
    case vanished(guardStatus: ConsumerEnding.Status?)

    var text: String {
        switch self {
        case .started(let pid): "started \(pid)"
        case .couldNotStart(let code): "failed \(code)"
        case .expired: "expired"
        case .ended(let ending):
            switch ending.status {
            case .exited(let code): "ended exited \(code) \(ending.cause.rawValue) \(ending.killed ? 1 : 0)"
            case .signaled(let signal): "ended signaled \(signal) \(ending.cause.rawValue) \(ending.killed ? 1 : 0)"
            }
        case .vanished(let status): "vanished \(status?.description ?? "unreaped")"
        }
    }

    init?(text: String) {
        let words = text.split(separator: " ").map(String.init)
        switch (words.first, words.count) {
        case ("started", 2): guard let pid = Int32(words[1]) else { return nil }; self = .started(pid: pid)
        case ("failed", 2): guard let code = Int32(words[1]) else { return nil }; self = .couldNotStart(errno: code)
        case ("expired", 1): self = .expired
        case ("ended", 5):
            guard let number = Int32(words[2]), let cause = ConsumerEnding.Cause(rawValue: words[3]) else { return nil }
            let status: ConsumerEnding.Status
            switch words[1] {
            case "exited": status = .exited(number)
            case "signaled": status = .signaled(number)
            default: return nil
            }
            self = .ended(ConsumerEnding(status: status, cause: cause, killed: words[4] == "1"))
        default: return nil
        }
    }
}
