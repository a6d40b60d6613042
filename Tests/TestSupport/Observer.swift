import Allocator
import Foundation
import Glibc
import Synchronization

/// Records every document that members publish, with when it was seen, for fault tests: it
/// polls each member's state file every few milliseconds (the file is replaced atomically, so a
/// new inode or modification time means a new document) and can also follow a member's
/// `allocatorctl watch` stream. Documents seen twice (file and stream) are kept once, at the
/// first sighting.
public final class Observer: Sendable {
    /// One document as it was seen.
    public struct Observation: Sendable {
        public var member: String
        /// When the observer saw it, on the monotonic clock.
        public var at: ContinuousClock.Instant
        /// The wall-clock time at the same moment, to place `valid_until` on the monotonic clock.
        public var wall: Date
        public var document: MemberDocument
        public var source: String
        /// When the member made the document: from its `updated_at`, which the member stamps
        /// just before it delivers a document whose state, generation or share changed (a
        /// renewal keeps it). A test process starved of CPU may read a stream or a file late;
        /// the overlap checker places documents where their members made them, so that the lag
        /// does not count as a member holding its old share longer. `at` for synthetic ones.
        public var madeAt: ContinuousClock.Instant

        public init(member: String, at: ContinuousClock.Instant, wall: Date, document: MemberDocument, source: String = "test") {
            self.member = member
            self.at = at
            self.madeAt = at
            self.wall = wall
            self.document = document
            self.source = source
        }

        /// The end of the document's lease on the monotonic clock, or `nil` if it has none.
        public var leaseEnd: ContinuousClock.Instant? {
            guard let validUntil = document.validUntil else { return nil }
            return at + .milliseconds(Int64((validUntil.timeIntervalSince(wall) * 1000).rounded(.down)))
        }
    }

    public let started = ContinuousClock.now
    /// The wall clock at `started`: documents' `updated_at` onto the monotonic clock, all by
    /// the same offset (so that documents made in the same millisecond tie exactly).
    private let startedWall = Date.now
    private let state = Mutex(State())
    private let pollInterval: Duration

    private struct State {
        var files: [(member: String, path: String, seen: FileIdentity?)] = []
        var observations: [Observation] = []
        var seen: [String: Set<MemberDocument>] = [:]
        var watchers: [String: ChildProcess] = [:]
        var stopped = false
    }

    private struct FileIdentity: Equatable {
        var inode: UInt
        var seconds: Int
        var nanoseconds: Int
        var size: Int
    }

    /// Starts polling (nothing yet: add files with `follow(file:member:)`).
    public init(pollInterval: Duration = .milliseconds(3)) {
        self.pollInterval = pollInterval
        Thread { [self] in pollLoop() }.start()
    }

    /// A document seen at `at` (wall clock `wall`), placed where its member made it: at
    /// `updated_at` plus its rounding (a millisecond), never after `at`, at most 10 s before.
    private func sighting(
        member: String, at: ContinuousClock.Instant, wall: Date, document: MemberDocument, source: String
    ) -> Observation {
        var observation = Observation(member: member, at: at, wall: wall, document: document, source: source)
        let sinceStart = document.updatedAt.timeIntervalSince(startedWall) + 0.001
        let made = started + .microseconds(Int64((sinceStart * 1_000_000).rounded(.down)))
        observation.madeAt = min(at, max(made, at - .seconds(10)))
        return observation
    }

    /// Polls `path`, a member's state file.
    public func follow(file path: String, member: String) {
        state.withLock { $0.files.append((member, path, nil)) }
    }

    /// Polls the state file of `daemon` and follows its socket's `watch` stream.
    public func follow(_ daemon: DaemonProcess, watch: Bool = true) {
        follow(file: daemon.stateFile, member: daemon.member)
        if watch { followWatch(socket: daemon.socket, member: daemon.member) }
    }

    /// Runs `allocatorctl --socket SOCKET watch` and records its documents; starts it again
    /// whenever it ends (the daemon restarted), until `stop()`.
    public func followWatch(socket: String, member: String) {
        Thread { [self] in
            while !state.withLock({ $0.stopped }) {
                runWatch(socket: socket, member: member)
                usleep(100_000)
            }
        }.start()
    }

    /// Records a document of `member` seen now by the test itself (a stopped daemon's last file,
    /// which the poller may not have caught on a starved machine), placed where it was made.
    public func recordSeen(member: String, document: MemberDocument, source: String = "file") {
        record(sighting(member: member, at: .now, wall: Date(), document: document, source: source))
    }

    /// Records a document seen elsewhere (and the unit tests' synthetic ones).
    public func record(_ observation: Observation) {
        state.withLock { state in
            guard state.seen[observation.member, default: []].insert(observation.document).inserted else { return }
            state.observations.append(observation)
        }
    }

    /// Every observation so far, in the order seen.
    public var observations: [Observation] { state.withLock { $0.observations } }

    /// The observations of `member`, in the order seen.
    public func documents(of member: String) -> [Observation] {
        observations.filter { $0.member == member }
    }

    /// Stops polling and every watch stream.
    public func stop() {
        let watchers = state.withLock { state in
            state.stopped = true
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.signal(SIGTERM) }
    }

    deinit { stop() }

    /// Checks every observation so far (see `OverlapChecker`).
    public func check(
        allowance: Duration = OverlapChecker.defaultAllowance,
        handoverAllowance: Duration = OverlapChecker.defaultHandoverAllowance, settledAt: ContinuousClock.Instant? = nil,
        expected: Set<String>? = nil
    ) -> OverlapChecker.Report {
        let settled = settledAt ?? ContinuousClock.now
        let end = max(ContinuousClock.now, settled + .milliseconds(1))
        return OverlapChecker(observations: observations, end: end, allowance: allowance, handoverAllowance: handoverAllowance)
            .check(settledAt: settledAt, expected: expected)
    }

    private func pollLoop() {
        while !state.withLock({ $0.stopped }) {
            let files = state.withLock { $0.files }
            for (index, file) in files.enumerated() {
                var info = stat()
                guard stat(file.path, &info) == 0 else { continue }
                let identity = FileIdentity(
                    inode: UInt(info.st_ino), seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec,
                    size: Int(info.st_size))
                guard identity != file.seen else { continue }
                let at = ContinuousClock.now, wall = Date.now
                guard let data = FileManager.default.contents(atPath: file.path),
                      let document = try? MemberDocument(json: data) else { continue }
                state.withLock { $0.files[index].seen = identity }
                record(sighting(member: file.member, at: at, wall: wall, document: document, source: "file"))
            }
            let (seconds, attoseconds) = pollInterval.components
            usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        }
    }

    private func runWatch(socket: String, member: String) {
        let watcher: ChildProcess? = state.withLock { state in
            guard !state.stopped else { return nil }
            let watcher = try? ChildProcess(
                productsDirectory.appendingPathComponent("allocatorctl").path, ["--socket", socket, "watch"],
                output: .lines { [self] line in
                    let at = ContinuousClock.now, wall = Date.now
                    if let document = try? MemberDocument(json: line) {
                        record(sighting(member: member, at: at, wall: wall, document: document, source: "watch"))
                    }
                },
                errors: .discard)
            state.watchers[socket] = watcher
            return watcher
        }
        watcher?.waitUntilExit()
    }
}

/// The overlap checker: from observed documents, when each member held each partition, and
/// whether two members ever held one at the same time, or a partition had no holder once the
/// group settled.
///
/// A member holds partition P from the moment a document of it that is `active` or `suspended`
/// with P in its share is seen, until the next document of that member is seen or the lease
/// (`valid_until`) runs out, whichever is first: a reader must treat a share whose lease has
/// passed as empty (spec §8). Two members' holdings may overlap by `allowance`: members learn of
/// a change through their own watches, so in a rebalance the old holder drops a partition and
/// the new one takes it independently; the allowance is the propagation of one watch plus the
/// observer's polling (default 50 ms, see docs/faults.md).
public struct OverlapChecker: Sendable {
    public static let defaultAllowance = Duration.milliseconds(50)
    public static let defaultHandoverAllowance = Duration.milliseconds(250)

    /// One member's holding of one partition.
    public struct Holding: Sendable, CustomStringConvertible {
        public var member: String
        public var partition: String
        public var start: ContinuousClock.Instant
        public var end: ContinuousClock.Instant
        public var generation: Int64
        public var state: MemberState
        /// The members of the view the share was computed for.
        public var members: [String]
        /// Whether the member did not end the holding itself: its lease ran out before it
        /// published anything new (it was dead, paused or cut off), or it never published again.
        public var endedByLease: Bool
        public var description: String { "\(member) held \(partition) (gen \(generation), \(state))" }
    }

    /// Two members holding one partition at once for longer than the allowance.
    public struct Overlap: Sendable, CustomStringConvertible {
        public var partition: String
        public var first: Holding
        public var second: Holding
        public var duration: Duration
        public var origin: ContinuousClock.Instant
        /// The holder with the newer view was given the partition in a rebalance whose view
        /// still had the older holder as a member (its session was alive): a handover, not a
        /// lease broken by a session's end.
        public var isHandover: Bool { newer.generation > older.generation && newer.members.contains(older.member) }
        /// A handover from a holder that never published again before its lease ran out (it was
        /// dead, paused or cut off, with its session still alive): see docs/faults.md, F1.
        public var isUnreactiveHandover: Bool { isHandover && older.endedByLease }
        /// The holding computed from the older view, and the one from the newer.
        public var older: Holding { first.generation <= second.generation ? first : second }
        public var newer: Holding { first.generation <= second.generation ? second : first }
        public var description: String {
            let from = max(first.start, second.start)
            let kind = isUnreactiveHandover ? "handover from an unreactive member" : isHandover ? "slow handover" : "lease broken"
            return "\(partition): \(first) and \(second) at once for \(duration.milliseconds) ms, "
                + "from +\((from - origin).milliseconds) ms (\(kind))"
        }
    }

    public struct Report: Sendable, CustomStringConvertible {
        /// Every overlap beyond its allowance.
        public var overlaps: [Overlap]
        /// Overlaps that are neither handovers from unreactive members (the known finding F1)
        /// nor anything else explained: these always fail a schedule.
        public var unexplained: [Overlap] { overlaps.filter { !$0.isUnreactiveHandover } }
        /// Handovers from a member that could not react (F1).
        public var unreactiveHandovers: [Overlap] { overlaps.filter(\.isUnreactiveHandover) }
        /// Partitions expected but held by no member at the settled instant.
        public var unowned: [String]
        /// Partitions held by more than one member at the settled instant.
        public var shared: [String]
        /// Partitions held at the settled instant that were not expected.
        public var unexpected: [String]
        public var observationCount: Int
        public var ok: Bool { overlaps.isEmpty && unowned.isEmpty && shared.isEmpty && unexpected.isEmpty }
        /// The longest overlap within the allowance (how close it came).
        public var longestTolerated: Duration
        public var description: String {
            if ok { return "no overlap, nothing unowned (\(observationCount) documents)" }
            var lines: [String] = []
            lines += overlaps.prefix(10).map { "overlap: \($0)" }
            if overlaps.count > 10 { lines.append("... \(overlaps.count - 10) more overlaps") }
            if !unowned.isEmpty { lines.append("unowned after settling: \(unowned.sorted().joined(separator: ", "))") }
            if !shared.isEmpty { lines.append("held twice after settling: \(shared.sorted().joined(separator: ", "))") }
            if !unexpected.isEmpty { lines.append("held but not in the set: \(unexpected.sorted().joined(separator: ", "))") }
            return lines.joined(separator: "\n")
        }
    }

    public let holdings: [Holding]
    public let allowance: Duration
    public let handoverAllowance: Duration
    public let origin: ContinuousClock.Instant
    public let observationCount: Int

    /// Builds the holdings from `observations` (of any members, in any order); a member's last
    /// document is taken to stand until `end` (or its lease).
    public init(
        observations: [Observer.Observation], end: ContinuousClock.Instant, allowance: Duration = defaultAllowance,
        handoverAllowance: Duration = defaultHandoverAllowance
    ) {
        self.allowance = allowance
        self.handoverAllowance = handoverAllowance
        self.observationCount = observations.count
        origin = observations.map(\.madeAt).min() ?? end
        var holdings: [Holding] = []
        for (member, seen) in Dictionary(grouping: observations, by: \.member) {
            // Each document where its member made it. Documents made in the same millisecond:
            // the older generation first; renewals (a renewal keeps its document's `updated_at`)
            // by their leases; `stopped` last; else in the order seen.
            let ordered = seen.enumerated().sorted { first, second in
                let (a, b) = (first.element.document, second.element.document)
                if first.element.madeAt != second.element.madeAt { return first.element.madeAt < second.element.madeAt }
                if a.generation != b.generation { return a.generation < b.generation }
                if !a.differsInSubstance(from: b) {
                    return (a.validUntil ?? .distantPast, first.offset) < (b.validUntil ?? .distantPast, second.offset)
                }
                if (a.state == .stopped) != (b.state == .stopped) { return b.state == .stopped }
                return first.offset < second.offset
            }.map(\.element)
            for (index, observation) in ordered.enumerated() {
                let document = observation.document
                guard document.state == .active || document.state == .suspended, let leaseEnd = observation.leaseEnd else { continue }
                let next = index + 1 < ordered.count ? ordered[index + 1].madeAt : end
                let until = min(next, leaseEnd)
                guard until > observation.madeAt else { continue }
                // The member did not drop the share itself: its lease ran out first, or it never
                // published again while observed.
                let endedByLease = leaseEnd < next || index + 1 == ordered.count
                for (topic, ids) in document.allocation {
                    for id in ids {
                        holdings.append(Holding(
                            member: member, partition: "\(topic):\(id)", start: observation.madeAt, end: until,
                            generation: document.generation, state: document.state, members: document.members,
                            endedByLease: endedByLease))
                    }
                }
            }
        }
        self.holdings = holdings
    }

    /// The members holding each partition at `instant`.
    public func holders(at instant: ContinuousClock.Instant) -> [String: Set<String>] {
        var holders: [String: Set<String>] = [:]
        for holding in holdings where holding.start <= instant && instant < holding.end {
            holders[holding.partition, default: []].insert(holding.member)
        }
        return holders
    }

    /// Overlaps beyond the allowance; and, if `settledAt` is given, the partitions of
    /// `expected` (default: every partition ever held) that nobody or more than one member
    /// held at that instant.
    public func check(settledAt: ContinuousClock.Instant? = nil, expected: Set<String>? = nil) -> Report {
        var overlaps: [Overlap] = []
        var longestTolerated = Duration.zero
        for (partition, held) in Dictionary(grouping: holdings, by: \.partition) {
            let ordered = held.sorted { $0.start < $1.start }
            for (index, first) in ordered.enumerated() {
                for second in ordered[(index + 1)...] {
                    if second.start >= first.end { break }
                    guard second.member != first.member else { continue }
                    let duration = min(first.end, second.end) - second.start
                    let overlap = Overlap(partition: partition, first: first, second: second, duration: duration, origin: origin)
                    let limit = overlap.isHandover && !overlap.isUnreactiveHandover ? handoverAllowance : allowance
                    if duration > limit {
                        overlaps.append(overlap)
                    } else {
                        longestTolerated = max(longestTolerated, duration)
                    }
                }
            }
        }
        overlaps.sort { max($0.first.start, $0.second.start) < max($1.first.start, $1.second.start) }
        var unowned: [String] = [], shared: [String] = [], unexpected: [String] = []
        if let settledAt {
            let holders = holders(at: settledAt)
            let expected = expected ?? Set(holdings.map(\.partition))
            unowned = expected.filter { holders[$0, default: []].isEmpty }.sorted()
            shared = holders.filter { $0.value.count > 1 }.map(\.key).sorted()
            unexpected = holders.keys.filter { !expected.contains($0) }.sorted()
        }
        return Report(
            overlaps: overlaps, unowned: unowned, shared: shared, unexpected: unexpected,
            observationCount: observationCount, longestTolerated: longestTolerated)
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
