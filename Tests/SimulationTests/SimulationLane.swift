import Foundation

/// Where the simulation's long computations run: on threads of their own, never on the Swift
/// concurrency pool (two threads on a 2-core machine, which every other test of the process
/// shares), with a large stack (a Dispatch worker's 512 KiB is tight in a debug build), and one
/// at a time. Run side by side, the schedules of the simulation and of each mutation took every
/// core for two minutes, and the tests beside them that run members in this process or talk to
/// a ZooKeeper server saw their leases and sessions run out: the simulation may take one core,
/// never the machine.
enum SimulationLane {
    private static let turn = NSLock()

    /// `work`'s result, computed on a thread of its own once no other simulation runs.
    static func run<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                turn.lock()
                let value = work()
                turn.unlock()
                continuation.resume(returning: value)
            }
            thread.stackSize = 64 << 20
            thread.start()
        }
    }

    /// `work`'s result, computed on a thread of its own beside the lane: for waits that would
    /// otherwise hold a thread of the pool (a child process's output).
    static func wait<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}
