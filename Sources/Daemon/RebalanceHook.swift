import Allocator
import Dispatch
import Foundation
import Logging
import Synchronization

/// Runs the `on-rebalance` command (spec §12) after each change of state, generation or
/// allocation, with the document on standard input, through `/bin/sh -c`.
///
/// It never blocks rebalancing: runs happen on their own, one at a time; while one runs, only
/// the latest document waits for the next run (older ones are skipped, the hook always sees
/// the newest). A run that fails or outlives `timeout` (then SIGTERM, SIGKILL a second later)
/// is logged.
final class RebalanceHook: Sendable {
    let command: String
    let timeout: Duration
    private let logger: Logger
    private let state = Mutex<(running: Bool, waiting: String?)>((false, nil))

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
        if start { DispatchQueue.global().async { self.runLoop(document) } }
    }

    private func runLoop(_ first: String) {
        var document: String? = first
        while let current = document {
            run(current)
            document = state.withLock { state in
                defer { state.waiting = nil }
                if state.waiting == nil { state.running = false }
                return state.waiting
            }
        }
    }

    private func run(_ document: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = childEnvironment()
        let input = Pipe()
        process.standardInput = input
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            logger.error("on-rebalance hook could not start: \(error)")
            return
        }
        DispatchQueue.global().async {
            try? input.fileHandleForWriting.write(contentsOf: Data((document + "\n").utf8))
            try? input.fileHandleForWriting.close()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if exited.wait(timeout: .now() + seconds) == .timedOut {
            logger.error("on-rebalance hook did not finish within \(timeout); stopping it", metadata: ["command": "\(command)"])
            process.terminate()
            if exited.wait(timeout: .now() + 1) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
            return
        }
        if process.terminationReason != .exit || process.terminationStatus != 0 {
            logger.error("on-rebalance hook failed", metadata: [
                "command": "\(command)", "status": "\(process.terminationStatus)",
                "signalled": "\(process.terminationReason == .uncaughtSignal)",
            ])
        }
    }
}
