import Foundation
import Glibc

/// The consumer the daemon runs as its child (`--exec -- CMD ARGS...`): started once the member
/// is `active`, told of each change of its share, stopped before its share's lease can run out.
public struct ConsumerProgram: Sendable, Equatable {
    /// What happens when the consumer exits by itself.
    public enum Restart: String, Sendable {
        /// The daemon leaves the group and exits with the consumer's status (systemd restarts
        /// the pair).
        case never
        /// A failing consumer (non-zero status, or killed by a signal) is started again; one
        /// that exits with 0 ends the daemon with 0.
        case onFailure = "on-failure"
    }

    /// The program and its arguments; a program without `/` is looked up in `PATH`.
    public var arguments: [String]
    /// Sent after each change of the share; `nil` for none.
    public var changeSignal: Int32?
    /// How long SIGTERM may take before SIGKILL.
    public var stopTimeout: Duration
    public var restart: Restart

    public init(arguments: [String], changeSignal: Int32? = SIGHUP, stopTimeout: Duration = .seconds(5), restart: Restart = .never) {
        self.arguments = arguments
        self.changeSignal = changeSignal
        self.stopTimeout = stopTimeout
        self.restart = restart
    }

    /// The signals `exec-signal` may name, without `SIG`.
    static let signals: [String: Int32] = [
        "HUP": SIGHUP, "USR1": SIGUSR1, "USR2": SIGUSR2, "INT": SIGINT, "TERM": SIGTERM, "QUIT": SIGQUIT,
        "WINCH": SIGWINCH, "ALRM": SIGALRM,
    ]

    /// `exec-signal`: a signal name (`HUP`, `SIGUSR1`, ...) or `none`.
    static func changeSignal(named text: String) -> Int32?? {
        if text.lowercased() == "none" { return .some(nil) }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return signals[name].map { .some($0) }
    }
}
