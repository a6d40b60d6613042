import Allocation
import ControlProtocol
import Coordination
import CoreMetrics
import Foundation
import Logging
import Recipes
import ZooKeeper

/// One member of a group under protocol 2 (spec §14): the thin actor that feeds ZooKeeper,
/// clocks and deliveries to the follower's and the leader's state machines
/// (`FollowerMachine`, `LeaderMachine`) and carries out what they ask.
///
/// The story of a session: connect, prepare the group (`GroupSetup`: paths, settings, seed),
/// tell the follower the session started; it asks to join (a contender node in the leader
/// lock, then the member node), then to read and watch its grant and the group's summary. The
/// contender that is lowest in the lock leads: its leader machine reads the group and writes
/// grants. Every request's result comes back to the machines in the order the requests were
/// made (ZooKeeper answers in that order; tasks could reorder them). When the session expires,
/// a new one starts. `stop()` publishes `stopped`, and once that is delivered closes the
/// session, which removes the member's nodes at once.
public actor Member {
    /// Every document this member publishes, in order. Ends after `stopped`.
    public nonisolated let documents: AsyncStream<MemberDocument>
    let documentSink: AsyncStream<MemberDocument>.Continuation

    public nonisolated let configuration: MemberConfiguration
    let logger: Logger
    let startedAt = ContinuousClock.now
    let paths: GroupPaths

    var follower: FollowerMachine
    var leader: LeaderMachine
    var client: ZooKeeperClient?
    var connection = SessionState.connecting
    var inputs: AsyncStream<Input>.Continuation?
    /// Every task of the session but the timers; cancelled when it ends.
    var tasks: SessionTasks?
    var timer: Task<Void, Never>?
    var election = ElectionMachine()
    /// The member node's version as last seen, so an acknowledgement is one conditional write.
    var memberNodeVersion: Int32 = 0
    var heard: ContinuousClock.Instant?
    var stopping = false
    /// `stop()` waiting for the session to end: resumed by `endSession()`, or by the deadline
    /// `waitUntilSessionEnds` set, whichever comes first.
    var sessionEndWaiter: CheckedContinuation<Void, Never>?
    var seeded = false
    var strategy: Strategy?
    /// What made membership impossible; `run()` throws it.
    var membershipError: (any Error)?
    var requests = RequestOrder()
    var allocatorRetry = Duration.zero
    var joinRetry = Duration.zero
    /// Whether the member node was made in this session (a join after that is a re-join).
    var joinedInSession = false
    var leaderRetryPending = false
    /// Changes held back for the quiet time of `--rebalance-delay` (spec §12), on the leader.
    var debounce: (first: ContinuousClock.Instant, timer: Task<Void, Never>, events: [LeaderMachine.Event])?

    // What `status` and the commands report.
    var grantCount = 0
    /// Since when each member the published summary names as awaited has been awaited.
    var awaitedSince: [String: ContinuousClock.Instant] = [:]
    var published: MemberDocument?
    var lastRebalance: (at: Date, duration: Duration)?
    var changeNoticed: ContinuousClock.Instant?
    var lastError: String?
    /// Releases the release timeout forced (consumer handover).
    var forcedReleases = 0

    // Deliveries (see `reportsDeliveries`).
    var reportingDeliveries = false
    var yielded = 0

    enum Input: Sendable {
        case follower(FollowerMachine.Event)
        case leader(LeaderMachine.Event)
        case election(ElectionMachine.Event)
        /// A request's results, released in the order the requests were made.
        case completed(Int, [Input])
        /// Membership is impossible (the name is held by another session).
        case failed(any Error)
        case sessionEnded
    }

    public init(configuration: MemberConfiguration, logger: Logger) {
        self.configuration = configuration
        self.strategy = configuration.strategy
        var logger = logger
        logger[metadataKey: "group"] = "\(configuration.layout.group)"
        logger[metadataKey: "member"] = "\(configuration.member)"
        self.logger = logger
        paths = GroupPaths(group: configuration.layout.groupPath)
        follower = FollowerMachine(member: configuration.member, weight: configuration.weight, handover: configuration.handover)
        leader = LeaderMachine(
            member: configuration.member, configuredStrategy: configuration.strategy,
            sessionTimeout: configuration.zooKeeper.sessionTimeout)
        (documents, documentSink) = AsyncStream.makeStream(of: MemberDocument.self)
    }

    // MARK: Running

    /// Runs the member until `stop()`, starting a new session whenever one expires.
    /// - Throws: what makes membership impossible: the name is held by another live session
    ///   (`PartyError`), the group's settings do not fit this member (`GroupSettingsMismatch`,
    ///   `UnconfiguredExecStrategy`) or do not parse, the credential was refused. `stopped` is
    ///   published first.
    public func run() async throws {
        perform(follower.handle(.tick, now: .now))
        do {
            try await ensureChroot()
            while !stopping {
                let client = try await ZooKeeperClient.connect(configuration.zooKeeper, logger: logger)
                guard !stopping else {
                    await client.close()
                    break
                }
                let tasks = SessionTasks()
                do {
                    try await runSession(client, tasks)
                } catch let error as ZooKeeperError where !stopping && error.code == .sessionExpired {
                    logger.warning("session expired; starting a new one")
                } catch where stopping {
                    // stop() closed the session under us.
                }
                endSession()
                await client.close()
                await tasks.ended()
            }
        } catch where stopping {
            // stop() closed the chroot's client under ensureChroot().
        } catch {
            logger.error("cannot stay in the group: \(error)")
            stopping = true
            let tasks = self.tasks
            endSession()
            await client?.close()
            await tasks?.ended()
            perform(follower.handle(.stop, now: .now))
            documentSink.finish()
            throw error
        }
        if !follower.hasStopped { perform(follower.handle(.stop, now: .now)) }
        documentSink.finish()
    }

    /// Publishes `stopped`, then closes the session (the member's nodes go at once, so the
    /// others rebalance at once); `run()` then returns. With consumer handover the share is
    /// first published as `revoking` and the member waits for its consumer's release (or the
    /// release timeout). Without ZooKeeper, or if the delivery of `stopped` takes longer than a
    /// second (plus the release timeout), the session is closed anyway.
    public func stop() async {
        guard !stopping else { return }
        stopping = true
        logger.info("stopping")
        if let inputs {
            inputs.yield(.follower(.stop))
            // The follower leaves (closes the session) once `stopped` is delivered.
            var limit = ContinuousClock.now + .seconds(1)
            if case .consumer(let releaseTimeout) = configuration.handover { limit += releaseTimeout }
            await waitUntilSessionEnds(orAt: limit)
        }
        await client?.close()
    }

    /// Returns once the session has ended (`endSession()`), or at `deadline` if that comes first.
    /// Only `stop()` waits, once.
    func waitUntilSessionEnds(orAt deadline: ContinuousClock.Instant) async {
        guard inputs != nil else { return }
        // It reaches the actor only once the continuation below is stored.
        let deadlineTimer = Task { [weak self] in
            guard (try? await Task.sleep(until: deadline)) != nil else { return }
            await self?.resumeSessionEndWaiter()
        }
        await withCheckedContinuation { sessionEndWaiter = $0 }
        deadlineTimer.cancel()
    }

    func resumeSessionEndWaiter() {
        sessionEndWaiter?.resume()
        sessionEndWaiter = nil
    }

    /// The consumer has stopped working on everything revoked up to `epoch` (`release EPOCH`,
    /// spec §15): the member may acknowledge what it lost. Without consumer handover it does
    /// nothing.
    public func release(epoch: Int64) {
        follow(.released(epoch: epoch))
    }

    func runSession(_ client: ZooKeeperClient, _ tasks: SessionTasks) async throws {
        self.client = client
        self.tasks = tasks
        connection = .connecting
        let (stream, inputs) = AsyncStream.makeStream(of: Input.self)
        self.inputs = inputs
        requests = RequestOrder()
        joinedInSession = false
        spawn { member in
            for await state in client.sessionStates() { await member.sessionChanged(to: state) }
        }
        let session = try await client.waitUntilConnected()
        leader = LeaderMachine(member: configuration.member, configuredStrategy: configuration.strategy, sessionTimeout: session.timeout)
        logger.info("connected", metadata: [
            "session": "\(SessionID.format(session.id))", "timeout": "\(session.timeout)",
        ])
        strategy = try await GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
            .prepare(seeding: !seeded)
        seeded = true
        elect(.sessionStarted(session: session.id))
        follow(.sessionStarted(session: session.id, timeout: session.timeout))
        let fullRead = configuration.fullReadInterval
        spawn { member in
            while (try? await Task.sleep(for: fullRead)) != nil { await member.refresh() }
        }
        // The leader looks again at the members it awaits every half session timeout, should a
        // watch have been lost: an acknowledgement is never missed for long.
        let awaitedCheck = session.timeout / 2
        spawn { member in
            while (try? await Task.sleep(for: awaitedCheck)) != nil { await member.lookAgainAtAwaited() }
        }
        for await input in stream {
            switch input {
            case .sessionEnded:
                if let membershipError { throw membershipError }
                if case .expired = connection { throw ZooKeeperError(code: .sessionExpired, operation: "session", path: nil) }
                if case .authFailed = connection { throw ZooKeeperError(code: .authFailed, operation: "session", path: nil) }
                return
            case .failed(let error):
                membershipError = error
                throw error
            default:
                take(input)
            }
        }
    }

    /// The chroot of the connect string, created if missing (the C library does not).
    func ensureChroot() async throws {
        guard let chroot = configuration.zooKeeper.connectString.chroot else { return }
        var plain = configuration.zooKeeper
        plain.connectString = plain.connectString.withoutChroot
        let client = try await ZooKeeperClient.connect(plain, logger: logger)
        // Where stop() finds it, to close it (without ZooKeeper this waits for a connection).
        self.client = client
        defer { Task { await client.close() } }
        try await client.retrying {
            try await client.waitUntilConnected()
            try await client.ensurePath(chroot, acl: ACL.openUnsafe)  // shared, as ROOT is
        }
    }

    /// The periodic full read (`--full-read-interval`).
    func refresh() {
        follow(.refresh)
        lead(.refresh)
    }

    func endSession() {
        debounce?.timer.cancel()
        debounce = nil
        tasks?.cancel()
        tasks = nil
        timer?.cancel()
        timer = nil
        inputs?.finish()
        inputs = nil
        resumeSessionEndWaiter()
        follow(.sessionEnded)
        _ = leader.handle(.deposed)
        _ = election.handle(.sessionEnded)
    }

    func take(_ input: Input) {
        switch input {
        case .follower(let event): follow(event)
        case .leader(.membersChanged), .leader(.partitionsChanged): debounced(input)
        case .leader(let event): lead(event)
        case .election(let event): elect(event)
        case .completed(let number, let results):
            for ready in requests.complete(number, results) { take(ready) }
        case .failed, .sessionEnded: break
        }
    }

    func sessionChanged(to state: SessionState) {
        let previous = connection
        connection = state
        switch state {
        case .connected:
            if case .suspended = previous {
                logger.info("reconnected within the session")
                follow(.reconnected)
                // Requests that failed with the connection may have carried news: a leader
                // reads everything again (watches survive, answers in flight do not).
                lead(.refresh)
            }
        case .suspended:
            logger.warning("connection lost; the share stays valid until its lease runs out")
            follow(.disconnected)
        case .expired, .authFailed, .closed:
            inputs?.yield(.sessionEnded)
        case .connecting:
            break
        }
    }

    // MARK: The follower

    func follow(_ event: FollowerMachine.Event) {
        let now = ContinuousClock.now
        if let latest = client?.status.lastHeardFromServer, latest != heard {
            heard = latest
            perform(follower.handle(.heard(at: latest), now: now))
        }
        switch event {
        case .summaryChanged, .joined:
            // Its own join is a change too: when the leader had already granted by the time the
            // member first read the summary, no change would be seen before its first `active`.
            changeNoticed = changeNoticed ?? now
        default: break
        }
        if case .grantRead(let grant) = event { grantCount = grant?.partitions.count ?? 0 }
        if case .summaryUnreadable = event { lastError = unreadableSummary }
        if case .summaryRead(.some, _) = event, lastError == unreadableSummary { lastError = nil }
        perform(follower.handle(event, now: now))
        let awaited = follower.summary?.awaited ?? [:]
        if awaited.count != awaitedSince.count || !awaited.keys.allSatisfy({ awaitedSince[$0] != nil }) {
            awaitedSince = awaited.keys.reduce(into: [:]) { since, name in since[name] = awaitedSince[name] ?? now }
        }
    }

    func perform(_ actions: [FollowerMachine.Action]) {
        for action in actions {
            switch action {
            case .join(let record): join(record)
            case .readGrant: readGrant()
            case .readSummary: readSummary()
            case .publish(let publication): publish(publication)
            case .acknowledge(let record): acknowledge(record)
            case .checkMemberNode: checkMemberNode()
            case .wake(let at): wake(at: at)
            case .leave:
                logger.info("leaving the group")
                if let client { spawn { _ in await client.close() } }
            case .releaseTimedOut(let partitions):
                forcedReleases += 1
                MemberMetrics.forcedReleases.increment()
                logger.warning("the consumer did not release in time; released anyway", metadata: [
                    "partitions": "\(partitions.sorted().map(\.description).joined(separator: ","))",
                    "forced_releases": "\(forcedReleases)",
                ])
            }
        }
    }

    /// What `status.last_error` says while the summary does not parse.
    var unreadableSummary: String { "the group's summary at \(paths.assignments) does not parse; the leader writes it again" }

    /// The member node's data: the record and, for the tools, host, pid and strategy.
    func nodeData(_ record: MemberRecord) -> [UInt8] {
        var record = record
        record.host = configuration.host
        record.pid = configuration.pid
        record.strategy = configuration.strategy?.name
        record.release = ProductVersion.current
        return record.encoded
    }

    func readGrant() {
        let path = paths.grant(configuration.member)
        read(label: "grant") { client in
            do {
                let node = try await client.retrying { try await client.getData(path) }
                return ([.follower(.grantRead(try? Grant(decoding: node.data)))], nil, nil)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return ([.follower(.grantRead(nil))], nil, nil)
            }
        }
    }

    func readSummary() {
        let path = paths.assignments
        let logger = self.logger
        read(label: "summary") { client in
            let (node, watch) = try await Self.readWatching(client, path)
            guard let node else { return ([.follower(.summaryRead(nil))], watch, .follower(.summaryChanged)) }
            do {
                let summary = try GroupSummary(decoding: node.data)
                return ([.follower(.summaryRead(summary, made: node.stat.czxid))], watch, .follower(.summaryChanged))
            } catch {
                logger.error("the group's summary at \(path) does not parse (\(error)); keeping the last good one until the leader writes it again")
                // The leader (perhaps this member) writes it over once it has read everything again.
                return ([.follower(.summaryUnreadable), .leader(.refresh)], watch, .follower(.summaryChanged))
            }
        }
    }

    /// A node (data and stat) with a watch, or `nil` with a watch on its creation if it does not exist.
    static func readWatching(_ client: ZooKeeperClient, _ path: String) async throws -> (NodeData?, Watch) {
        try await watchingCreation(client, path) { try await client.getDataWatching(path) }
    }

    /// `read` (which sets a watch on `path`) and its watch, or `nil` with a watch on the node's
    /// creation if it does not exist; repeated if it appears in between.
    static func watchingCreation<Value: Sendable>(
        _ client: ZooKeeperClient, _ path: String, _ read: @escaping @Sendable () async throws -> (Value, Watch)
    ) async throws -> (Value?, Watch) {
        try await client.retrying {
            while true {
                do {
                    let (value, watch) = try await read()
                    return (value, watch)
                } catch let error as ZooKeeperError where error.code == .noNode {
                    let (stat, watch) = try await client.existsWatching(path)
                    if stat == nil { return (nil, watch) }
                }
            }
        }
    }

    func acknowledge(_ record: MemberRecord) {
        guard let client else { return }
        let data = nodeData(record)
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let logger = self.logger
        let version = memberNodeVersion
        memberNodeVersion += 1
        let path = paths.member(configuration.member)
        spawn { member in
            do {
                // Only into this session's own node (Party.update checks the owner when the
                // version is not the one expected).
                let update = try await party.update(data: data, version: version)
                if let foreign = update.foreignVersion {
                    logger.error("this member's node \(path) was rewritten by someone else (version \(foreign)); its record is restored. An acknowledgement forged there may have let the leader grant what this member still published: guard the group with ACLs (--zk-auth)")
                    await member.restoredOwnNode(version: update.version, path: path, foreign: foreign)
                }
                await member.send(.follower(.acknowledged(epoch: record.ackedEpoch)))
            } catch is PartyError {
                await member.send(.follower(.memberNodeDeleted))
            } catch let error as ZooKeeperError where error.code == .noNode {
                await member.send(.follower(.memberNodeDeleted))
            } catch {
                logger.warning("could not acknowledge epoch \(record.ackedEpoch), trying again: \(error)")
                try? await Task.sleep(for: .milliseconds(100))
                await member.send(.follower(.acknowledgementFailed(epoch: record.ackedEpoch)))
            }
        }
    }

    /// Someone else rewrote this member's node: the next acknowledgement starts from the
    /// version its restoring write made, and `status` says what happened.
    func restoredOwnNode(version: Int32, path: String, foreign: Int32) {
        memberNodeVersion = version
        lastError = "this member's node \(path) was rewritten by someone else (version \(foreign)); restored"
    }

    func wake(at instant: ContinuousClock.Instant) {
        timer?.cancel()
        timer = Task { [weak self] in
            guard (try? await Task.sleep(until: instant)) != nil else { return }
            await self?.tick()
        }
    }

    func tick() { follow(.tick) }

    /// Makes the follower's publication the member's document.
    func publish(_ publication: Publication) {
        var document = MemberDocument(
            group: configuration.layout.group, member: configuration.member, state: publication.state,
            generation: publication.epoch, strategy: publication.strategy ?? strategy?.name,
            allocation: MemberDocument.share(publication.partitions), revoking: MemberDocument.share(publication.revoking),
            members: publication.members, partitionCount: publication.partitionCount,
            validUntil: publication.lease.map(Lease.wallClock), validUntilBoottime: publication.lease.map(Lease.bootTime),
            updatedAt: published?.updatedAt ?? Date.now)
        if published.map(document.differsInSubstance) ?? true {
            document.updatedAt = Date.now
            if document.state == .active, let noticed = changeNoticed {
                lastRebalance = (Date.now, ContinuousClock.now - noticed)
                changeNoticed = nil
                MemberMetrics.rebalances.increment()
                let (seconds, attoseconds) = (ContinuousClock.now - noticed).components
                MemberMetrics.rebalanceDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
                logger.info("rebalanced", metadata: [
                    "epoch": "\(document.generation)", "state": "\(document.state.rawValue)",
                    "members": "\(document.members.count)", "share": "\(publication.partitions.count)",
                ])
            }
            if let previous = published?.state, previous != document.state {
                logger.log(level: document.state == .active || document.state == .stopped ? .info : .warning,
                           "now \(document.state.rawValue)", metadata: [
                    "epoch": "\(document.generation)", "state": "\(document.state.rawValue)",
                    "previous_state": "\(previous.rawValue)", "share": "\(publication.partitions.count)",
                ])
            }
        }
        published = document
        documentSink.yield(document)
        yielded += 1
        if !reportingDeliveries { follow(.delivered(count: yielded)) }
    }

    // MARK: Deliveries

    /// Makes the member wait, before each acknowledgement, until the documents published
    /// before it are reported `delivered()` (file written, streams sent): otherwise a member
    /// killed between the two would leave a file claiming, under its lease, partitions it has
    /// acknowledged releasing. Call it before `run()`, from the consumer of `documents`.
    public func reportsDeliveries() {
        reportingDeliveries = true
    }

    /// The consumer of `documents` has delivered the next document.
    public func delivered() {
        guard reportingDeliveries else { return }
        deliveredCount += 1
        follow(.delivered(count: deliveredCount))
    }

    var deliveredCount = 0

    // MARK: Requests

    /// Starts a read whose results go back in request order, and arms the watch it returns:
    /// when it fires, `onChange` goes to the machines.
    func read(
        label: String, forLeader: Bool = false,
        _ body: @escaping @Sendable (ZooKeeperClient) async throws -> ([Input], Watch?, Input?)
    ) {
        guard let client else { return }
        let number = requests.start()
        let stream = inputs
        spawn { member in
            var results: [Input] = []
            do {
                let (inputs, watch, onChange) = try await body(client)
                results = inputs
                if let watch, let onChange {
                    // Handed on from the client's thread as it fires, so that the machines hear
                    // of notifications in the server's order, and before the replies after them
                    // (a session's two nodes vanishing in one transaction must not look like two
                    // deletions apart: the leader lingers on those).
                    watch.onFire { event in
                        if event.kind != .sessionEnded { stream?.yield(onChange) }
                    }
                }
            } catch {
                await member.debug("reading the \(label) failed: \(error)")
                if forLeader { await member.leaderReadFailed() }
            }
            await member.send(.completed(number, results))
        }
    }

    /// Runs `body` as one of the session's tasks.
    func spawn(_ body: @escaping @Sendable (Member) async -> Void) {
        tasks?.run { [weak self] in
            guard let self else { return }
            await body(self)
        }
    }

    func send(_ input: Input) {
        inputs?.yield(input)
    }

    func debug(_ message: String) {
        logger.debug("\(message)")
    }

    // MARK: Queries and commands

    /// The current session, if connected or suspended.
    public var session: Session? { client?.status.session }

    var isConnected: Bool {
        if case .connected = connection { true } else { false }
    }

    /// What `status` reports (spec §9, §14).
    public var status: MemberStatus {
        let connection = client?.status
        // The summary that goes with the published document (a newer one read is published
        // only with its grant), so that `status` never runs ahead of the file.
        let summary = follower.summary
        return MemberStatus(
            connection: connection?.state ?? .connecting,
            sessionID: connection?.session?.id,
            sessionTimeout: connection?.session?.timeout,
            member: configuration.member,
            state: published?.state ?? .joining,
            generation: published?.generation ?? 0,
            strategy: summary?.strategy ?? strategy?.name,
            lastRebalanceAt: lastRebalance?.at,
            lastRebalanceDuration: lastRebalance?.duration,
            memberCount: summary?.members.count ?? 0,
            partitionCount: summary?.partitionCount ?? 0,
            shareCount: grantCount,
            partitionSetSize: summary?.partitionSet.bytes ?? 0,
            partitionSetLimit: SharedSet.defaultSizeLimit,
            partitionSetMalformed: summary?.partitionSet.error,
            lastError: [lastError, isConnected ? nil : ZooKeeperClient.likelyConnectionProblem]
                .compactMap { $0 }.joined(separator: "; ").nilIfEmpty,
            uptime: ContinuousClock.now - startedAt,
            role: leader.isLeading ? .leader : .follower,
            leader: summary?.leader,
            awaited: summary?.awaited ?? [:],
            awaitedFor: awaitedSince.mapValues { ContinuousClock.now - $0 },
            revokingCount: follower.latest?.revoking.count ?? 0,
            forcedReleases: forcedReleases)
    }

    /// Group-wide commands and reports, on this member's session.
    public func commands() throws(GroupCommandError) -> GroupCommands {
        guard let client, case .connected = connection else { throw GroupCommandError.notConnected }
        return GroupCommands(
            client: client, paths: paths, seedPartitions: configuration.seedPartitions, lastGoodPartitions: leader.partitions,
            logger: logger)
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}

/// What a member counts, through swift-metrics (spec §16); made on first use, after the daemon
/// bootstraps its backend.
enum MemberMetrics {
    /// Changes this member saw through to a new active document.
    static let rebalances = Counter(label: "allocatord_rebalances_total")
    /// From noticing a change to publishing the document that follows it.
    static let rebalanceDuration = Timer(label: "allocatord_rebalance_duration_seconds")
    static let forcedReleases = Counter(label: "allocatord_forced_releases_total")
}

/// Releases results in the order their requests were made.
struct RequestOrder {
    private var next = 0
    private var due = 0
    private var done: [Int: [Member.Input]] = [:]

    /// The number of a new request.
    mutating func start() -> Int {
        defer { next += 1 }
        return next
    }

    /// Request `number` is done with `results`: returns every result now in order.
    mutating func complete(_ number: Int, _ results: [Member.Input]) -> [Member.Input] {
        done[number] = results
        var ready: [Member.Input] = []
        while let results = done.removeValue(forKey: due) {
            ready += results
            due += 1
        }
        return ready
    }
}

extension MultiOperation {
    init(_ operation: NodeOperation) {
        switch operation {
        case .check(let path, let version): self = .check(path, version: version)
        case .create(let path, let data): self = .create(path, data: data)
        case .set(let path, let data, let version): self = .setData(path, data: data, version: version)
        case .delete(let path, let version): self = .delete(path, version: version)
        }
    }
}
