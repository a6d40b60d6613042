import CSystemd
import Glibc

/// Talks to systemd (spec §11): `sd_notify` messages for `Type=notify` units, the watchdog
/// interval, and sockets passed by socket activation. Outside systemd (no `NOTIFY_SOCKET`),
/// notifications are no-ops.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Sends `NAME=value` lines, e.g. `READY=1` or `STATUS=active, generation 7`. (It keeps
    /// `NOTIFY_SOCKET` set: unsetting it would silence every later notification.)
    public func notify(_ lines: String...) {
        _ = sd_notify(0, lines.joined(separator: "\n"))
    }

    /// `READY=1`.
    public func ready(status: String) { notify("READY=1", "STATUS=\(status)") }

    /// `STATUS=…`, one line.
    public func status(_ text: String) { notify("STATUS=" + String(text.map { $0 == "\n" ? " " : $0 })) }

    /// `STOPPING=1`.
    public func stopping() { notify("STOPPING=1") }

    /// `RELOADING=1` with the monotonic time systemd wants.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        notify("RELOADING=1", "MONOTONIC_USEC=\(microseconds)")
    }

    /// `WATCHDOG=1`.
    public func watchdog() { notify("WATCHDOG=1") }

    /// The watchdog timeout systemd set for this process (`WATCHDOG_USEC`), if any.
    public var watchdogTimeout: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    /// The listening sockets systemd passed (`LISTEN_FDS`, from descriptor 3), if any. The
    /// variables are removed so that child processes do not see them.
    public static func activatedSockets() -> [Int32] {
        let count = sd_listen_fds(1)
        guard count > 0 else { return [] }
        return (0..<count).map { SD_LISTEN_FDS_START + $0 }
    }
}
