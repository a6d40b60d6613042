import Allocator
import Configuration
import ControlProtocol
import CoreMetrics
import Foundation
import Glibc
import Logging

/// Runs the supervised consumer (`--exec`, spec §15): performs what `ConsumerSupervision`
/// decides, with each consumer under a guard process (`ConsumerGuard`) that holds its lease,
/// and feeds the machine the documents, the guards' reports and its timer.
///
/// A consumer that exits by itself ends the daemon with its status (`waitUntilDone()` returns,
/// `exitStatus` says it), unless the machine starts it again.
actor ConsumerSupervisor {
    private let program: ConsumerProgram
    private let environment: [String: String]
    private let member: Member
    private let logger: Logger
    private var machine: ConsumerSupervision
    /// The running consumer's guard, from its start to its last report.
    private var running: GuardedConsumer?
    /// The consumer's pid (its process group), once its guard told it.
    private var consumerPID: pid_t?
    /// Calls the machine back at its next deadline (one timer, however many events come first).
    private var timer: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
    private var doneWaiters: [CheckedContinuation<Void, Never>] = []
    private static let starts = Counter(label: "allocatord_consumer_starts_total")
    /// Consumers that needed SIGKILL: they did not stop within the stop timeout or the lease.
    private static let kills = Counter(label: "allocatord_consumer_kills_total")

    /// - Parameter environment: the consumer's whole environment (see `consumerEnvironment`).
    init(program: ConsumerProgram, environment: [String: String], member: Member, consumerHandover: Bool, logger: Logger) {
        self.program = program
        self.environment = environment
        self.member = member
        self.logger = logger
        machine = ConsumerSupervision(program: program, consumerHandover: consumerHandover)
    }

    /// The consumer's environment: the daemon's, without its secrets (`ALLOCATORD_ZK_AUTH`,
    /// `CREDENTIALS_DIRECTORY`) and what systemd meant for the daemon alone (`NOTIFY_SOCKET`,
    /// `LISTEN_*`, `WATCHDOG_*`), with `ALLOCATORD_SOCKET`, `_STATE_FILE`, `_GROUP`, `_MEMBER`
    /// and `_PID` (the daemon's).
    static func consumerEnvironment(
        daemon: [String: String], socket: String, stateFile: String, group: String, member: String
    ) -> [String: String] {
        var environment = daemon.filter { name, _ in
            !["ALLOCATORD_ZK_AUTH", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", ConsumerGuard.environmentKey].contains(name)
                && !name.hasPrefix("LISTEN_") && !name.hasPrefix("WATCHDOG_")
        }
        environment["ALLOCATORD_SOCKET"] = socket
        environment["ALLOCATORD_STATE_FILE"] = stateFile
        environment["ALLOCATORD_GROUP"] = group
        environment["ALLOCATORD_MEMBER"] = member
        environment["ALLOCATORD_PID"] = "\(getpid())"
        return environment
    }

    /// The status the daemon exits with: the consumer's, when it exited by itself.
    var exitStatus: Int32? { machine.exitStatus }

    /// Returns once the supervision is over: the consumer exited by itself (and is not started
    /// again), or `shutDown()` stopped it.
    func waitUntilDone() async {
        guard !machine.isOver else { return }
        await withCheckedContinuation { doneWaiters.append($0) }
    }

    /// A document is delivered (the file is written): start, signal, renew or stop.
    func delivered(_ document: MemberDocument) {
        handle(.delivered(document))
    }

    /// Passes a signal the daemon received on to the consumer (SIGHUP, SIGUSR1, SIGUSR2).
    func forward(_ signal: Int32) {
        handle(.forward(signal))
    }

    /// Stops the consumer for good (the daemon is stopping) and returns once its tree is gone.
    func shutDown() async {
        handle(.shutDown)
        await waitUntilDone()
    }

    // MARK: Performing

    private func handle(_ event: ConsumerSupervision.Event) {
        let actions = machine.handle(event, now: Self.now())
        for action in actions { perform(action) }
        rearmTimer()
    }

    private func perform(_ action: ConsumerSupervision.Action) {
        switch action {
        case .start(let lease):
            Self.starts.increment()
            consumerPID = nil
            let consumer = GuardedConsumer(program: program, lease: lease, environment: environment)
            running = consumer
            Task { [weak self] in
                for await report in consumer.reports { await self?.take(report, from: consumer) }
            }
        case .renew(let lease):
            running?.send(.lease(lease))
        case .signal(let number):
            running?.send(.signal(number))
        case .stop(let reason):
            logger.notice("stopping the consumer: \(reason)", metadata: pidMetadata)
            running?.send(.stop)
        case .release(let epoch):
            let member = member
            Task { await member.release(epoch: epoch) }
        case .restartLater(let delay):
            logger.notice("starting the consumer again in \(delay) (exec-restart: on-failure)")
        case .restartKilledBySignal(let signal):
            logger.notice("the consumer was killed by signal \(signal), which the daemon sent it (a share change before it had a handler?); starting it again")
        case .done:
            doneWaiters.forEach { $0.resume() }
            doneWaiters = []
        }
    }

    private func take(_ report: GuardReport, from consumer: GuardedConsumer) {
        guard consumer === running else { return }
        switch report {
        case .started(let pid):
            consumerPID = pid
            logger.info("consumer started", metadata: ["pid": "\(pid)", "command": "\(program.arguments.joined(separator: " "))"])
        case .couldNotStart(let code):
            running = nil
            logger.error(
                "the consumer could not start: \(String(cString: strerror(code)))",
                metadata: ["command": "\(program.arguments.joined(separator: " "))"])
            handle(.couldNotStart)
        case .expired:
            running = nil
            logger.notice("the consumer was not started: the lease had ended")
            handle(.expiredBeforeStart)
        case .ended(let ending):
            running = nil
            if ending.killed {
                Self.kills.increment()
                logger.warning("the consumer did not stop in time (stop timeout or lease); it got SIGKILL", metadata: pidMetadata)
            }
            switch ending.cause {
            case .itself:
                let failed = ending.status.failed
                logger.log(level: failed ? .error : .notice, "the consumer \(ending.status.description) by itself", metadata: pidMetadata)
            case .stopped:
                logger.info("consumer stopped: \(ending.status.description)", metadata: pidMetadata)
            case .lease:
                logger.warning("the consumer's guard stopped it: its lease ran out without a renewal", metadata: pidMetadata)
            }
            handle(.ended(ending))
        case .vanished(let guardStatus):
            running = nil
            // Its guard was killed: what it started may still run. Its group ends here.
            logger.error(
                "the consumer's guard ended without a word (it \(guardStatus?.description ?? "could not be reaped")); SIGKILL to the consumer's group",
                metadata: pidMetadata)
            if let consumerPID { kill(-consumerPID, SIGKILL) }
            handle(.ended(ConsumerEnding(status: .signaled(SIGKILL), cause: .itself, killed: true)))
        }
    }

    private var pidMetadata: Logger.Metadata {
        consumerPID.map { ["pid": "\($0)"] } ?? [:]
    }

    private func rearmTimer() {
        let now = Self.now()
        guard let at = machine.nextWake(now: now) else {
            timer?.task.cancel()
            timer = nil
            return
        }
        if let timer, timer.at == at { return }
        timer?.task.cancel()
        timer = (at, Task { [weak self] in
            guard (try? await Task.sleep(until: at)) != nil else { return }
            await self?.timerFired()
        })
    }

    private func timerFired() {
        timer = nil
        handle(.tick)
    }

    private static func now() -> ConsumerSupervision.Now {
        ConsumerSupervision.Now(instant: .now, boot: BootClock.now())
    }
}
