import Allocation
import ControlProtocol
import Coordination
import CoreMetrics
import Foundation
import Logging
import Recipes
import ZooKeeper

/// One member of a group under protocol 2 (spec §14): the executor of its `MemberMachine`,
/// which holds every rule. This actor only carries out what the machine asks (ZooKeeper
/// requests, the group's preparation, the allocator program, publications, timers) and feeds
/// it what happens, and it reports to the daemon (documents, `status`, logs, metrics).
///
/// The story of a session: connect, prepare the group (`GroupSetup`: paths, settings, seed),
/// tell the machine the session started; it asks to contend for the leader lock, to join and
/// to read; the contender lowest in the lock leads. Replies and watch events reach the
/// machine in the server's order: each request's answer is handed over from the client's
/// thread (`ZooKeeperClient.send`), where the watch it set is armed. When the session
/// expires, a new one starts. `stop()` publishes `stopped`, and once that is delivered closes
/// the session, which removes the member's nodes at once.
public actor Member {
    /// Every document this member publishes, in order. Ends after `stopped`.
    public nonisolated let documents: AsyncStream<MemberDocument>
    let documentSink: AsyncStream<MemberDocument>.Continuation

    public nonisolated let configuration: MemberConfiguration
    let logger: Logger
    let startedAt = ContinuousClock.now
    let paths: GroupPaths

    var machine: MemberMachine
    var client: ZooKeeperClient?
    var connection = SessionState.connecting
    var inputs: AsyncStream<Input>.Continuation?
    /// The session's tasks (the group's preparation, the allocator, the session's states);
    /// cancelled when it ends.
    var tasks: SessionTasks?
    /// Requests the machine sent while the connection was down: sent once it is back.
    var held: [(MemberMachine.RequestTag, NodeRequest)] = []
    /// The timer for the machine's next deadline (`nil`: none), and when its task wakes next.
    var timer: (deadline: ContinuousClock.Instant?, wakesAt: ContinuousClock.Instant, task: Task<Void, Never>)?
    var heard: ContinuousClock.Instant?
    var stopping = false
    /// `stop()` waiting for the session to end: resumed by `endSession()`, or by the deadline
    /// `waitUntilSessionEnds` set (moved on while the file may still claim a share:
    /// `sessionEndDeadlinePassed`), whichever comes first.
    var sessionEndWaiter: CheckedContinuation<Void, Never>?
    /// A failed `run()` waiting for its documents' delivery (`waitUntilDelivered`).
    var deliveryWaiter: CheckedContinuation<Void, Never>?
    /// The latest lease a published document gave: until then, a document not yet delivered
    /// leaves the file claiming a share (`claimUndelivered`).
    var claimsUntil: ContinuousClock.Instant?
    var seeded = false
    var strategy: Strategy?
    /// Why the group's preparation at the session's start failed, while it is tried again.
    var setupError: String?
    /// What made membership impossible; `run()` throws it.
    var membershipError: (any Error)?

    // What `status` and the commands report.
    /// Since when each member the published summary names as awaited has been awaited.
    var awaitedSince: [String: ContinuousClock.Instant] = [:]
    var published: MemberDocument?
    /// The published share and revoking in the document's shape, kept while they stay the same.
    var allocationShape = MemberDocument.ShareShape(), revokingShape = MemberDocument.ShareShape()
    var lastRebalance: (at: Date, duration: Duration)?
    /// Releases the release timeout forced (consumer handover).
    var forcedReleases = 0

    // Deliveries (see `reportsDeliveries`).
    var reportingDeliveries = false
    var yielded = 0

    enum Input: Sendable {
        case machine(MemberMachine.Event)
        /// Membership is impossible (the name is held by another session, the group's settings
        /// are not this member's).
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
        machine = MemberMachine(
            member: configuration.member, paths: paths,
            settings: MemberMachine.Settings(
                weight: configuration.weight, handover: configuration.handover, configuredStrategy: configuration.strategy,
                identity: MemberRecord(
                    host: configuration.host, pid: configuration.pid, strategy: configuration.strategy?.name,
                    release: ProductVersion.current),
                rebalanceDelay: (configuration.rebalanceDelayMin, configuration.rebalanceDelayMax),
                fullReadInterval: configuration.fullReadInterval),
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
        handle(.follower(.tick))
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
            // `lost` out before the session's nodes go (and the leader gives the share away).
            await waitUntilDelivered()
            await client?.close()
            await tasks?.ended()
            handle(.follower(.stop))
            documentSink.finish()
            throw error
        }
        if !machine.follower.hasStopped { handle(.follower(.stop)) }
        documentSink.finish()
    }

    /// Publishes `stopped`, then closes the session (the member's nodes go at once, so the
    /// others rebalance at once); `run()` then returns. With consumer handover the share is
    /// first published as `revoking` and the member waits for its consumer's release (or the
    /// release timeout). Without ZooKeeper, or if the delivery of `stopped` takes longer than a
    /// second (plus the release timeout), the session is closed anyway, but not while the file
    /// may still claim a share under its lease (`claimUndelivered`): then at the lease's end.
    public func stop() async {
        guard !stopping else { return }
        stopping = true
        logger.info("stopping")
        if let inputs {
            inputs.yield(.machine(.follower(.stop)))
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
            var wakeAt = deadline
            while (try? await Task.sleep(until: wakeAt)) != nil, let later = await self?.sessionEndDeadlinePassed() {
                wakeAt = later
            }
        }
        await withCheckedContinuation { sessionEndWaiter = $0 }
        deadlineTimer.cancel()
    }

    /// `stop()`'s deadline passed: it closes the session, unless a document not yet delivered
    /// leaves the file claiming a share: then it waits for the claim's end (returned), or for
    /// the session's. Closed at once, the session's nodes went with it, the leader gave the
    /// share away, and the file (its writes failing, or slow) still claimed it.
    func sessionEndDeadlinePassed() -> ContinuousClock.Instant? {
        if claimUndelivered, let claimsUntil { return claimsUntil }
        resumeSessionEndWaiter()
        return nil
    }

    func resumeSessionEndWaiter() {
        sessionEndWaiter?.resume()
        sessionEndWaiter = nil
    }

    /// Whether a document published is not yet delivered while the one the file holds may
    /// still claim a share under its lease.
    var claimUndelivered: Bool {
        reportingDeliveries && deliveredCount < yielded && claimsUntil.map { $0 > .now } == true
    }

    /// Returns once every document published is delivered, or once the leases they gave are
    /// over, whichever comes first (`claimUndelivered`).
    func waitUntilDelivered() async {
        guard claimUndelivered, let claimsUntil else { return }
        // It reaches the actor only once the continuation below is stored.
        let deadlineTimer = Task { [weak self] in
            guard (try? await Task.sleep(until: claimsUntil)) != nil else { return }
            await self?.resumeDeliveryWaiter()
        }
        await withCheckedContinuation { deliveryWaiter = $0 }
        deadlineTimer.cancel()
    }

    func resumeDeliveryWaiter() {
        deliveryWaiter?.resume()
        deliveryWaiter = nil
    }

    /// The consumer has stopped working on everything revoked up to `epoch` (`release EPOCH`,
    /// spec §15): the member may acknowledge what it lost. Without consumer handover it does
    /// nothing.
    public func release(epoch: Int64) {
        handle(.follower(.released(epoch: epoch)))
    }

    func runSession(_ client: ZooKeeperClient, _ tasks: SessionTasks) async throws {
        self.client = client
        self.tasks = tasks
        connection = .connecting
        held = []
        let (stream, inputs) = AsyncStream.makeStream(of: Input.self)
        self.inputs = inputs
        spawn { member in
            for await state in client.sessionStates() { await member.sessionChanged(to: state) }
        }
        let session = try await client.waitUntilConnected()
        // The session's states come by their own task: one that came meanwhile (the
        // connection lost again) stays.
        if case .connecting = connection { connection = .connected(session) }
        logger.info("connected", metadata: [
            "session": "\(SessionID.format(session.id))", "timeout": "\(session.timeout)",
        ])
        strategy = try await prepareGroup(client)
        seeded = true
        handle(.sessionStarted(session: session.id, timeout: session.timeout))
        if case .suspended = connection { handle(.disconnected) }
        for await input in stream {
            switch input {
            case .machine(let event):
                handle(event)
            case .sessionEnded:
                if let membershipError { throw membershipError }
                if case .expired = connection { throw ZooKeeperError(code: .sessionExpired, operation: "session", path: nil) }
                if case .authFailed = connection { throw ZooKeeperError(code: .authFailed, operation: "session", path: nil) }
                return
            case .failed(let error):
                membershipError = error
                throw error
            }
        }
    }

    /// The group's preparation at a session's start (`GroupSetup`). Settings that do not parse
    /// (garbage an operator wrote in the group node; a strategy this member does not know still
    /// ends it, as one not its own does) are waited out, as during a session: in
    /// `status`'s `last_error`, tried again 1 s later, doubling up to 10 s. Taken for a reason
    /// to exit, a session that expired while the node held garbage ended the daemon, and
    /// systemd's start limit could leave it down after the node was repaired (spec §13: the
    /// members recover by themselves once the data allows it).
    func prepareGroup(_ client: ZooKeeperClient) async throws -> Strategy {
        var delay = Duration.seconds(1)
        while true {
            if stopping { throw CancellationError() }
            do {
                let strategy = try await GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
                    .prepare(seeding: !seeded)
                setupError = nil
                return strategy
            } catch let error as GroupSettings.Malformed where !stopping && !error.unknownStrategy {
                setupError = "\(error)"
                logger.error("cannot prepare the group; trying again in \(delay): \(error)")
                let until = ContinuousClock.now + delay
                while !stopping, ContinuousClock.now < until { try await Task.sleep(for: .milliseconds(100)) }
                delay = min(delay * 2, .seconds(10))
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

    func endSession() {
        tasks?.cancel()
        tasks = nil
        held = []
        inputs?.finish()
        inputs = nil
        resumeSessionEndWaiter()
        handle(.sessionEnded)
    }

    func sessionChanged(to state: SessionState) {
        let previous = connection
        connection = state
        switch state {
        case .connected:
            // The requests held first, then what the reconnection asks: sent in the order they
            // were made (their tags' order, which the machine counts on).
            let requests = held
            held = []
            for (tag, request) in requests { execute(tag, request) }
            if case .suspended = previous {
                logger.info("reconnected within the session")
                handle(.reconnected)
            }
        case .suspended:
            logger.warning("connection lost; the share stays valid until its lease runs out")
            handle(.disconnected)
        case .expired, .authFailed, .closed:
            inputs?.yield(.sessionEnded)
        case .connecting:
            break
        }
    }

    /// Makes the follower's publication the member's document.
    func publish(_ publication: Publication) {
        var document = MemberDocument(
            group: configuration.layout.group, member: configuration.member, state: publication.state,
            generation: publication.epoch, strategy: publication.strategy ?? strategy?.name,
            allocation: allocationShape(publication.partitions), revoking: revokingShape(publication.revoking),
            members: publication.members, partitionCount: publication.partitionCount,
            validUntil: publication.lease.map(Lease.wallClock), validUntilBoottime: publication.lease.map(Lease.bootTime),
            updatedAt: published?.updatedAt ?? Date.now)
        if published.map(document.differsInSubstance) ?? true {
            document.updatedAt = Date.now
            if document.state == .active, let noticed = machine.changeNoticed {
                machine.changeNoticed = nil
                let duration = ContinuousClock.now - noticed
                lastRebalance = (Date.now, duration)
                MemberMetrics.rebalances.increment()
                let (seconds, attoseconds) = duration.components
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
        if let lease = publication.lease { claimsUntil = max(claimsUntil ?? lease, lease) }
        documentSink.yield(document)
        yielded += 1
        if !reportingDeliveries { handle(.follower(.delivered(count: yielded))) }
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
        handle(.follower(.delivered(count: deliveredCount)))
        if deliveredCount >= yielded { resumeDeliveryWaiter() }
    }

    var deliveredCount = 0

    /// Runs `body` as one of the session's tasks.
    func spawn(_ body: @escaping @Sendable (Member) async -> Void) {
        tasks?.run { [weak self] in
            guard let self else { return }
            await body(self)
        }
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
        let summary = machine.follower.summary
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
            shareCount: machine.grantCount,
            partitionSetSize: summary?.partitionSet.bytes ?? 0,
            partitionSetLimit: SharedSet.defaultSizeLimit,
            partitionSetMalformed: summary?.partitionSet.error,
            lastError: [machine.lastError, setupError, isConnected ? nil : ZooKeeperClient.likelyConnectionProblem]
                .compactMap { $0 }.joined(separator: "; ").nilIfEmpty,
            uptime: ContinuousClock.now - startedAt,
            role: machine.leader.isLeading ? .leader : .follower,
            leader: summary?.leader,
            awaited: summary?.awaited ?? [:],
            awaitedFor: awaitedSince.mapValues { ContinuousClock.now - $0 },
            revokingCount: machine.follower.latest?.revoking.count ?? 0,
            forcedReleases: forcedReleases)
    }

    /// Group-wide commands and reports, on this member's session.
    public func commands() throws(GroupCommandError) -> GroupCommands {
        guard let client, case .connected = connection else { throw GroupCommandError.notConnected }
        return GroupCommands(
            client: client, paths: paths, seedPartitions: configuration.seedPartitions, lastGoodPartitions: machine.leader.partitions,
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

