import Foundation
import Glibc

/// The consumer the daemon supervises (`--exec -- CMD ARGS...`, or `exec: COMMAND`; spec §15):
/// started once the member is `active`, told of each change of its share, stopped before its
/// share's lease can run out.
public struct ConsumerProgram: Sendable, Equatable {
    /// What happens when the consumer exits by itself.
    public enum Restart: String, Sendable {
        /// The daemon leaves the group and exits with the consumer's status (systemd restarts
        /// the pair).
        case never
        /// A failing consumer (non-zero status, or killed by a signal) is started again, after
        /// 1 s, doubling up to 30 s (1 s again once it ran for a minute); one that exits with 0
        /// ends the daemon with 0.
        case onFailure = "on-failure"
    }

    /// How the consumer is named in the configuration.
    public enum Command: Sendable, Equatable {
        /// `--exec -- PROGRAM ARGS...`: run as given; a program without `/` is looked up in `PATH`.
        case program([String])
        /// `exec: COMMAND` in the file or the environment: run by `/bin/sh -c`.
        case shell(String)
    }

    public var command: Command
    /// Sent after each change of the share; `nil` for none.
    public var changeSignal: Int32?
    /// How long SIGTERM may take before SIGKILL (never past the lease's end).
    public var stopTimeout: Duration
    public var restart: Restart

    public init(command: Command, changeSignal: Int32? = SIGHUP, stopTimeout: Duration = .seconds(5), restart: Restart = .never) {
        self.command = command
        self.changeSignal = changeSignal
        self.stopTimeout = stopTimeout
        self.restart = restart
    }

    /// A program run without a shell.
    public init(arguments: [String], changeSignal: Int32? = SIGHUP, stopTimeout: Duration = .seconds(5), restart: Restart = .never) {
        self.init(command: .program(arguments), changeSignal: changeSignal, stopTimeout: stopTimeout, restart: restart)
    }

    /// The command line as configured (`/bin/sh -c COMMAND` for a shell command).
    public var arguments: [String] {
        switch command {
        case .program(let arguments): arguments
        case .shell(let command): ["/bin/sh", "-c", command]
        }
    }

    /// The command line the consumer is started with. A shell command gets a first line that
    /// traps (with no action) the signals the daemon passes on: the shell (Debian's dash forks
    /// even for one command) then lives through them while the program it runs gets them,
    /// instead of dying and leaving the program behind. A trapped signal is reset to its default
    /// in the programs the shell starts, unlike an ignored or blocked one.
    public var launchArguments: [String] {
        switch command {
        case .program(let arguments): return arguments
        case .shell(let command):
            return ["/bin/sh", "-c", "trap : \(passedOn.map { Self.name(of: $0) }.joined(separator: " "))\n" + command]
        }
    }

    /// Whether `/bin/sh -c` runs the consumer, so that its exit status is 128+N when the program
    /// it ran was killed by signal N.
    public var runsThroughShell: Bool {
        if case .shell = command { true } else { false }
    }

    /// The signals the daemon sends the consumer besides SIGTERM and SIGKILL: the change signal
    /// and those it passes on (SIGHUP, SIGUSR1, SIGUSR2).
    public var passedOn: [Int32] {
        var signals: [Int32] = [SIGHUP, SIGUSR1, SIGUSR2]
        if let changeSignal, changeSignal != SIGTERM, !signals.contains(changeSignal) { signals.append(changeSignal) }
        return signals
    }

    /// The signals `exec-signal` may name, without `SIG`.
    static let signals: [String: Int32] = [
        "HUP": SIGHUP, "USR1": SIGUSR1, "USR2": SIGUSR2, "INT": SIGINT, "TERM": SIGTERM, "QUIT": SIGQUIT,
        "WINCH": SIGWINCH, "ALRM": SIGALRM,
    ]

    /// The name of one of `signals`, without `SIG`.
    static func name(of signal: Int32) -> String {
        signals.first { $0.value == signal }?.key ?? "\(signal)"
    }

    /// `exec-signal`: a signal name (`HUP`, `SIGUSR1`, ...) or `none`.
    static func changeSignal(named text: String) -> Int32?? {
        if text.lowercased() == "none" { return .some(nil) }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return signals[name].map { .some($0) }
    }
}
