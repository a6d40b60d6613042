import Allocation
import Coordination
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
    private let documentSink: AsyncStream<MemberDocument>.Continuation

    public nonisolated let configuration: MemberConfiguration
    private let logger: Logger
    private let startedAt = ContinuousClock.now
    private let paths: GroupPaths

    private var follower: FollowerMachine
    private var leader: LeaderMachine
    private var client: ZooKeeperClient?
    private var connection = SessionState.connecting
    private var inputs: AsyncStream<Input>.Continuation?
    /// Every task of the session (requests, watches, the timer); cancelled when it ends.
    private var sessionTasks: [Task<Void, Never>] = []
    private var timer: Task<Void, Never>?
    /// This session's contender node (its name under `leader/`).
    private var contender: String?
    private var contenderNonce: UInt64 = 0
    /// The member node's version as last seen, so an acknowledgement is one conditional write.
    private var memberNodeVersion: Int32 = 0
    private var heard: ContinuousClock.Instant?
    private var stopping = false
    private var seeded = false
    private var strategy: Strategy?
    /// What made membership impossible; `run()` throws it.
    private var membershipError: (any Error)?
    private var requests = RequestOrder()
    private var allocatorRetry = Duration.zero
    private var joinRetry = Duration.zero
    private var leaderRetryPending = false
    /// Changes held back for the quiet time of `--rebalance-delay` (spec §12), on the leader.
    private var debounce: (first: ContinuousClock.Instant, timer: Task<Void, Never>, events: [LeaderMachine.Event])?

    // What `status` and the commands report.
    private var summary: GroupSummary?
    private var grantCount = 0
    private var published: MemberDocument?
    private var lastRebalance: (at: Date, duration: Duration)?
    private var changeNoticed: ContinuousClock.Instant?
    private var lastError: String?

    // Deliveries (see `reportsDeliveries`).
    private var reportingDeliveries = false
    private var yielded = 0

    fileprivate enum Input: Sendable {
        case follower(FollowerMachine.Event)
        case leader(LeaderMachine.Event)
        /// See whether this member's contender is the lowest.
        case checkLock
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
        follower = FollowerMachine(member: configuration.member)
        leader = LeaderMachine(member: configuration.member, configuredStrategy: configuration.strategy)
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
                do {
                    try await runSession(client)
                } catch let error as ZooKeeperError where !stopping && error.code == .sessionExpired {
                    logger.warning("session expired; starting a new one")
                } catch where stopping {
                    // stop() closed the session under us.
                }
                endSession()
                await client.close()
            }
        } catch where stopping {
            // stop() closed the chroot's client under ensureChroot().
        } catch {
            logger.error("cannot stay in the group: \(error)")
            stopping = true
            endSession()
            await client?.close()
            perform(follower.handle(.stop, now: .now))
            documentSink.finish()
            throw error
        }
        if !follower.hasStopped { perform(follower.handle(.stop, now: .now)) }
        documentSink.finish()
    }

    /// Publishes `stopped`, then closes the session (the member's nodes go at once, so the
    /// others rebalance at once); `run()` then returns. Without ZooKeeper, or if the delivery
    /// of `stopped` takes longer than a second, the session is closed anyway.
    public func stop() async {
        guard !stopping else { return }
        stopping = true
        logger.info("stopping")
        if let inputs {
            inputs.yield(.follower(.stop))
            // The follower leaves (closes the session) once `stopped` is delivered; at most a
            // second is given to that.
            for _ in 0..<100 where self.inputs != nil {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        await client?.close()
    }

    private func runSession(_ client: ZooKeeperClient) async throws {
        self.client = client
        connection = .connecting
        let (stream, inputs) = AsyncStream.makeStream(of: Input.self)
        self.inputs = inputs
        requests = RequestOrder()
        contender = nil
        leader = LeaderMachine(member: configuration.member, configuredStrategy: configuration.strategy)
        sessionTasks.append(Task { [weak self] in
            for await state in client.sessionStates() { await self?.sessionChanged(to: state) }
        })
        let session = try await client.waitUntilConnected()
        logger.info("connected", metadata: [
            "session": "\(SessionID.format(session.id))", "timeout": "\(session.timeout)",
        ])
        strategy = try await GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
            .prepare(seeding: !seeded)
        seeded = true
        follow(.sessionStarted(session: session.id, timeout: session.timeout))
        let fullRead = configuration.fullReadInterval
        sessionTasks.append(Task { [weak self] in
            while (try? await Task.sleep(for: fullRead)) != nil { await self?.refresh() }
        })
        // The leader looks again at the members it awaits every half session timeout, should a
        // watch have been lost: an acknowledgement is never missed for long.
        let awaitedCheck = session.timeout / 2
        sessionTasks.append(Task { [weak self] in
            while (try? await Task.sleep(for: awaitedCheck)) != nil { await self?.lookAgainAtAwaited() }
        })
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
    private func ensureChroot() async throws {
        guard let chroot = configuration.zooKeeper.connectString.chroot else { return }
        var plain = configuration.zooKeeper
        plain.connectString = plain.connectString.withoutChroot
        let client = try await ZooKeeperClient.connect(plain, logger: logger)
        // Where stop() finds it, to close it (without ZooKeeper this waits for a connection).
        self.client = client
        defer { Task { await client.close() } }
        try await client.retrying {
            try await client.waitUntilConnected()
            try await client.ensurePath(chroot)
        }
    }

    private func lookAgainAtAwaited() {
        for name in leader.awaitedMembers.keys.sorted(by: utf8Precedes) { lead(.memberChanged(name)) }
    }

    /// The periodic full read (`--full-read-interval`).
    private func refresh() {
        follow(.refresh)
        lead(.refresh)
    }

    private func endSession() {
        debounce?.timer.cancel()
        debounce = nil
        sessionTasks.forEach { $0.cancel() }
        sessionTasks = []
        timer?.cancel()
        timer = nil
        inputs?.finish()
        inputs = nil
        follow(.sessionEnded)
        _ = leader.handle(.deposed)
    }

    private func take(_ input: Input) {
        switch input {
        case .follower(let event): follow(event)
        case .leader(.membersChanged), .leader(.partitionsChanged): debounced(input)
        case .leader(let event): lead(event)
        case .checkLock: checkLock()
        case .completed(let number, let results):
            for ready in requests.complete(number, results) { take(ready) }
        case .failed, .sessionEnded: break
        }
    }

    private func sessionChanged(to state: SessionState) {
        let previous = connection
        connection = state
        switch state {
        case .connected:
            if case .suspended = previous {
                logger.info("reconnected within the session")
                follow(.reconnected)
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

    private func follow(_ event: FollowerMachine.Event) {
        let now = ContinuousClock.now
        if let latest = client?.status.lastHeardFromServer, latest != heard {
            heard = latest
            perform(follower.handle(.heard(at: latest), now: now))
        }
        if case .summaryChanged = event { changeNoticed = changeNoticed ?? now }
        if case .grantRead(let grant) = event { grantCount = grant?.partitions.count ?? 0 }
        if case .summaryRead(let read) = event, let read { summary = read }
        perform(follower.handle(event, now: now))
    }

    private func perform(_ actions: [FollowerMachine.Action]) {
        for action in actions {
            switch action {
            case .join(let record): join(record)
            case .readGrant: readGrant()
            case .readSummary: readSummary()
            case .publish(let publication): publish(publication)
            case .acknowledge(let record): acknowledge(record)
            case .wake(let at): wake(at: at)
            case .leave:
                logger.info("leaving the group")
                if let client { sessionTasks.append(Task { await client.close() }) }
            }
        }
    }

    /// The member node's data: the record and, for the tools, host, pid and strategy.
    private func nodeData(_ record: MemberRecord) -> [UInt8] {
        var record = record
        record.host = configuration.host
        record.pid = configuration.pid
        record.strategy = configuration.strategy?.name
        return record.encoded
    }

    private func join(_ record: MemberRecord) {
        guard let client, let session = client.status.session else { return }
        let data = nodeData(record)
        let needsContender = contender == nil
        contenderNonce += 1
        let prefix = ContenderName.prefix(session: session.id, nonce: contenderNonce)
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let paths = self.paths
        let conflictWait = session.timeout * 3 / 2
        spawn { member in
            do {
                if needsContender {
                    let created = try await client.retrying {
                        try await client.create(paths.contender(prefix), data: Array(party.member.utf8), mode: .ephemeralSequential)
                    }
                    await member.contenderCreated(String(created.split(separator: "/").last!))
                }
                try await party.join(data: data, conflictWait: conflictWait)
                let (stat, watch) = try await client.retrying { try await client.existsWatching(party.memberPath) }
                guard let stat, stat.ephemeralOwner == session.id else {
                    // Deleted (or taken) again right after the join: once more.
                    await member.send(.follower(.memberNodeDeleted))
                    return
                }
                await member.watchOwnNode(watch, version: stat.version)
                await member.joined()
            } catch let error as PartyError {
                await member.send(.failed(error))
            } catch {
                await member.retryJoin(record, after: error)
            }
        }
    }

    /// Joining failed for a reason that may pass (the group's nodes deleted behind the
    /// members' back, an ACL refusing creates for a while): prepares the group again and joins
    /// again, after 1 s, doubling up to 10 s, for as long as the session lives.
    private func retryJoin(_ record: MemberRecord, after error: any Error) {
        joinRetry = min(max(joinRetry * 2, .seconds(1)), .seconds(10))
        lastError = "joining the group: \(error)"
        logger.warning("could not join the group; preparing it and trying again in \(joinRetry): \(error)")
        guard let client else { return }
        let delay = joinRetry
        let setup = GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
        spawn { member in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            do {
                _ = try await setup.prepare(seeding: false)
                await member.joinAgain(record)
            } catch let failure as StrategyMismatch {
                await member.send(.failed(failure))
            } catch let failure as UnconfiguredExecStrategy {
                await member.send(.failed(failure))
            } catch let failure as ProtocolMismatch {
                await member.send(.failed(failure))
            } catch {
                await member.retryJoin(record, after: error)
            }
        }
    }

    private func joinAgain(_ record: MemberRecord) {
        join(follower.record.ackedEpoch > record.ackedEpoch ? follower.record : record)
    }

    private func joined() {
        if joinRetry > .zero {
            joinRetry = .zero
            lastError = nil
        }
        logger.info("joined", metadata: ["strategy": "\(strategy?.name ?? "")"])
        follow(.joined)
    }

    private func contenderCreated(_ name: String) {
        contender = name
        checkLock()
    }

    /// Tells the follower when the member node is deleted while the session lives.
    private func watchOwnNode(_ watch: Watch, version: Int32) {
        memberNodeVersion = version
        guard let client else { return }
        let path = paths.member(configuration.member)
        let logger = self.logger
        spawn { member in
            guard let event = try? await watch.fired(), event.kind != .sessionEnded else { return }
            // Any change: look again (a data change re-arms the watch).
            guard let (stat, next) = try? await client.retrying({ try await client.existsWatching(path) }) else { return }
            if let stat, stat.ephemeralOwner == client.status.session?.id {
                await member.watchOwnNode(next, version: stat.version)
            } else {
                // Gone, or another session's now (a kiel consumer takes names over).
                logger.warning("this member's node was deleted or taken while its session lives; joining again")
                await member.send(.follower(.memberNodeDeleted))
            }
        }
    }

    private func readGrant() {
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

    private func readSummary() {
        let path = paths.assignments
        read(label: "summary") { client in
            let (data, watch) = try await Self.readWatching(client, path)
            return ([.follower(.summaryRead(data.flatMap { try? GroupSummary(decoding: $0) }))], watch, .follower(.summaryChanged))
        }
    }

    /// A node's data with a watch, or `nil` with a watch on its creation if it does not exist.
    private static func readWatching(_ client: ZooKeeperClient, _ path: String) async throws -> ([UInt8]?, Watch) {
        try await client.retrying {
            while true {
                do {
                    let (node, watch) = try await client.getDataWatching(path)
                    return (node.data, watch)
                } catch let error as ZooKeeperError where error.code == .noNode {
                    let (stat, watch) = try await client.existsWatching(path)
                    if stat == nil { return (nil, watch) }
                }
            }
        }
    }

    private func acknowledge(_ record: MemberRecord) {
        guard let client else { return }
        let data = nodeData(record)
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let logger = self.logger
        let version = memberNodeVersion
        memberNodeVersion += 1
        spawn { member in
            do {
                // Only into this session's own node (Party.update checks the owner when the
                // version is not the one expected).
                try await party.update(data: data, version: version)
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

    private func wake(at instant: ContinuousClock.Instant) {
        timer?.cancel()
        timer = Task { [weak self] in
            guard (try? await Task.sleep(until: instant)) != nil else { return }
            await self?.tick()
        }
    }

    private func tick() { follow(.tick) }

    /// Makes the follower's publication the member's document.
    private func publish(_ publication: Publication) {
        var share: [String: [Int]] = [:]
        for partition in publication.partitions { share[partition.topic, default: []].append(partition.id) }
        var document = MemberDocument(
            group: configuration.layout.group, member: configuration.member, state: publication.state,
            generation: publication.epoch, strategy: publication.strategy ?? strategy?.name,
            allocation: share.mapValues { $0.sorted() }, members: publication.members,
            partitionCount: publication.partitionCount, validUntil: publication.lease.map(Lease.wallClock),
            updatedAt: published?.updatedAt ?? Date.now)
        if published.map(document.differsInSubstance) ?? true {
            document.updatedAt = Date.now
            if document.state == .active, let noticed = changeNoticed {
                lastRebalance = (Date.now, ContinuousClock.now - noticed)
                changeNoticed = nil
                logger.info("rebalanced", metadata: [
                    "epoch": "\(document.generation)", "members": "\(document.members.count)",
                    "share": "\(publication.partitions.count)",
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

    private var deliveredCount = 0

    // MARK: The leader lock

    private func checkLock() {
        guard let client, let contender else { return }
        let lock = paths.leaderLock
        let paths = self.paths
        spawn { member in
            do {
                let names = try await client.retrying { try await client.children(lock) }.names
                guard names.contains(contender) else {
                    await member.contenderLost()
                    return
                }
                let ordered = ContenderName.ordered(names)
                let index = ordered.firstIndex(of: contender)!
                if index == 0 {
                    await member.elected()
                    return
                }
                let (stat, watch) = try await client.retrying { try await client.existsWatching(paths.contender(ordered[index - 1])) }
                guard stat != nil else { return await member.send(.checkLock) }
                if let event = try? await watch.fired(), event.kind != .sessionEnded { await member.send(.checkLock) }
            } catch {
                // The lock's node is gone (the group deleted behind our back): contend again.
                await member.debug("checking the leader lock failed: \(error)")
                await member.contenderLost()
            }
        }
    }

    private func elected() {
        guard !leader.isLeading else { return }
        logger.info("leading the group")
        lead(.elected)
    }

    /// Contends again after a second, the lock's node made again if it is gone.
    private func contendLater() {
        guard let client else { return }
        let lock = paths.leaderLock
        spawn { member in
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            try? await client.retrying { try await client.ensurePath(lock) }
            await member.createContender()
        }
    }

    /// This session's contender node is gone (deleted by hand): contend again.
    private func contenderLost() {
        logger.warning("this member's leader-lock node was deleted; contending again")
        contender = nil
        if leader.isLeading { lead(.writeFailed(fenced: true)) } else { createContender() }
    }

    private func createContender() {
        guard let client, let session = client.status.session, contender == nil else { return }
        contenderNonce += 1
        let path = paths.contender(ContenderName.prefix(session: session.id, nonce: contenderNonce))
        let name = Array(configuration.member.utf8)
        spawn { member in
            do {
                let created = try await client.retrying { try await client.create(path, data: name, mode: .ephemeralSequential) }
                await member.contenderCreated(String(created.split(separator: "/").last!))
            } catch {
                await member.debug("contending failed: \(error)")
                await member.contendLater()
            }
        }
    }

    // MARK: The leader

    private func lead(_ event: LeaderMachine.Event) {
        for action in leader.handle(event) {
            switch action {
            case .readGroup: readGroup()
            case .readPartitions: readPartitions()
            case .listMembers: listMembers()
            case .readMember(let name, let watch): readMember(name, watch: watch)
            case .listContenders: listContenders()
            case .readGrants: readGrants()
            case .write(let write): self.write(write)
            case .runAllocator(let strategy, let members, let partitions): runAllocator(strategy, members, partitions)
            case .stepDown:
                logger.warning("no longer leading: the leader lock's node is gone")
                contender = nil
                createContender()
            }
        }
    }

    /// A change of members or partitions reaches the leader after the configured quiet time
    /// (spec §12): `MIN` ms after the last change, never more than `MAX` after the first.
    private func debounced(_ input: Input) {
        guard case .leader(let event) = input else { return }
        let quiet = configuration.rebalanceDelayMin
        guard quiet > .zero else { return lead(event) }
        let now = ContinuousClock.now
        let first = debounce?.first ?? now
        var events = debounce?.events ?? []
        if !events.contains(event) { events.append(event) }
        debounce?.timer.cancel()
        let due = min(now + quiet, first + max(configuration.rebalanceDelayMax, quiet))
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(until: due)) != nil else { return }
            await self?.debounceElapsed()
        }
        debounce = (first, timer, events)
    }

    private func debounceElapsed() {
        let events = debounce?.events ?? []
        debounce = nil
        for event in events { lead(event) }
    }

    private func readGroup() {
        let path = paths.group
        read(label: "group", forLeader: true) { client in
            let (node, watch) = try await client.retrying { try await client.getDataWatching(path) }
            let settings = try? GroupSettings(data: node.data, path: path)
            return ([.leader(.groupRead(settings?.strategy))], watch, .leader(.groupChanged))
        }
    }

    private func readPartitions() {
        guard let client else { return }
        let set = GroupSetup.partitionSet(client, path: paths.partitions)
        let logger = self.logger
        let setup = GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
        read(label: "partitions", forLeader: true) { _ in
            let (snapshot, watch) = try await set.readWatching()
            if snapshot.version == 0, snapshot.size <= 2 { await setup.seedIfFresh() }
            switch snapshot.contents {
            case .valid(let items):
                let partitions = items.compactMap { try? Partition(parsing: $0) }.sorted()
                return ([.leader(.partitionsRead(partitions, PartitionSetState(bytes: snapshot.size)))], watch, .leader(.partitionsChanged))
            case .malformed(let reason):
                logger.error("the partition set at \(set.path) does not parse (\(reason)); keeping the last good one; fix it or run `allocatorctl repair`")
                return ([.leader(.partitionsRead(nil, PartitionSetState(bytes: snapshot.size, error: reason)))], watch, .leader(.partitionsChanged))
            }
        }
    }

    private func listMembers() {
        let path = paths.members
        read(label: "members", forLeader: true) { client in
            let (children, watch) = try await client.retrying { try await client.childrenWatching(path) }
            return ([.leader(.membersListed(children.names))], watch, .leader(.membersChanged))
        }
    }

    private func readMember(_ name: String, watch: Bool) {
        let path = paths.member(name)
        read(label: "member \(name)", forLeader: true) { client in
            do {
                if watch {
                    let (node, nodeWatch) = try await client.retrying { try await client.getDataWatching(path) }
                    return ([.leader(.memberRead(name, Self.partyMember(name, node)))], nodeWatch, .leader(.memberChanged(name)))
                }
                let node = try await client.retrying { try await client.getData(path) }
                return ([.leader(.memberRead(name, Self.partyMember(name, node)))], nil, nil)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return ([.leader(.memberRead(name, nil))], nil, nil)
            }
        }
    }

    private static func partyMember(_ name: String, _ node: NodeData) -> PartyMember {
        PartyMember(name: name, session: node.stat.ephemeralOwner, record: MemberRecord(decoding: node.data))
    }

    private func listContenders() {
        let path = paths.leaderLock
        read(label: "contenders", forLeader: true) { client in
            let (children, watch) = try await client.retrying { try await client.childrenWatching(path) }
            return ([.leader(.contendersListed(Set(children.names.compactMap(ContenderName.session))))], watch, .leader(.contendersChanged))
        }
    }

    private func readGrants() {
        let paths = self.paths
        read(label: "grants", forLeader: true) { client in
            let nodes = try await client.retrying { try await GrantReader(client: client, paths: paths).read() }
            return ([.leader(.grantsRead(nodes))], nil, nil)
        }
    }

    private func write(_ write: LeaderWrite) {
        guard let client, let contender else {
            lead(.writeFailed(fenced: true))
            return
        }
        let operations = write.operations(in: paths, contender: contender).map(MultiOperation.init)
        let number = requests.start()
        let logger = self.logger
        spawn { member in
            var results: [Input]
            do {
                let outcome = try await client.multi(operations)
                var versions = LeaderWrite.Versions(summary: 0, grants: [:])
                if case .setData(let stat) = outcome[LeaderWrite.summaryIndex] { versions.summary = stat.version }
                for (index, (change, _)) in write.grants.enumerated() {
                    if case .setData(let stat) = outcome[LeaderWrite.firstGrantIndex + index] { versions.grants[change.member] = stat.version }
                }
                logger.info("granted", metadata: [
                    "epoch": "\(write.summary.epoch)", "changes": "\(write.grants.count)",
                    "awaited": "\(write.summary.awaited.keys.sorted(by: utf8Precedes))",
                ])
                results = [.leader(.written(versions))]
            } catch let error as ZooKeeperError {
                let fenced = error.failedOperation == LeaderWrite.fenceIndex
                logger.notice("the leader's write failed: \(error)")
                results = [.leader(.writeFailed(fenced: fenced))]
            } catch {
                results = [.leader(.writeFailed(fenced: false))]
            }
            await member.send(.completed(number, results))
        }
    }

    private func runAllocator(_ strategy: Strategy, _ members: [String], _ partitions: [Partition]) {
        let timeout = configuration.execTimeout
        let retry = allocatorRetry
        spawn { member in
            do {
                let allocation = try await strategy.allocate(members: members, partitions: partitions, execTimeout: timeout)
                await member.allocatorSucceeded()
                await member.send(.leader(.allocated(allocation)))
            } catch {
                let delay = await member.allocatorFailed("\(error)", after: retry)
                try? await Task.sleep(for: delay)
                await member.send(.leader(.allocated(nil)))
            }
        }
    }

    private func allocatorSucceeded() {
        if allocatorRetry > .zero { lastError = nil }
        allocatorRetry = .zero
    }

    /// Records the allocator's failure; returns how long to wait before trying again (1 s,
    /// doubling up to 30 s): the failure may have been passing.
    private func allocatorFailed(_ error: String, after previous: Duration) -> Duration {
        allocatorRetry = min(max(previous * 2, .seconds(1)), .seconds(30))
        lastError = error
        logger.error("the allocator failed; keeping the grants as they are, trying again in \(allocatorRetry): \(error)")
        return allocatorRetry
    }

    // MARK: Requests

    /// Starts a read whose results go back in request order, and arms the watch it returns:
    /// when it fires, `onChange` goes to the machines.
    private func read(
        label: String, forLeader: Bool = false,
        _ body: @escaping @Sendable (ZooKeeperClient) async throws -> ([Input], Watch?, Input?)
    ) {
        guard let client else { return }
        let number = requests.start()
        spawn { member in
            var results: [Input] = []
            do {
                let (inputs, watch, onChange) = try await body(client)
                results = inputs
                if let watch, let onChange {
                    await member.spawn { member in
                        if let event = try? await watch.fired(), event.kind != .sessionEnded {
                            await member.send(onChange)
                        }
                    }
                }
            } catch {
                await member.debug("reading the \(label) failed: \(error)")
                if forLeader { await member.leaderReadFailed() }
            }
            await member.send(.completed(number, results))
        }
    }

    /// A read of the leader failed other than by the connection (a node of the group deleted
    /// behind its back): it reads everything again a second later.
    private func leaderReadFailed() {
        guard leader.isLeading, !leaderRetryPending else { return }
        leaderRetryPending = true
        spawn { member in
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            await member.retryLeaderReads()
        }
    }

    private func retryLeaderReads() {
        leaderRetryPending = false
        lead(.writeFailed(fenced: false))
    }

    /// Runs `body` as one of the session's tasks.
    private func spawn(_ body: @escaping @Sendable (Member) async -> Void) {
        sessionTasks.append(Task { [weak self] in
            guard let self else { return }
            await body(self)
        })
    }

    private func send(_ input: Input) {
        inputs?.yield(input)
    }

    private func debug(_ message: String) {
        logger.debug("\(message)")
    }

    // MARK: Queries and commands

    /// The current session, if connected or suspended.
    public var session: Session? { client?.status.session }

    /// What `status` reports (spec §9, §14).
    public var status: MemberStatus {
        let connection = client?.status
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
            lastError: lastError,
            uptime: ContinuousClock.now - startedAt,
            role: leader.isLeading ? .leader : .follower,
            leader: summary?.leader,
            awaited: summary?.awaited ?? [:])
    }

    /// Group-wide commands and reports, on this member's session.
    public func commands() throws -> GroupCommands {
        guard let client, case .connected = connection else { throw MemberError.notConnected }
        return GroupCommands(
            client: client, paths: paths, seedPartitions: configuration.seedPartitions, lastGoodPartitions: leader.partitions,
            logger: logger)
    }
}

/// Releases results in the order their requests were made.
private struct RequestOrder {
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

extension FollowerMachine {
    /// Whether `stopped` was published.
    var hasStopped: Bool { latest?.state == .stopped }
}

/// Why a command of a member could not be carried out.
public enum MemberError: Error, Sendable, Equatable, CustomStringConvertible {
    case notConnected

    public var description: String {
        switch self {
        case .notConnected: "not connected to ZooKeeper; try again when the member is active"
        }
    }
}
