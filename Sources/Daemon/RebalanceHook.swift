import Allocator
import CoreMetrics
import ExecAllocation
import Logging
import Synchronization

/// Runs the `on-rebalance` command (spec §12) after each change of state, generation or
/// allocation, with the document on standard input, through `/bin/sh -c`.
///
/// It never blocks rebalancing: runs happen on their own, one at a time; while one runs, only
/// the latest document waits for the next run (older ones are skipped, the hook always sees
/// the newest). A run that fails or outlives `timeout` (then SIGTERM, SIGKILL a second later)
/// is logged. The hook is a `ChildProgram`: a clean signal mask, none of systemd's variables.
final class RebalanceHook: Sendable {
    let command: String
    let timeout: Duration
    private let logger: Logger
    private let state = Mutex<(running: Bool, waiting: String?)>((false, nil))
    /// Runs that failed, timed out or could not start (spec §16).
    private static let failures = Counter(label: "allocatord_hook_failures_total")

    init(command: String, timeout: Duration, logger: Logger) {
        self.command = command
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs the hook with `document`, now or after the current run.
    func trigger(_ document: String) {
        let start = state.withLock { state -> Bool in
            if state.running {
                state.waiting = document
                return false
            }
            state.running = true
            return true
        }
        if start { Task { await self.runLoop(document) } }
    }

    private func runLoop(_ first: String) async {
        var document: String? = first
        while let current = document {
            await run(current)
            document = state.withLock { state in
                defer { state.waiting = nil }
                if state.waiting == nil { state.running = false }
                return state.waiting
            }
        }
    }

    private func run(_ document: String) async {
        let program = ChildProgram(executable: "/bin/sh", arguments: ["-c", command], timeout: timeout)
        do {
            let result = try await program.run(input: Array((document + "\n").utf8))
            if !result.succeeded {
                Self.failures.increment()
                logger.error("on-rebalance hook failed", metadata: [
                    "command": "\(command)", "status": "\(result.status)", "signalled": "\(result.signalled)",
                    "stderr": "\(String(decoding: result.errorOutput.prefix(1024), as: UTF8.self))",
                ])
            }
        } catch .timedOut {
            Self.failures.increment()
            logger.error("on-rebalance hook did not finish within \(timeout); it was stopped", metadata: ["command": "\(command)"])
        } catch {
            Self.failures.increment()
            logger.error("on-rebalance hook could not run: \(error)", metadata: ["command": "\(command)"])
        }
    }
}
