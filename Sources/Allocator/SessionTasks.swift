/// The tasks of one session (requests, the watches they set, timers): children of one
/// discarding task group, so that each is freed as soon as it ends and all of them are cancelled
/// together when the session ends.
///
/// Why a group and not a list of `Task` handles: a handle keeps its finished task's memory, so
/// a list emptied only at the session's end grew with every change (about 127 KB per change
/// on a leader of five members, issue 20). Why the end is awaited: a task of an ended session
/// must not reach the member once the next session has begun.
struct SessionTasks: Sendable {
    typealias Job = @Sendable () async -> Void

    private let jobs: AsyncStream<Job>.Continuation
    private let owner: Task<Void, Never>

    init() {
        let (stream, jobs) = AsyncStream.makeStream(of: Job.self)
        self.jobs = jobs
        owner = Task {
            await withDiscardingTaskGroup { group in
                for await job in stream { group.addTask(operation: job) }
            }
        }
    }

    /// Starts `job` as a child of the session's group; once the session has ended, `job` is
    /// dropped without running.
    func run(_ job: @escaping Job) {
        jobs.yield(job)
    }

    /// Cancels every task of the session; none starts after this.
    func cancel() {
        jobs.finish()
        owner.cancel()
    }

    /// Returns once every task of the session has ended (call `cancel()` first, and close the
    /// session's client so that its pending requests and watches end).
    func ended() async {
        await owner.value
    }
}
