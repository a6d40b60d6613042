import Foundation
import Glibc
import Logging
@testable import SystemdNotifier
import Testing
import TestSupport
@testable import Daemon
@testable import ZooKeeper

/// The daemon's logs (issue 12, item 5): journal fields, JSON lines, the level's contract, and
/// the C library's outage noise kept readable.
@Suite struct LoggingTests {
    @Test func jsonLogsAreOneObjectALineWithTheMetadata() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let daemon = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3", "--log-format", "json"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        #expect(await eventually { daemon.log.contains("\"rebalanced\"") })
        let records = daemon.log.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        #expect(!records.isEmpty && records.allSatisfy { $0 != nil }, "\(daemon.log)")
        let rebalanced = try #require(records.compactMap { $0 }.first { $0["message"] as? String == "rebalanced" })
        #expect(rebalanced["level"] as? String == "info")
        #expect(rebalanced["group"] as? String == group)
        #expect(rebalanced["member"] as? String == "a")
        #expect(rebalanced["state"] as? String == "active")
        #expect(rebalanced["epoch"] as? String != nil)
        #expect((rebalanced["time"] as? String).flatMap { $0.hasSuffix("Z") ? $0 : nil } != nil)
    }

    @Test func oneLoggersLevelDoesNotChangeAnothers() {
        DaemonLogHandler.level.withLock { $0 = .info }
        defer { DaemonLogHandler.level.withLock { $0 = .info } }
        var chatty = Logger(label: "chatty") { DaemonLogHandler(label: $0, format: .text) }
        let quiet = Logger(label: "quiet") { DaemonLogHandler(label: $0, format: .text) }
        chatty.logLevel = .trace
        #expect(chatty.logLevel == .trace)
        #expect(quiet.logLevel == .info)
        // The daemon's level (a reload) moves every logger without a level of its own.
        DaemonLogHandler.level.withLock { $0 = .error }
        #expect(quiet.logLevel == .error)
        #expect(chatty.logLevel == .trace)
    }

    @Test func metadataKeysBecomeJournalFieldsAndTheStreamIsRecognized() throws {
        #expect(DaemonLogHandler.fieldName("group") == "GROUP")
        #expect(DaemonLogHandler.fieldName("forced_releases") == "FORCED_RELEASES")
        #expect(DaemonLogHandler.fieldName("previous-state") == "PREVIOUS_STATE")
        #expect(Journal.isFieldName("EPOCH"))
        #expect(!Journal.isFieldName("_PID"))
        #expect(!Journal.isFieldName("lower"))
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        #expect(Journal.isStandardError(journalStream: "\(info.st_dev):\(info.st_ino)"))
        #expect(!Journal.isStandardError(journalStream: "\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!Journal.isStandardError(journalStream: "garbage"))
        #expect(!Journal.isStandardError(journalStream: nil))
    }

    @Test func theLibrarysRepeatedErrorsAreWrittenOnceASecondAndRefusalsNamed() {
        LibraryLog.connected()
        let refusal = "2026-11-28 10:00:00,000:1(0x7f):ZOO_ERROR@check_events@3011: Socket 127.0.0.1:2181 zk retcode=-4, errno=112(Host is down): failed while receiving a server response"
        let written = (0..<10).map { _ in LibraryLog.take(refusal) }
        #expect(written.first == true)
        #expect(written.dropFirst().filter { $0 }.count <= 1)  // one more only if a second passed
        #expect(ZooKeeperClient.likelyConnectionProblem?.contains("maxClientCnxns") == true)
        LibraryLog.connected()
        #expect(ZooKeeperClient.likelyConnectionProblem == nil)
        // Warnings and errors of another place are not held back by this one.
        #expect(LibraryLog.take("x:ZOO_WARN@zookeeper_interest@2000: something else"))
    }

    @Test(.timeLimit(.minutes(2))) func aMemberRefusedByMaxClientCnxnsSaysSo() async throws {
        let server = try await TestZooKeeper.start(maxClientConnections: 2)
        defer { Task { try? await server.stop() } }
        let group = uniqueGroup()
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3"])
        let b = try DaemonProcess(zk: server.connectString, group: group, member: "b")
        defer { Task { await a.stop(); await b.stop() } }
        try await a.waitForFile("active") { $0.state == .active }
        try await b.waitForFile("active") { $0.state == .active }
        let c = try DaemonProcess(zk: server.connectString, group: group, member: "c")
        defer { Task { await c.stop() } }
        #expect(await eventually {
            (try? await runProduct("allocatorctl", ["--socket", c.socket, "status"]))?.output.contains("maxClientCnxns") == true
        })
        #expect(c.fileDocument?.state == .joining)
        #expect(c.log.components(separatedBy: "usually its maxClientCnxns").count == 2)
        // Each of the library's errors (by its place, function@line), once a second at most.
        func counts() -> [Substring: Int] {
            c.log.split(separator: "\n").reduce(into: [:]) { counts, line in
                guard let range = line.firstRange(of: "ZOO_ERROR@") else { return }
                counts[line[range.lowerBound...].prefix { $0 != ":" }, default: 0] += 1
            }
        }
        let started = ContinuousClock.now
        let before = counts()
        try await Task.sleep(for: .seconds(3))
        let after = counts()
        let seconds = Int((ContinuousClock.now - started).components.seconds) + 1
        for (place, count) in after {
            #expect(count - before[place, default: 0] <= seconds + 1, "\(place): \(count - before[place, default: 0]) lines in \(seconds) s")
        }
    }

    /// Under a real journald, started in a private mount namespace (root only: `/run` is a
    /// tmpfs there, so the host's journal, if any, is not touched): the records arrive with
    /// their fields, and `journalctl GROUP=G` finds them.
    @Test(.enabled(if: JournalSandbox.isAvailable, "needs root, unshare --mount and systemd-journald"))
    func recordsReachARealJournaldWithTheirFields() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let folder = temporaryPath("journal")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try await runProcess(
            "/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", JournalSandbox.script],
            environment: [
                "ALLOCATORD": productsDirectory.appendingPathComponent("allocatord").path, "ZK": server.connectString,
                "GROUP": group, "DIR": folder,
            ])
        #expect(result.status == 0, "\(result.errors)")
        let records = result.output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        // MESSAGE is the message and, for `journalctl` without `-o verbose`, the fields after it.
        func record(_ message: String) -> [String: Any]? {
            records.last { ($0["MESSAGE"] as? String)?.hasPrefix(message + " ") == true }
        }
        let active = try #require(record("now active"), "\(result.output)")
        #expect((active["MESSAGE"] as? String)?.contains("previous_state=joining") == true)
        #expect(record("rebalanced")?["SHARE"] as? String == "4")
        #expect(active["GROUP"] as? String == group)
        #expect(active["MEMBER"] as? String == "a")
        #expect(active["STATE"] as? String == "active")
        #expect((active["EPOCH"] as? String).flatMap { Int($0) } != nil)
        #expect(active["PRIORITY"] as? String == "6")
        #expect(active["SYSLOG_IDENTIFIER"] as? String == "allocatord")
        #expect(active["_TRANSPORT"] as? String == "journal")
        // Down to the last: the member stopping, still with its fields.
        let stopped = try #require(record("now stopped"), "\(result.output)")
        #expect(stopped["MEMBER"] as? String == "a")
        #expect(stopped["STATE"] as? String == "stopped")
    }
}

/// A journald of a test's own: what `recordsReachARealJournaldWithTheirFields` runs under
/// `unshare --mount`.
enum JournalSandbox {
    static let journald = "/lib/systemd/systemd-journald"

    static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: journald)
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl")
            && (try? runBlocking("/usr/bin/unshare", ["--mount", "true"]))?.status == 0
    }

    /// Starts journald on a fresh `/run`, runs allocatord (ALLOCATORD, ZK, GROUP, DIR from the
    /// environment) with `--log-format journal` until it is active, stops it, and prints the
    /// group's records as `journalctl -o json` does, once the last one (stopped) is in.
    static let script = """
        set -e
        mount -t tmpfs tmpfs /run
        mkdir -p /run/systemd/journal /run/log/journal
        \(journald) &
        journald=$!
        trap 'kill $journald 2>/dev/null' EXIT
        wait_for() { i=0; until eval "$1"; do i=$((i + 1)); [ $i -lt 600 ] || { echo "gave up: $1" >&2; exit 3; }; sleep 0.05; done; }
        wait_for '[ -S /run/systemd/journal/socket ]'
        "$ALLOCATORD" --zk "$ZK" --group "$GROUP" --member a --partitions t:0-3 --log-format journal \\
            --state-file "$DIR/state.json" --socket "$DIR/state.sock" &
        daemon=$!
        wait_for 'grep -q "\\"state\\": *\\"active\\"" "$DIR/state.json" 2>/dev/null'
        kill -TERM $daemon
        wait $daemon
        wait_for 'journalctl -D /run/log/journal GROUP="$GROUP" --no-pager -o cat | grep -q "^now stopped"'
        journalctl -D /run/log/journal GROUP="$GROUP" --no-pager -o json
        """
}
