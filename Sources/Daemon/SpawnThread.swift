import Foundation
import Synchronization

/// The one thread that starts every consumer guard, living as long as the daemon.
///
/// A child's `PR_SET_PDEATHSIG` fires when the *thread* that started it ends, not the process:
/// a guard started from a thread of the concurrency pool or of Dispatch (which end when idle)
/// would be told its daemon is gone while it is not.
final class SpawnThread: Sendable {
    static let shared = SpawnThread()

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let waiting = DispatchSemaphore(value: 0)

    private init() {
        let thread = Thread { [self] in
            while true {
                waiting.wait()
                let job = jobs.withLock { $0.removeFirst() }
                job()
            }
        }
        thread.name = "allocatord-spawn"
        thread.start()
    }

    /// Runs `job` on the thread, after the jobs submitted before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        waiting.signal()
    }
}
