import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

/// Every fault test, one at a time: each schedule times sessions of 1.5–2 s, and on a 2-core
/// machine schedules running side by side would slow each other's members down.
@Suite(.serialized) struct FaultSuite {}

/// A group of `allocatord` processes for one fault schedule, every document they publish seen
/// by an `Observer`. Each member keeps its folder (state file, socket) across restarts.
final class Cluster: @unchecked Sendable {
    let group: String
    let observer = Observer()
    let zk: String
    let arguments: [String]
    let base: String
    private let state = Shared<[String: DaemonProcess]>([:])
    /// Every process ever started, so that `deinit` can leave none behind.
    private let all = Shared<[DaemonProcess]>([])

    /// Members will connect to `zk` and get `arguments` (e.g. the session timeout).
    init(zk: String, arguments: [String], test: String = #function) throws {
        self.zk = zk
        self.group = uniqueGroup(test)
        self.arguments = arguments
        base = temporaryPath("faults")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    }

    /// Starts (or starts again) member `name`, connecting through `zk` (default: the
    /// cluster's), with the cluster's arguments plus `extra`, and `environment` added to this
    /// process's.
    @discardableResult
    func start(
        _ name: String, zk: String? = nil, _ extra: [String] = [], environment: [String: String] = [:], watch: Bool = true
    ) throws -> DaemonProcess {
        // A process started again: its predecessor's last document (`stopped`, or the share a
        // killed one left under its lease), which the poller may not have caught on a starved
        // machine before the new process replaces the file.
        if let previous = state.value[name], !previous.process.isRunning, let document = previous.fileDocument {
            observer.recordSeen(member: name, document: document)
        }
        observer.processStarting(member: name)
        let daemon = try DaemonProcess(
            zk: zk ?? self.zk, group: group, member: name, arguments: arguments + extra, environment: environment,
            folder: base + "/" + name)
        let known = state.value[name] != nil
        state.update { $0[name] = daemon }
        all.update { $0.append(daemon) }
        if !known { observer.follow(daemon, watch: watch) }
        return daemon
    }

    subscript(name: String) -> DaemonProcess { state.value[name]! }

    var names: [String] { state.value.keys.sorted() }

    /// Waits until `members` (default: all) are active on one generation with exactly these
    /// members, their shares splitting `partitions` (if given) among them, the leader awaiting
    /// nobody, and the observer has seen each one's latest document. Returns the instant the
    /// group was seen settled.
    @discardableResult
    func waitForAgreement(
        _ members: [String]? = nil, partitions: Set<String>? = nil, timeout: Duration = .seconds(30),
        _ what: String = "agreement"
    ) async throws -> ContinuousClock.Instant {
        let members = (members ?? names).sorted(by: utf8Precedes)
        let daemons = members.map { self[$0] }
        let observer = observer
        let agreed = await eventually(timeout: timeout) {
            let documents = daemons.map(\.fileDocument)
            guard documents.allSatisfy({ $0?.state == .active && $0?.members == members }),
                  Set(documents.map { $0?.generation }).count == 1 else { return false }
            let shares = documents.compactMap { $0 }.flatMap { document in
                document.allocation.flatMap { topic, ids in ids.map { "\(topic):\($0)" } }
            }
            if let partitions, shares.count != partitions.count || Set(shares) != partitions { return false }
            // The observer has caught up with the file.
            guard zip(members, documents).allSatisfy({ member, document in
                observer.documents(of: member).contains { $0.document == document }
            }) else { return false }
            // The leader awaits nobody (spec §14): the plan is complete, not only covering. The
            // status must be of the files' generation: a document is published (and `status`
            // moves on) a moment before its file is written.
            let socket = daemons[0].socket
            let status = await RawSocket.command("status", to: socket)
            let object = status.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return (object?["awaited"] as? [String: Any])?.isEmpty == true
                && (object?["generation"] as? Int).map(Int64.init) == documents[0]?.generation
        }
        guard agreed else {
            throw Timeout(what: "\(what) of \(members): " + daemons.map { "\n\($0.fileDocument?.json ?? "none")" }.joined()
                + daemons.map { "\n--- \($0.member):\n\($0.log.suffix(3000))" }.joined())
        }
        return .now
    }

    /// After a member woke from a pause past its session (`woke`), it published nothing as valid
    /// before it had dropped its share and read its grant anew: its first document has an
    /// empty share (`lost` or `joining`), and every later share is of a newer generation than
    /// `before`, the document it held when paused.
    func expectNoOldShareAfterWaking(
        _ member: String, woke: ContinuousClock.Instant, before: MemberDocument, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let after = observer.documents(of: member).filter { $0.at > woke }.map(\.document)
        let first = try #require(after.first, sourceLocation: sourceLocation)
        #expect(first.allocation.isEmpty && [.lost, .joining].contains(first.state), "first after waking: \(first.json)", sourceLocation: sourceLocation)
        for document in after where !document.allocation.isEmpty {
            #expect(document.generation > before.generation, "republished an old share: \(document.json)", sourceLocation: sourceLocation)
        }
    }

    /// Runs the overlap checker over everything observed; records an issue for each finding.
    /// Every overlap beyond the stamps' resolution (`OverlapChecker.resolution`, the only
    /// allowance) fails the test; handovers from a member that could not react (finding F1 of
    /// docs/faults.md) are named apart.
    @discardableResult
    func expectNoOverlap(
        _ schedule: String, settledAt: ContinuousClock.Instant, partitions: Set<String>, lostUpdates: String = "n/a",
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> OverlapChecker.Report {
        let report = observer.check(settledAt: settledAt, expected: partitions)
        let around = Array(Set(report.unexplained.map(\.partition)).sorted().prefix(3))
        #expect(report.unexplained.isEmpty, "\(report)\n\(timeline(around: around))", sourceLocation: sourceLocation)
        // F1 (fixed by handovers): nothing is taken from an unreactive holder under its lease.
        #expect(report.unreactiveHandovers.isEmpty, "\(report)\n\(self.timeline(around: Array(Set(report.unreactiveHandovers.map(\.partition)).sorted().prefix(2))))", sourceLocation: sourceLocation)
        // The one allowance, asserted: what was tolerated stayed within the stamps' resolution.
        #expect(report.longestTolerated <= OverlapChecker.resolution, "\(report.longestTolerated)", sourceLocation: sourceLocation)
        let origin = observer.observations.map(\.madeAt).min() ?? settledAt
        #expect(
            report.unowned.isEmpty,
            "unowned at +\((settledAt - origin).milliseconds) ms: \(report.unowned.prefix(50))\n\(self.timeline(around: Array(report.unowned.prefix(2))))",
            sourceLocation: sourceLocation)
        #expect(report.shared.isEmpty && report.unexpected.isEmpty, "\(report)\n\(self.timeline(around: Array(report.shared.prefix(3))))", sourceLocation: sourceLocation)
        print("overlap check, \(schedule): \(report.summary)")
        FaultSummary.write(schedule, report, lostUpdates: lostUpdates)
        return report
    }

    /// Every observation, one a line, in the order made: when its member made it (since the
    /// first), how much later the observer saw it if that was 5 ms or more, member, source,
    /// state, generation, its `updated_at`, lease left when seen, and the share's partitions
    /// among `partitions` (all if empty; `(r)`: under `revoking`).
    func timeline(around partitions: [String] = []) -> String {
        let observations = observer.observations.sorted { $0.madeAt < $1.madeAt }
        guard let origin = observations.first?.madeAt else { return "" }
        let wanted = Set(partitions)
        return observations.map { observation in
            let document = observation.document
            func names(_ share: [String: [Int]]) -> [String] {
                share.flatMap { topic, ids in ids.map { "\(topic):\($0)" } }.filter { wanted.isEmpty || wanted.contains($0) }.sorted()
            }
            let share = names(document.allocation) + names(document.revoking).map { $0 + "(r)" }
            let lease = observation.leaseEnd.map { "\(($0 - observation.at).milliseconds)ms" } ?? "-"
            let lag = (observation.at - observation.madeAt).milliseconds
            let count = document.allocation.values.map(\.count).reduce(0, +) + document.revoking.values.map(\.count).reduce(0, +)
            return "+\((observation.madeAt - origin).milliseconds)\(lag >= 5 ? " (seen +\(lag))" : "") \(observation.member) \(observation.source) \(document.state) "
                + "gen \(document.generation) updated_at \(MemberDocument.timestamp(document.updatedAt)) members \(document.members) "
                + "lease \(lease) share(\(count)) \(share)"
        }.joined(separator: "\n")
    }

    /// Stops every member (SIGTERM; SIGKILL if one hangs; SIGCONT first for a stopped one) and
    /// the observer, and removes the folders.
    func stopAll() async {
        for daemon in all.value where daemon.process.isRunning {
            daemon.signal(SIGCONT)
            await daemon.stop()
        }
        // Each member's last document (`stopped`, or what a killed process left), made before it
        // left the group: the observer's poller may not have caught it before the others took
        // its share.
        for daemon in state.value.values {
            if let document = daemon.fileDocument { observer.recordSeen(member: daemon.member, document: document) }
        }
        observer.stop()
        try? FileManager.default.removeItem(atPath: base)
    }

    deinit {
        for daemon in all.value where daemon.process.isRunning {
            kill(daemon.process.processIdentifier, SIGKILL)
        }
        observer.stop()
        try? FileManager.default.removeItem(atPath: base)
    }
}

/// `t:0` ... `t:N-1` as strings.
func partitionNames(_ topic: String = "t", _ range: Range<Int>) -> Set<String> {
    Set(range.map { "\(topic):\($0)" })
}

/// A line per schedule in `$FAULT_SUMMARY` (if set), for `scripts/fault-summary`.
enum FaultSummary {
    /// Appends a line of free text for a schedule that is not about ownership.
    static func writeLine(_ name: String, _ result: String) {
        append([name, "-", "-", "-", "-", "-", result].joined(separator: "\t") + "\n")
    }

    static func append(_ line: String) {
        guard let path = ProcessInfo.processInfo.environment["FAULT_SUMMARY"] else { return }
        let handle = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }()
        handle?.seekToEndOfFile()
        handle?.write(Data(line.utf8))
        try? handle?.close()
    }

    /// Appends `name<TAB>overlaps<TAB>F1 handovers<TAB>unowned<TAB>documents<TAB>longest
    /// tolerated ms<TAB>lost updates`.
    static func write(_ name: String, _ report: OverlapChecker.Report, lostUpdates: String = "n/a") {
        let f1 = report.unreactiveHandovers
        let line = [
            name, report.unexplained.isEmpty ? "none" : "\(report.unexplained.count)",
            f1.isEmpty ? "none" : "\(Set(f1.map(\.partition)).count) partitions, up to \(f1.map(\.duration.milliseconds).max()!) ms",
            report.unowned.isEmpty ? "none" : report.unowned.joined(separator: " "),
            "\(report.observationCount)", "\(report.longestTolerated.milliseconds)", lostUpdates,
        ].joined(separator: "\t") + "\n"
        append(line)
    }
}
