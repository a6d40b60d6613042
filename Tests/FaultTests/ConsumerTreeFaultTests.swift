import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Issue 22, spec §15: the supervised consumer is a process tree, and its share is enforced
    /// over the tree even when the daemon cannot act. The consumer (`Tests/consumers/
    /// forking_consumer.py`) forks a worker and is named by `exec:` in a YAML configuration, so
    /// `/bin/sh -c` runs it (Debian's dash forks): a tree of three. Every process of it logs
    /// `alive` every 20 ms with its own wall-clock and CLOCK_BOOTTIME stamps, and each check
    /// holds those stamps against the daemon's own documents: no process of the tree ever runs
    /// without a lease, whatever happens to the daemon.
    @Suite(.serialized) struct ConsumerTreeFaultTests {
        static let sessionTimeout = 2000

        /// A member with the forking consumer, configured through a YAML file.
        struct Member {
            let daemon: DaemonProcess
            let log: String
        }

        /// Starts member `name` of `group` with the forking consumer named by `exec:` in its
        /// configuration file; `stubborn`: the worker ignores SIGTERM (only SIGKILL ends it).
        func start(
            _ name: String, group: String, zk: String, in folder: String, stubborn: Bool = false, stopTimeout: Int = 10_000,
            consumerOptions: [String] = [], partitions: String? = "t:0-3"
        ) throws -> Member {
            let log = folder + "/consumers.log"
            let script = repositoryRoot.appendingPathComponent("Tests/consumers/forking_consumer.py").path
            let words = [script, log, name] + (stubborn ? ["--stubborn"] : []) + consumerOptions
            let config = folder + "/\(name).yaml"
            try """
                session-timeout: \(Self.sessionTimeout)
                exec: python3 \(words.map { "'\($0)'" }.joined(separator: " "))
                exec-stop-timeout: \(stopTimeout)
                \(partitions.map { "partitions: \($0)" } ?? "")
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try DaemonProcess(zk: zk, group: group, member: name, arguments: ["--config", config], folder: folder + "/" + name)
            return Member(daemon: daemon, log: log)
        }

        func folder() throws -> String {
            let path = temporaryPath("tree")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }

        /// Waits for a parent and a worker of member `name` to have started, other than `except`.
        func waitForTree(_ log: String, member name: String, except: Set<Int32> = [], _ daemon: DaemonProcess) async throws -> Set<Int32> {
            let started = await eventually(timeout: .seconds(60)) {
                let roles = Set(TreeLog(path: log).lines.filter { $0.event == "start" && $0.name == name && !except.contains($0.pid) }.map(\.role))
                return roles == ["parent", "worker"]
            }
            guard started else { throw Timeout(what: "\(name)'s consumer tree; log:\n\(daemon.log)") }
            return TreeLog(path: log).pids(of: name).subtracting(except)
        }

        /// Waits until none of `pids`, consumers writing to `log`, runs.
        func waitUntilGone(_ pids: Set<Int32>, of log: String, _ what: String, timeout: Duration = .seconds(30)) async -> Bool {
            await eventually(timeout: timeout) { !pids.contains { TreeLog.isRunning($0, log: log) } }
        }

        /// Every line of the consumers' log that no lease of member `name` covered.
        func expectEveryLineUnderALease(
            _ log: String, member name: String, documents: [MemberDocument], sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let lines = TreeLog(path: log).lines.filter { $0.name == name }
            let uncovered = TreeLog.uncovered(lines, by: documents)
            #expect(!lines.isEmpty, sourceLocation: sourceLocation)
            #expect(
                uncovered.isEmpty,
                "\(uncovered.count) of \(lines.count) lines of \(name)'s consumers written without a lease, e.g. \(uncovered.prefix(5)); leases up to \(documents.compactMap(\.validUntilBoottime).max() ?? 0)",
                sourceLocation: sourceLocation)
        }

        /// Kills whatever a failed test left behind.
        func killAll(_ log: String) {
            for pid in TreeLog(path: log).pids() where TreeLog.isRunning(pid, log: log) { kill(pid, SIGKILL) }
        }

        @Test(.timeLimit(.minutes(3))) func sigtermStopsTheWholeTreeBeforeTheDaemonLeaves() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = try folder()
            let a = try start("a", group: uniqueGroup(), zk: server.connectString, in: folder, stopTimeout: 5000)
            defer { killAll(a.log) }
            let observer = Observer()
            observer.follow(a.daemon)
            defer { observer.stop() }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let tree = try await waitForTree(a.log, member: "a", a.daemon)

            a.daemon.signal(SIGTERM)
            #expect(await a.daemon.waitForExit(timeout: .seconds(30)) == 0)
            let stopped = try #require(a.daemon.fileDocument)
            #expect(stopped.state == .stopped)
            #expect(await waitUntilGone(tree, of: a.log, "the tree", timeout: .seconds(10)), "the consumer's tree outlived the daemon: \(tree.filter { TreeLog.isRunning($0, log: a.log) })")
            // Each process stopped before the member left (its `stopped` document).
            let late = TreeLog(path: a.log).lines.filter { $0.wall > Int64(stopped.updatedAt.timeIntervalSince1970 * 1e9) + 2_000_000 }
            #expect(late.isEmpty, "after the member stopped: \(late.prefix(5))")
            expectEveryLineUnderALease(a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [stopped])
        }

        /// A worker that left the consumer's process group (`setsid`) comes to the guard only
        /// when its parent, which ignores SIGTERM, is killed at the stop's SIGKILL: after the
        /// sweep that SIGKILL made. It is killed too, and the daemon leaves. (The guard swept
        /// once, waited for a child it never signalled, and the daemon's stop waited for the
        /// guard: neither ended.)
        @Test(.timeLimit(.minutes(3))) func aWorkerThatLeftTheGroupIsKilledEvenWhenItComesLate() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = try folder()
            let a = try start(
                "a", group: uniqueGroup(), zk: server.connectString, in: folder, stopTimeout: 1000, consumerOptions: ["--escaping-worker"])
            defer { killAll(a.log) }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let tree = try await waitForTree(a.log, member: "a", a.daemon)

            a.daemon.signal(SIGTERM)
            #expect(await a.daemon.waitForExit(timeout: .seconds(30)) == 0, "the daemon did not leave; log:\n\(a.daemon.log)")
            #expect(await waitUntilGone(tree, of: a.log, "the tree", timeout: .seconds(10)), "the consumer's tree outlived the daemon: \(tree.filter { TreeLog.isRunning($0, log: a.log) })")
        }

        @Test(.timeLimit(.minutes(3))) func killMinus9OfTheDaemonEndsTheTreeByItsLease() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = try folder()
            let group = uniqueGroup()
            let a = try start("a", group: group, zk: server.connectString, in: folder, stubborn: true)
            defer { killAll(a.log) }
            let observer = Observer()
            observer.follow(a.daemon)
            defer { observer.stop() }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let tree = try await waitForTree(a.log, member: "a", a.daemon)

            a.daemon.signal(SIGKILL)
            _ = await a.daemon.waitForExit(timeout: .seconds(30))
            // The file holds the last lease the daemon gave anyone (it is written before the
            // consumer is told). A 10 s stop timeout: the lease, not the timeout, ends the worker.
            let last = try #require(a.daemon.fileDocument)
            #expect(await waitUntilGone(tree, of: a.log, "the tree"), "the consumer's tree outlived a daemon killed with SIGKILL: \(tree.filter { TreeLog.isRunning($0, log: a.log) })")
            expectEveryLineUnderALease(a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [last])

            // A daemon started again runs a new tree, alone.
            let again = try start("a", group: group, zk: server.connectString, in: folder, stubborn: true)
            defer { Task { await again.daemon.stop() } }
            try await again.daemon.waitForFile(timeout: .seconds(60), "active again") { $0.state == .active }
            _ = try await waitForTree(a.log, member: "a", except: tree, again.daemon)
            #expect(!tree.contains { TreeLog.isRunning($0, log: a.log) })
        }

        @Test(.timeLimit(.minutes(3))) func sigstopOfTheDaemonPastItsLeaseEndsTheTreeByTheLease() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = try folder()
            let a = try start("a", group: uniqueGroup(), zk: server.connectString, in: folder, stubborn: true)
            defer { killAll(a.log) }
            defer { Task { a.daemon.signal(SIGCONT); await a.daemon.stop() } }
            let observer = Observer()
            observer.follow(a.daemon)
            defer { observer.stop() }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let tree = try await waitForTree(a.log, member: "a", a.daemon)

            a.daemon.signal(SIGSTOP)
            #expect(await waitUntilGone(tree, of: a.log, "the tree"), "the consumer's tree ran on while its daemon was stopped: \(tree.filter { TreeLog.isRunning($0, log: a.log) })")
            // Frozen, the daemon wrote nothing more: its file holds the last lease.
            let frozen = try #require(a.daemon.fileDocument)
            expectEveryLineUnderALease(a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [frozen])

            // Awake, the member is active again (in the same session, or a new one), and so is a
            // new tree.
            a.daemon.signal(SIGCONT)
            _ = try await waitForTree(a.log, member: "a", except: tree, a.daemon)
            a.daemon.signal(SIGTERM)
            #expect(await a.daemon.waitForExit(timeout: .seconds(30)) == 0)
            expectEveryLineUnderALease(
                a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [a.daemon.fileDocument].compactMap { $0 })
        }

        @Test(.timeLimit(.minutes(3))) func cutOffFromZooKeeperUntilLostTheTreeEndsByTheLease() async throws {
            let server = try await TestZooKeeper.shared.value
            let port = Int(server.connectString.split(separator: ":").last!)!
            let proxy = try TCPProxy(port: port)
            defer { proxy.stop() }
            let folder = try folder()
            let a = try start("a", group: uniqueGroup(), zk: proxy.address, in: folder, stubborn: true)
            defer { killAll(a.log) }
            defer { Task { await a.daemon.stop() } }
            let observer = Observer()
            observer.follow(a.daemon)
            defer { observer.stop() }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let tree = try await waitForTree(a.log, member: "a", a.daemon)

            proxy.blackhole()
            try await a.daemon.waitForFile(timeout: .seconds(60), "lost") { $0.state == .lost }
            #expect(await waitUntilGone(tree, of: a.log, "the tree"), "the consumer's tree ran on after its member was lost: \(tree.filter { TreeLog.isRunning($0, log: a.log) })")
            expectEveryLineUnderALease(a.log, member: "a", documents: observer.documents(of: "a").map(\.document))

            proxy.heal()
            try await a.daemon.waitForFile(timeout: .seconds(60), "active again") { $0.state == .active }
            _ = try await waitForTree(a.log, member: "a", except: tree, a.daemon)
            a.daemon.signal(SIGTERM)
            #expect(await a.daemon.waitForExit(timeout: .seconds(30)) == 0)
            expectEveryLineUnderALease(
                a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [a.daemon.fileDocument].compactMap { $0 })
        }

        /// A share change before the consumer has a SIGHUP handler: its first run dies of the
        /// change signal, and is started again; the daemon stays in the group. The second run
        /// has a handler: through `/bin/sh -c`, the next change reaches it and it runs on.
        @Test(.timeLimit(.minutes(3))) func aShareChangeBeforeTheConsumerHasAHandlerStartsItAgain() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = try folder()
            let group = uniqueGroup()
            let a = try start(
                "a", group: group, zk: server.connectString, in: folder, stopTimeout: 5000,
                consumerOptions: ["--no-hup-handler-first", folder + "/first-run"])
            defer { killAll(a.log) }
            defer { Task { await a.daemon.stop() } }
            let observer = Observer()
            observer.follow(a.daemon)
            defer { observer.stop() }
            try await a.daemon.waitForFile("active") { $0.state == .active }
            let first = try await waitForTree(a.log, member: "a", a.daemon)

            // b joins: a's share changes, and its consumer gets SIGHUP with no handler.
            let b = try DaemonProcess(
                zk: server.connectString, group: group, member: "b", arguments: ["--session-timeout", "\(Self.sessionTimeout)"],
                folder: folder + "/b")
            defer { Task { await b.stop() } }
            try await a.daemon.waitForFile(timeout: .seconds(60), "shared with b") { $0.state == .active && $0.members == ["a", "b"] }
            #expect(await waitUntilGone(first, of: a.log, "the first run"), "the first run survived: \(first.filter { TreeLog.isRunning($0, log: a.log) })")
            let second = try await waitForTree(a.log, member: "a", except: first, a.daemon)
            #expect(a.daemon.process.isRunning, "the daemon ended: \(a.daemon.log)")

            // b leaves: the change reaches the second run's processes, which run on.
            await b.stop()
            try await a.daemon.waitForFile(timeout: .seconds(60), "alone again") { $0.state == .active && $0.members == ["a"] }
            let heard = await eventually(timeout: .seconds(30)) {
                Set(TreeLog(path: a.log).lines.filter { $0.event == "hup" && second.contains($0.pid) }.map(\.role)) == ["parent", "worker"]
            }
            #expect(heard, "the second run did not log hup; log:\n\(a.daemon.log)")
            #expect(second.allSatisfy { TreeLog.isRunning($0, log: a.log) })
            let runs = Set(TreeLog(path: a.log).lines.filter { $0.event == "start" && $0.role == "parent" }.map(\.pid))
            #expect(runs.count == 2, "runs: \(runs)")
            #expect(a.daemon.process.isRunning)

            a.daemon.signal(SIGTERM)
            #expect(await a.daemon.waitForExit(timeout: .seconds(30)) == 0)
            expectEveryLineUnderALease(
                a.log, member: "a", documents: observer.documents(of: "a").map(\.document) + [a.daemon.fileDocument].compactMap { $0 })
        }
    }
}

/// The log the forking consumer's processes write: `EVENT ROLE NAME PID WALL_NS BOOT_NS`.
struct TreeLog {
    struct Line: CustomStringConvertible {
        var event: String
        var role: String
        var name: String
        var pid: Int32
        var wall: Int64
        var boot: Int64
        var description: String { "\(event) \(role) \(name) \(pid) boot \(boot)" }
    }

    var lines: [Line] = []

    init(path: String) {
        for text in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
            let fields = text.split(separator: " ").map(String.init)
            guard fields.count == 6, let pid = Int32(fields[3]), let wall = Int64(fields[4]), let boot = Int64(fields[5]) else { continue }
            lines.append(Line(event: fields[0], role: fields[1], name: fields[2], pid: pid, wall: wall, boot: boot))
        }
    }

    /// Whether `pid`, a consumer that wrote to `log`, still runs: its number alone may have
    /// gone to another process since (pids wrap at 32 768 here, and a busy suite goes round),
    /// so its command line must name the log too.
    static func isRunning(_ pid: Int32, log: String) -> Bool {
        ProcessTable.isRunning(pid) && ProcessTable.commandLine(pid).contains(log)
    }

    /// The processes that wrote (for `name`, or anyone).
    func pids(of name: String? = nil) -> Set<Int32> {
        Set(lines.filter { name == nil || $0.name == name }.map(\.pid))
    }

    /// The lines no document covered: a document covers a line written once it was made (its
    /// `updated_at`, on the wall clock, to its millisecond) and up to its lease's end (its
    /// `valid_until_boottime_ns`, on CLOCK_BOOTTIME), while it holds a share under a lease.
    static func uncovered(_ lines: [Line], by documents: [MemberDocument]) -> [Line] {
        let leases = documents.compactMap { document -> (made: Int64, end: Int64)? in
            guard let end = document.validUntilBoottime else { return nil }
            return (Int64((document.updatedAt.timeIntervalSince1970 * 1000).rounded(.down)) * 1_000_000, end)
        }
        return lines.filter { line in
            !leases.contains { $0.made <= line.wall + 1_000_000 && line.boot <= $0.end }
        }
    }
}
