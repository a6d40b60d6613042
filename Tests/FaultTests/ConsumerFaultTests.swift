import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Issue 11's proof, end to end with real processes: three members, each with a consumer
    /// (`Tests/consumers/logging_consumer.py`, on the Python client) that logs `start P` / `stop
    /// P` with the host's monotonic time while it works on a partition, through a join, a
    /// rolling restart, a kill -9 of a daemon and of a consumer, a daemon paused past its
    /// session, and a cut-off ZooKeeper connection. With `--handover consumer` the log never
    /// shows two consumers working on one partition at once.
    @Suite(.serialized) struct ConsumerFaultTests {
        static let sessionTimeout = 2000
        let partitions = partitionNames("t", 0..<12)

        /// With `--handover daemon`, the one overlap of consumers allowed: the daemon acknowledges
        /// a revocation once its document without the partitions is out (spec §15), and the
        /// leader grants them at once (spec §14), so the old owner's consumer may still be at work
        /// when the new owner's starts: for as long as it takes to read its daemon's document and
        /// finish its batch. The batch is 100 ms (`logging_consumer.py`); reading the document is
        /// a Python process's wake-up on a busy 2-core machine. The documents themselves never
        /// overlap (checked in every variant). See docs/faults.md, "Consumers, end to end".
        static let daemonHandoverConsumerOverlap = Duration.seconds(1)

        @Test(.timeLimit(.minutes(4))) func consumersOnTheSocketNeverOverlapWithConsumerHandover() async throws {
            let report = try await runSchedule(supervised: false, handover: "consumer")
            #expect(report.overlaps.isEmpty, "\(report)")
        }

        @Test(.timeLimit(.minutes(4))) func supervisedConsumersNeverOverlapWithConsumerHandover() async throws {
            let report = try await runSchedule(supervised: true, handover: "consumer")
            #expect(report.overlaps.isEmpty, "\(report)")
        }

        /// With the daemon's handover a consumer may still be at work when the new owner's
        /// starts: for as long as it takes to see the new document and stop (docs/faults.md).
        @Test(.timeLimit(.minutes(4))) func withDaemonHandoverConsumersOverlapOnlyWhileTheyNoticeTheChange() async throws {
            let report = try await runSchedule(supervised: false, handover: "daemon")
            FaultSummary.writeLine("consumers with handover daemon", "\(report.overlaps.count) overlaps, longest \(report.longestOverlap.milliseconds) ms")
            print("consumers with handover daemon: \(report)")
            #expect(report.longestOverlap <= Self.daemonHandoverConsumerOverlap, "\(report)")
        }

        // MARK: The schedule

        /// Runs the schedule and reads the shared log.
        func runSchedule(supervised: Bool, handover: String) async throws -> ConsumerLog.Report {
            let server = try await TestZooKeeper.shared.value
            let port = Int(server.connectString.split(separator: ":").last!)!
            let proxy = try TCPProxy(port: port)
            defer { proxy.stop() }
            let arguments = [
                "--session-timeout", "\(Self.sessionTimeout)", "--handover", handover, "--release-timeout", "3000",
                "--strategy", "sticky",
            ]
            let consumers = ConsumerProcesses(log: temporaryPath("consumers", suffix: ".log"))
            let cluster = try Cluster(zk: server.connectString, arguments: arguments)
            defer { Task { await cluster.stopAll() } }
            /// Starts member `name` with its consumer: run by the daemon (supervised; `--exec --`
            /// ends the options), or on the socket (started with the member the first time; a
            /// member started again finds its consumer reconnecting).
            func start(_ name: String, zk: String? = nil, _ extra: [String] = []) throws {
                if supervised {
                    let exec = ["--exec-stop-timeout", "500", "--exec-restart", "on-failure", "--exec", "--"] + consumers.command(name: name)
                    try cluster.start(name, zk: zk, extra + exec, environment: consumers.environment)
                } else {
                    let first = !cluster.names.contains(name)
                    try cluster.start(name, zk: zk, extra)
                    if first { consumers.start(name: name, socket: cluster[name].socket) }
                }
            }

            try start("a", ["--partitions", "t:0-11"])
            try start("b")
            try start("c", zk: proxy.address)
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "three")
            // A join.
            try start("d")
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "d joined")

            // A rolling restart of a, b and d (c is behind the proxy).
            for name in ["a", "b", "d"] {
                await cluster[name].stop()
                try start(name, name == "a" ? ["--partitions", "t:0-11"] : [])
                try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "\(name) restarted")
            }

            // kill -9 of a daemon: its consumer stops by the lease; the member comes back.
            cluster["b"].signal(SIGKILL)
            _ = await cluster["b"].waitForExit()
            try await cluster.waitForAgreement(["a", "c", "d"], partitions: partitions, timeout: .seconds(60), "b killed")
            try start("b")
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "b back")

            // kill -9 of a consumer: what it held moves on only after the release timeout.
            if supervised {
                await consumers.kill(childOf: cluster["d"].process.processIdentifier)
            } else {
                await consumers.kill(name: "d")
                consumers.start(name: "d", socket: cluster["d"].socket)
            }
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "d's consumer killed")
            // Make d lose partitions while it has a new consumer: a's leave.
            await cluster["a"].stop()
            try await cluster.waitForAgreement(["b", "c", "d"], partitions: partitions, timeout: .seconds(60), "a left")
            try start("a", ["--partitions", "t:0-11"])
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "a back")

            // SIGSTOP of a daemon past its session timeout.
            cluster["d"].signal(SIGSTOP)
            try await cluster.waitForAgreement(["a", "b", "c"], partitions: partitions, timeout: .seconds(60), "d paused")
            cluster["d"].signal(SIGCONT)
            try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "d resumed")

            // The ZooKeeper connection of c cut off past its session timeout.
            proxy.blackhole()
            try await cluster.waitForAgreement(["a", "b", "d"], partitions: partitions, timeout: .seconds(60), "c cut off")
            proxy.heal()
            let settled = try await cluster.waitForAgreement(partitions: partitions, timeout: .seconds(60), "c back")

            await cluster.stopAll()
            await consumers.stopAll()
            let variant = "\(supervised ? "supervised" : "on the socket"), handover \(handover)"
            // The members' documents, `revoking` included: never two holders, in any variant.
            cluster.expectNoOverlap("consumers (\(variant)): documents", settledAt: settled, partitions: partitions)
            let report = try ConsumerLog(path: consumers.log, killed: consumers.killed).report()
            print("consumers (\(variant)): \(report)")
            // The consumers worked: every member's, through every step (a schedule where none
            // started would show no overlap).
            #expect(report.names == ["a", "b", "c", "d"], "\(report)")
            #expect(report.consumers >= 5 && report.intervals > 20, "\(report)")
            return report
        }
    }
}

/// The test's consumers on the socket (or the command a daemon runs them with), all logging to
/// one file.
final class ConsumerProcesses: Sendable {
    let log: String
    private let running = Shared<[String: ChildProcess]>([:])
    /// Consumers killed with SIGKILL: pid → the monotonic time (ns) once it was gone.
    private let killedAt = Shared<[Int32: UInt64]>([:])

    init(log: String) {
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
    }

    var killed: [Int32: UInt64] { killedAt.value }

    /// Where the consumer finds the Python client.
    var environment: [String: String] { ["PYTHONPATH": repositoryRoot.appendingPathComponent("clients/python/src").path] }

    /// The consumer's command line for member `name` (its socket from `ALLOCATORD_SOCKET`).
    func command(name: String) -> [String] {
        ["/usr/bin/env", "python3", repositoryRoot.appendingPathComponent("Tests/consumers/logging_consumer.py").path, log, name]
    }

    /// Starts the consumer of member `name` on `socket`.
    func start(name: String, socket: String) {
        guard let process = try? ChildProcess("/usr/bin/env", Array(command(name: name).dropFirst()) + [socket], environment: environment)
        else { return }
        running.update { $0[name] = process }
    }

    /// SIGKILL to member `name`'s consumer.
    func kill(name: String) async {
        guard let process = running.value[name] else { return }
        process.signal(SIGKILL)
        _ = await process.exited(timeout: .seconds(10))
        killedAt.update { $0[process.processIdentifier] = Self.monotonicNow() }
    }

    /// SIGKILL to the consumer a daemon runs: every process below the daemon's guard.
    func kill(childOf parent: Int32) async {
        let consumers = ProcessTable.descendants(of: parent).filter {
            !ProcessTable.commandLine($0).contains("--consumer-guard")
        }
        for pid in consumers { Glibc.kill(pid, SIGKILL) }
        _ = await eventually(timeout: .seconds(10)) { !consumers.contains(where: ProcessTable.isRunning) }
        let now = Self.monotonicNow()
        killedAt.update { killed in
            for pid in consumers { killed[pid] = now }
        }
    }

    /// SIGKILL to every consumer on a socket: at the end, once the daemons have stopped (and so
    /// their consumers have stopped working).
    func stopAll() async {
        for (name, process) in running.value where process.isRunning {
            await kill(name: name)
        }
    }

    static func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// The consumers' shared log: when each consumer (by pid) worked on each partition.
struct ConsumerLog {
    struct Interval: CustomStringConvertible {
        var partition: String
        var consumer: String
        var start: UInt64
        var stop: UInt64
        var description: String { "\(consumer) \(partition) \(start)…\(stop)" }
    }

    struct Overlap: CustomStringConvertible {
        var first: Interval
        var second: Interval
        var duration: Duration { .nanoseconds(Int64(min(first.stop, second.stop)) - Int64(max(first.start, second.start))) }
        var description: String { "\(first.partition): \(first.consumer) and \(second.consumer) for \(duration.milliseconds) ms" }
    }

    struct Report: CustomStringConvertible {
        /// The members whose consumers started work on something.
        var names: Set<String>
        var consumers: Int
        var intervals: Int
        var overlaps: [Overlap]
        var unclosed: [String]
        var longestOverlap: Duration { overlaps.map(\.duration).max() ?? .zero }
        var description: String {
            "\(consumers) consumers, \(intervals) intervals, \(overlaps.count) overlaps: \(overlaps.prefix(10)); unclosed at the end: \(unclosed)"
        }
    }

    var intervals: [Interval] = []
    var unclosed: [String] = []

    /// Reads the log; a consumer killed with SIGKILL stopped working when it died (`killed`).
    init(path: String, killed: [Int32: UInt64]) throws {
        var open: [String: (partition: String, consumer: String, start: UInt64)] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 5, let time = UInt64(fields[4]) else { continue }
            let consumer = "\(fields[2])#\(fields[3])"
            let key = "\(fields[1]) \(consumer)"
            if fields[0] == "start" {
                open[key] = (fields[1], consumer, time)
            } else if let started = open.removeValue(forKey: key) {
                intervals.append(Interval(partition: started.partition, consumer: consumer, start: started.start, stop: time))
            }
        }
        for (key, started) in open {
            let pid = Int32(started.consumer.split(separator: "#").last!)!
            if let death = killed[pid] {
                intervals.append(Interval(partition: started.partition, consumer: started.consumer, start: started.start, stop: death))
            } else {
                unclosed.append(key)
                intervals.append(Interval(partition: started.partition, consumer: started.consumer, start: started.start, stop: .max))
            }
        }
    }

    func report() -> Report {
        var overlaps: [Overlap] = []
        for (_, group) in Dictionary(grouping: intervals, by: \.partition) {
            let sorted = group.sorted { $0.start < $1.start }
            for (index, interval) in sorted.enumerated() {
                for later in sorted[(index + 1)...] where later.start < interval.stop && later.consumer != interval.consumer {
                    overlaps.append(Overlap(first: interval, second: later))
                }
            }
        }
        return Report(
            names: Set(intervals.map { String($0.consumer.split(separator: "#").first ?? "") }),
            consumers: Set(intervals.map(\.consumer)).count, intervals: intervals.count, overlaps: overlaps, unclosed: unclosed)
    }
}
