import Logging
import Synchronization

/// The C library's log lines (`...:ZOO_WARN@function@line: text`), through swift-log under the
/// label `zookeeper.c`; the library's chatty INFO becomes `debug`.
///
/// During an outage the library repeats its connection errors several times a second: each
/// error (by its place in the library, `function@line`) is written at most once a second, the
/// next one saying how many were left out. And a server that closes every connection at once
/// (`errno=112`, "Host is down", before any session) is named for what it usually is: the
/// server's `maxClientCnxns`, 60 connections per client address by default, reached by this
/// host (`likelyCause`).
enum LibraryLog {
    /// Why the connection keeps failing, when a cause is likely; `nil` once a session connects.
    static var likelyCause: String? { state.withLock { $0.cause } }

    static let causeOfRefusals = """
        the ZooKeeper server closes this client's connections at once: usually its maxClientCnxns \
        (connections per client address, 60 by default) is reached by the processes of this host; \
        raise maxClientCnxns in zoo.cfg, or run fewer members per host
        """

    private struct State {
        /// Per error place: when it was last written, and how many were left out since.
        var written: [Substring: (at: ContinuousClock.Instant, skipped: Int)] = [:]
        /// Connections closed by the server at once, in a row, with no session between.
        var refusals = 0
        var cause: String?
    }

    private static let state = Mutex(State())
    private static let logger = Logger(label: "zookeeper.c")
    /// How many refusals in a row make `maxClientCnxns` the likely cause.
    static let refusalsForCause = 3

    /// A line from the library; returns whether it was written.
    @discardableResult
    static func take(_ line: String) -> Bool {
        let level: Logger.Level =
            if line.contains("ZOO_ERROR@") { .error }
            else if line.contains("ZOO_WARN@") { .warning }
            else if line.contains("ZOO_INFO@") { .debug }
            else { .trace }
        let text = line.firstRange(of: "ZOO_").map { line[$0.lowerBound...] } ?? line[...]
        let now = ContinuousClock.now
        let (write, skipped, newCause) = state.withLock { state -> (Bool, Int, String?) in
            var newCause: String?
            if level == .error, text.contains("errno=112") {
                state.refusals += 1
                if state.refusals >= refusalsForCause, state.cause == nil {
                    state.cause = causeOfRefusals
                    newCause = causeOfRefusals
                }
            }
            guard level >= .warning else { return (true, 0, newCause) }
            // `ZOO_ERROR@function@line`: the place, up to the second `@`'s end.
            let place = text.split(separator: ":", maxSplits: 1).first ?? text
            if let last = state.written[place], now - last.at < .seconds(1) {
                state.written[place]?.skipped += 1
                return (false, 0, newCause)
            }
            let skipped = state.written[place]?.skipped ?? 0
            state.written[place] = (now, 0)
            return (true, skipped, newCause)
        }
        if write {
            logger.log(level: level, "\(text)\(skipped > 0 ? " (and \(skipped) more like it)" : "")")
        }
        if let newCause { logger.error("\(newCause)") }
        return write
    }

    /// A session is connected: the connection works, whatever failed before.
    static func connected() {
        state.withLock { state in
            state.refusals = 0
            state.cause = nil
        }
    }
}
