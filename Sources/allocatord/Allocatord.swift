import Daemon
import Dispatch
import Foundation
import Synchronization

/// `allocatord`: everything is in the `Daemon` target; this only hands it the process.
///
/// A synchronous `main`: an asynchronous one runs its body on a thread of the concurrency pool,
/// after the runtime started, while the main thread (where the kernel delivers a process's
/// signals first) would keep SIGTERM unblocked. Here the signals are held on the main thread
/// before any other thread exists (spec §16), and the daemon runs as a task the main thread
/// waits for. The consumer's guard runs on the main thread, with its own signal handling.
@main
enum Allocatord {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let environment = ProcessInfo.processInfo.environment
        if let status = Daemon.consumerGuard(arguments: arguments, environment: environment) { exit(status) }
        Daemon.holdSignals()
        let status = Mutex<Int32>(0)
        let done = DispatchSemaphore(value: 0)
        // Detached: `main` is the main actor's, whose queue the waiting main thread never drains.
        Task.detached {
            let code = await Daemon.main(arguments: arguments, environment: environment)
            status.withLock { $0 = code }
            done.signal()
        }
        done.wait()
        exit(status.withLock { $0 })
    }
}
