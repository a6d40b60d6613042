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
        /// When the observer saw it (once it had read it), on the monotonic clock.
        public var at: ContinuousClock.Instant
        /// The wall-clock time at the same moment.
        public var wall: Date
        public var document: MemberDocument
        public var source: String
        /// Where the member made it, on the monotonic clock: its `updated_at` (stamped by the
        /// member just before it delivers a document whose state, generation, `allocation` or
        /// `revoking` changed; a renewal keeps it) plus the millisecond the stamp is rounded
        /// down by, never later than `at`. A document made at instant t is so placed in
        /// (t, t + 1 ms): see `OverlapChecker.resolution`. A test process starved of CPU may
        /// read a stream or a file late; placed where its member made it, the lag does not count
        /// as the member holding its old share longer. `at` for synthetic ones.
        public var madeAt: ContinuousClock.Instant
        /// The end of its lease (`valid_until`) on the monotonic clock, or `nil` if it has none:
        /// the stamp itself (what readers honour), placed by the same offset as every stamp (for
        /// a synthetic one, `at` plus `valid_until` less `wall`).
        public var leaseEnd: ContinuousClock.Instant?

        public init(member: String, at: ContinuousClock.Instant, wall: Date, document: MemberDocument, source: String = "test") {
            self.member = member
            self.at = at
            self.madeAt = at
            self.wall = wall
            self.document = document
            self.source = source
            leaseEnd = document.validUntil.map { at + .microseconds(Int64(($0.timeIntervalSince(wall) * 1_000_000).rounded())) }
        }
    }

    /// The monotonic instant at which the wall clock read `startedWallMicroseconds`: every
    /// daemon's stamp goes onto the monotonic clock by this one offset, so that stamps compare
    /// exactly as the daemons wrote them (documents made in the same millisecond tie).
    public let started: ContinuousClock.Instant
    /// The wall clock at `started`, in microseconds since 1970.
    private let startedWallMicroseconds: Int64
    private let state = Mutex(State())
    private let pollInterval: Duration

    private struct State {
        var files: [(member: String, path: String, seen: FileIdentity?)] = []
        var observations: [Observation] = []
        var seen: [String: Set<MemberDocument>] = [:]
        var watchers: [String: ChildProcess] = [:]
        var processStarts: [String: [ContinuousClock.Instant]] = [:]
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
        // The two clocks read as close together as a few tries get them: a test process
        // preempted between the two reads would shift every stamp against `at`.
        var best: (spread: Duration, instant: ContinuousClock.Instant, wall: Date)?
        for _ in 0..<8 {
            let before = ContinuousClock.now
            let wall = Date.now
            let after = ContinuousClock.now
            if best.map({ after - before < $0.spread }) ?? true { best = (after - before, before + (after - before) / 2, wall) }
        }
        started = best!.instant
        startedWallMicroseconds = Int64((best!.wall.timeIntervalSince1970 * 1_000_000).rounded())
        Thread { [self] in pollLoop() }.start()
    }

    /// A daemon's stamp (`updated_at`, `valid_until`: whole milliseconds, as
    /// `MemberDocument.timestamp` writes them) on the monotonic clock.
    public func place(stamp: Date) -> ContinuousClock.Instant {
        let milliseconds = Int64((stamp.timeIntervalSince1970 * 1000).rounded())
        return started + .microseconds(milliseconds * 1000 - startedWallMicroseconds)
    }

    /// A document seen at `at` (wall clock `wall`), placed where its member made it: at
    /// `updated_at` plus its rounding (a millisecond), never after `at`; its lease ends at its
    /// `valid_until`.
    private func sighting(
        member: String, at: ContinuousClock.Instant, wall: Date, document: MemberDocument, source: String
    ) -> Observation {
        var observation = Observation(member: member, at: at, wall: wall, document: document, source: source)
        observation.madeAt = min(at, place(stamp: document.updatedAt) + OverlapChecker.resolution)
        observation.leaseEnd = document.validUntil.map(place(stamp:))
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

    /// Notes that a new process of `member` is about to start: documents made from now on are
    /// its, and they do not end what an earlier process published under its lease (see
    /// `OverlapChecker`). Call it before starting the process, once its predecessor has ended.
    public func processStarting(member: String) {
        state.withLock { $0.processStarts[member, default: []].append(.now) }
    }

    /// When each member's processes started (`processStarting(member:)`).
    public var processStarts: [String: [ContinuousClock.Instant]] { state.withLock { $0.processStarts } }

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
    public func check(settledAt: ContinuousClock.Instant? = nil, expected: Set<String>? = nil) -> OverlapChecker.Report {
        let settled = settledAt ?? ContinuousClock.now
        let end = max(ContinuousClock.now, settled + .milliseconds(1))
        return OverlapChecker(observations: observations, end: end, processStarts: processStarts)
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
                guard let data = FileManager.default.contents(atPath: file.path),
                      let document = try? MemberDocument(json: data) else { continue }
                // Seen once read: the file may have been replaced since `stat`, by a document
                // made after it (a sighting must never precede the making).
                let at = ContinuousClock.now, wall = Date.now
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
/// A member holds partition P from the moment it made a document that is `active` or
/// `suspended` with P in `allocation` or in `revoking` (spec §15: a reader treats revoking
/// partitions as still the member's, under the same lease), until it made its next document
/// without P or the lease (`valid_until`) runs out, whichever is first: a reader must treat a
/// share whose lease has passed as empty (spec §8). A member's documents are taken in the order
/// of their stamps (`updated_at`; a document and its renewals, which keep its stamp, are one).
///
/// A restarted daemon is a new process of the same member: its documents do not end what an
/// earlier process published (a reader that read the old document still holds it to its lease,
/// and the spec promises that nobody else is given those partitions before `valid_until`), so
/// an earlier process's last document holds until its lease runs out.
///
/// Protocol 2 (spec §14) leaves no room for two holders: the old holder publishes its shrunken
/// share before it acknowledges, the leader grants the partition after that acknowledgement or
/// after the old holder's session ended (which is after its lease), and the new holder
/// publishes only once it has read that grant. So every overlap longer than `resolution` is a
/// violation, whatever the kind.
public struct OverlapChecker: Sendable {
    /// The only overlap tolerated: the resolution of the daemons' stamps. `updated_at` and
    /// `valid_until` are written in whole milliseconds, rounded down
    /// (`MemberDocument.timestamp`). The observer places a document made at instant t at its
    /// stamp plus 1 ms, or when it saw it if that is earlier, so in (t, t + 1 ms); a lease ends
    /// at its stamp, no later than the real one. The old holder's document that drops P is made
    /// before the new holder's that takes it, so in a correct run their placed holdings overlap
    /// by less than 1 ms.
    public static let resolution = Duration.milliseconds(1)

    /// One member's uninterrupted holding of one partition, over one or more documents.
    public struct Holding: Sendable, CustomStringConvertible {
        public var member: String
        public var partition: String
        public var start: ContinuousClock.Instant
        public var end: ContinuousClock.Instant
        /// The generation of the document that began the holding (the view the partition was
        /// given in), and of the last one that held it.
        public var generation: Int64
        public var lastGeneration: Int64
        /// The state of the document that began it.
        public var state: MemberState
        /// The members of the view the holding began in.
        public var members: [String]
        /// Whether the last document that held it listed it under `revoking`.
        public var revoking: Bool
        /// Whether the member did not end the holding itself: its lease ran out before it
        /// published anything new (it was dead, paused or cut off), or that process never
        /// published again while observed.
        public var endedByLease: Bool
        /// The generation of the document seen next without it, if the member dropped it itself.
        public var endGeneration: Int64?
        /// Which of the member's processes held it: how many starts of the member were noted
        /// (`Observer.processStarting(member:)`) before the holding began.
        public var process: Int
        public var description: String {
            let generations = lastGeneration == generation ? "gen \(generation)" : "gen \(generation)–\(lastGeneration)"
            return "\(member) held \(partition) (\(generations), \(state)\(revoking ? ", revoking" : ""))"
        }
    }

    /// Two members holding one partition at once for longer than `resolution`.
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
        public var kind: String {
            if first.generation == second.generation { return "two holders in one generation" }
            if isUnreactiveHandover { return "handover from an unreactive member" }
            if isHandover { return "handover before the old holder published its release" }
            return "lease broken"
        }
        public var description: String {
            let from = max(first.start, second.start)
            func span(_ holding: Holding) -> String {
                "+\((holding.start - origin).milliseconds)…+\((holding.end - origin).milliseconds) ms"
                    + (holding.endedByLease ? " (its lease)" : "")
            }
            return "\(partition): \(first) [\(span(first))] and \(second) [\(span(second))] at once for "
                + "\(duration.milliseconds) ms, from +\((from - origin).milliseconds) ms (\(kind))"
        }
    }

    public struct Report: Sendable, CustomStringConvertible {
        /// Every overlap beyond `resolution`: each one a violation.
        public var overlaps: [Overlap]
        /// Overlaps that are not handovers from unreactive members (finding F1, reported
        /// apart because it once had a class of its own).
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
        /// The longest overlap within `resolution` (how close it came).
        public var longestTolerated: Duration
        /// Apparent overlaps where the old holder's release was not observed: the document it
        /// dropped the partition in was missed (a `watch` client that falls behind gets only the
        /// latest document, spec §9; the file is replaced), and its next document seen is
        /// already of the new holder's generation or later. Under protocol 2 that release
        /// (a document of an older generation than the grant's) came before the grant, so
        /// nothing can be said against it.
        public var unobservedReleases: Int
        /// The shortest time between one holder's end and the next holder's start of a
        /// partition (how close a correct handover came), with its description: where the old
        /// holder published its release, and where its lease ran out.
        public var closestRelease: (gap: Duration, description: String)?
        public var closestAfterLease: (gap: Duration, description: String)?
        /// How many holdings there were, and how many of them ended under `revoking`.
        public var holdingCount: Int
        public var revokingCount: Int
        /// One line: documents, holdings, the longest tolerated overlap, the closest handover.
        public var summary: String {
            "\(observationCount) documents, \(holdingCount) holdings (\(revokingCount) ending under revoking), "
                + (unobservedReleases > 0 ? "\(unobservedReleases) releases not observed, " : "")
                + "longest tolerated overlap \(longestTolerated); "
                + (closestRelease.map { "closest handover after a release \($0.gap.milliseconds) ms: \($0.description)" } ?? "no handover after a release")
                + "; " + (closestAfterLease.map { "closest after a lease \($0.gap.milliseconds) ms: \($0.description)" } ?? "none after a lease")
        }
        public var description: String {
            if ok { return "no overlap, nothing unowned (\(observationCount) documents)" }
            var lines: [String] = []
            lines += overlaps.prefix(10).map { "overlap: \($0)" }
            if overlaps.count > 10 { lines.append("... \(overlaps.count - 10) more overlaps") }
            if !unowned.isEmpty { lines.append("unowned after settling: \(unowned.prefix(50).joined(separator: ", "))") }
            if !shared.isEmpty { lines.append("held twice after settling: \(shared.prefix(50).joined(separator: ", "))") }
            if !unexpected.isEmpty { lines.append("held but not in the set: \(unexpected.prefix(50).joined(separator: ", "))") }
            return lines.joined(separator: "\n")
        }
    }

    public let holdings: [Holding]
    public let origin: ContinuousClock.Instant
    public let observationCount: Int

    /// A partition as a key (cheaper than its name, made only when a holding begins).
    private struct Key: Hashable {
        var topic: String
        var id: Int
        var name: String { "\(topic):\(id)" }
    }

    /// A document and its renewals (they differ only in their leases, and keep its stamp).
    private struct Version {
        var document: MemberDocument
        var madeAt: ContinuousClock.Instant
        var leaseEnd: ContinuousClock.Instant?
    }

    /// Builds the holdings from `observations` (of any members, in any order); a process's last
    /// document is taken to stand until `end` (or its lease). `processStarts`: when each
    /// member's processes started (`Observer.processStarting(member:)`); none means one process.
    public init(
        observations: [Observer.Observation], end: ContinuousClock.Instant,
        processStarts: [String: [ContinuousClock.Instant]] = [:]
    ) {
        self.observationCount = observations.count
        origin = observations.map(\.madeAt).min() ?? end
        var holdings: [Holding] = []
        for (member, seen) in Dictionary(grouping: observations, by: \.member) {
            let versions = Self.versions(seen)
            let starts = (processStarts[member] ?? []).sorted()
            let process = versions.map { version in starts.filter { $0 < version.madeAt }.count }
            var index = 0
            while index < versions.count {
                var last = index
                while last + 1 < versions.count && process[last + 1] == process[index] { last += 1 }
                Self.hold(member: member, versions[index...last], process: process[index], end: end, into: &holdings)
                index = last + 1
            }
        }
        self.holdings = holdings
    }

    /// A member's documents in the order it made them (by their stamps, `updated_at`; for
    /// documents stamped in the same millisecond: the older generation first, renewals by their
    /// leases, `stopped` last, else in the order seen), a document and its renewals as one
    /// version, each placed no later than the next (a document made before another was made
    /// before that one was seen).
    private static func versions(_ seen: [Observer.Observation]) -> [Version] {
        let ordered = seen.enumerated().sorted { first, second in
            let (a, b) = (first.element.document, second.element.document)
            if a.updatedAt != b.updatedAt { return a.updatedAt < b.updatedAt }
            if a.generation != b.generation { return a.generation < b.generation }
            if !a.differsInSubstance(from: b) {
                return (a.validUntil ?? .distantPast, first.offset) < (b.validUntil ?? .distantPast, second.offset)
            }
            if (a.state == .stopped) != (b.state == .stopped) { return b.state == .stopped }
            return first.offset < second.offset
        }.map(\.element)
        var versions: [Version] = []
        for observation in ordered {
            if var last = versions.last, !last.document.differsInSubstance(from: observation.document),
               last.document.updatedAt == observation.document.updatedAt {
                last.madeAt = min(last.madeAt, observation.madeAt)
                if let lease = observation.leaseEnd { last.leaseEnd = max(last.leaseEnd ?? lease, lease) }
                versions[versions.count - 1] = last
            } else {
                versions.append(Version(document: observation.document, madeAt: observation.madeAt, leaseEnd: observation.leaseEnd))
            }
        }
        for index in versions.indices.dropLast().reversed() {
            versions[index].madeAt = min(versions[index].madeAt, versions[index + 1].madeAt)
        }
        return versions
    }

    /// The holdings of one process of `member` from its versions, in order.
    private static func hold(
        member: String, _ versions: ArraySlice<Version>, process: Int, end: ContinuousClock.Instant, into holdings: inout [Holding]
    ) {
        var open: [Key: Holding] = [:]
        for index in versions.indices {
            let version = versions[index]
            let document = version.document
            let start = version.madeAt
            let next = index + 1 < versions.endIndex ? versions[index + 1].madeAt : end
            let until = version.leaseEnd.map { min(next, $0) } ?? next
            // The member did not drop the share itself: its lease ran out first, or this
            // process never published again while observed.
            let endedByLease = (version.leaseEnd.map { $0 < next } ?? false) || index + 1 == versions.endIndex
            var held: [Key: Bool] = [:]
            if document.state == .active || document.state == .suspended, until > start {
                for (topic, ids) in document.allocation { for id in ids { held[Key(topic: topic, id: id)] = false } }
                for (topic, ids) in document.revoking { for id in ids { held[Key(topic: topic, id: id)] = true } }
            }
            // Holdings this version does not continue: dropped, or their lease ran out before it.
            for (key, var holding) in open where held[key] == nil || holding.end < start {
                if held[key] == nil, holding.end >= start { holding.endGeneration = document.generation }
                holdings.append(holding)
                open[key] = nil
            }
            for (key, revoking) in held {
                if var holding = open[key] {
                    holding.end = until
                    holding.lastGeneration = document.generation
                    holding.revoking = revoking
                    holding.endedByLease = endedByLease
                    open[key] = holding
                } else {
                    open[key] = Holding(
                        member: member, partition: key.name, start: start, end: until, generation: document.generation,
                        lastGeneration: document.generation, state: document.state, members: document.members,
                        revoking: revoking, endedByLease: endedByLease, endGeneration: nil, process: process)
                }
            }
        }
        holdings += open.values
    }

    /// The members holding each partition at `instant`.
    public func holders(at instant: ContinuousClock.Instant) -> [String: Set<String>] {
        var holders: [String: Set<String>] = [:]
        for holding in holdings where holding.start <= instant && instant < holding.end {
            holders[holding.partition, default: []].insert(holding.member)
        }
        return holders
    }

    /// Overlaps beyond `resolution`; and, if `settledAt` is given, the partitions of `expected`
    /// (default: every partition ever held) that nobody or more than one member held at that
    /// instant.
    public func check(settledAt: ContinuousClock.Instant? = nil, expected: Set<String>? = nil) -> Report {
        var overlaps: [Overlap] = []
        var unobservedReleases = 0
        var longestTolerated = Duration.zero
        var closest: [Bool: (gap: Duration, first: Holding, second: Holding)] = [:]
        for (partition, held) in Dictionary(grouping: holdings, by: \.partition) {
            let ordered = held.sorted { $0.start < $1.start }
            for (index, first) in ordered.enumerated() {
                if let next = ordered[(index + 1)...].first(where: { $0.member != first.member }), next.start >= first.end,
                   closest[first.endedByLease].map({ next.start - first.end < $0.gap }) ?? true {
                    closest[first.endedByLease] = (next.start - first.end, first, next)
                }
                for second in ordered[(index + 1)...] {
                    if second.start >= first.end { break }
                    guard second.member != first.member else { continue }
                    let duration = min(first.end, second.end) - second.start
                    let (older, newer) = first.generation <= second.generation ? (first, second) : (second, first)
                    if duration > Self.resolution, older.generation < newer.generation,
                       let dropped = older.endGeneration, dropped >= newer.generation {
                        // The old holder's next document seen is of the new holder's generation
                        // or later: the one it dropped the partition in (of an older generation,
                        // made before it acknowledged, so before the grant) was not seen.
                        unobservedReleases += 1
                    } else if duration > Self.resolution {
                        overlaps.append(Overlap(partition: partition, first: first, second: second, duration: duration, origin: origin))
                    } else {
                        longestTolerated = max(longestTolerated, duration)
                    }
                }
            }
        }
        overlaps.sort { max($0.first.start, $0.second.start) < max($1.first.start, $1.second.start) }
        func describe(_ closest: (gap: Duration, first: Holding, second: Holding)) -> (gap: Duration, description: String) {
            (closest.gap, "\(closest.first) until +\((closest.first.end - origin).milliseconds) ms, "
                + "\(closest.second) from +\((closest.second.start - origin).milliseconds) ms")
        }
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
            observationCount: observationCount, longestTolerated: longestTolerated, unobservedReleases: unobservedReleases,
            closestRelease: closest[false].map(describe), closestAfterLease: closest[true].map(describe),
            holdingCount: holdings.count, revokingCount: holdings.filter(\.revoking).count)
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
