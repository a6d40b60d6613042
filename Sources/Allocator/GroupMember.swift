import Allocation
import Foundation
import Logging
import Recipes
import ZooKeeper

/// One member of a group: the state machine of spec §7.
///
/// The story of a member: it connects and publishes `joining`; it pins or adopts the group's
/// strategy, seeds the partition set, joins the party, reads its view, computes the allocation
/// and publishes `active` with a lease. Every change of members or partitions (watched, and
/// re-read in full every few minutes and after every reconnection) makes it read the view and
/// rebalance again. When the connection drops it publishes `suspended` at once, keeping its
/// share until the lease runs out; at that deadline it publishes `lost` with an empty share.
/// A reconnection within the session reads the view again and goes back to `active`; an
/// expired session makes it start over with a new one. `stop()` publishes `stopped`, leaves
/// the group and closes the session.
///
/// Every document it publishes is in `documents`, in order. The share in it is the strategy's
/// result for the member's view, less partitions still being handed over to it (`awaited`),
/// or empty.
public actor GroupMember {
    /// Every document this member publishes, in order; identical documents are not repeated.
    /// Ends after `stopped`.
    public nonisolated let documents: AsyncStream<MemberDocument>
    private let documentSink: AsyncStream<MemberDocument>.Continuation

    public nonisolated let configuration: MemberConfiguration
    private let logger: Logger
    private let startedAt = ContinuousClock.now

    // The session.
    private var client: ZooKeeperClient?
    private var connection = SessionState.connecting
    private var events: AsyncStream<Event>.Continuation?
    private var sessionTasks: [Task<Void, Never>] = []
    private var watchTasks: [WatchedNode: Task<Void, Never>] = [:]
    private var stopping = false
    private var seeded = false
    /// What made membership impossible during a session; `run()` throws it.
    private var membershipError: (any Error)?

    // What the member knows.
    private var strategy: Strategy?
    private var view: View?
    private var allocation: Allocation?
    /// `allocation.digest`, computed once per allocation.
    private var digest = ""
    /// This member's partitions in `allocation`, in `Partition` order.
    private var ownPartitions: [Partition] = []
    private var lastGoodPartitions: (partitions: [Partition], version: Int32)?
    private var partitionSetSize = 0
    /// `mzxid` of the partition data read last.
    private var partitionsReadAt: Int64?
    /// Whether a watch on the partition set is in place and has not fired: then the last read
    /// is current (ZooKeeper tells of a change before answering any later read).
    private var partitionsWatchArmed = false
    /// Whether the next view read looks at the partition set's `mzxid` even with the watch
    /// armed: after a reconnection, on the periodic read, after a lease ran out.
    private var recheckPartitions = true
    private var malformedPartitions: (reason: String, version: Int32)?
    private var lastError: String?
    private var lastRebalance: (at: Date, duration: Duration)?
    private var metadataPublished: MemberMetadata?
    /// Partitions of this member's allocation it did not publish before: held back from the
    /// share until every other member has shown (in its metadata) that it rebalanced to
    /// exactly this view, or has left the group (see `awaitHandovers`).
    private var awaited: Set<Partition> = []
    /// The other members whose acknowledgement of the view `awaited` waits for.
    private var unacknowledged: Set<String> = []
    /// The partitions of the share published last.
    private var held: Set<Partition> = []

    // Freshness: a lease that ran out makes the view stale until it is read again.
    private var viewIsFresh = false
    private var staleness = 0
    private var leaseDeadline: ContinuousClock.Instant?
    private var leaseTimer: Task<Void, Never>?

    /// A failed `exec:` allocation is tried again after this delay (doubling, up to 30 s), even
    /// without a change: the failure may have been passing (a slow start under load).
    private var execRetry: (delay: Duration, timer: Task<Void, Never>)?

    // Coalescing of changes.
    private var refreshQueued = false
    private var debounce: (firstChange: ContinuousClock.Instant, timer: Task<Void, Never>)?

    private var published: MemberDocument?

    // Delivery of documents (see `awaitDelivery`): counts of documents yielded and reported
    // delivered; `nil` while nobody reports.
    private var yieldedCount = 0
    private var deliveredCount: Int?
    private var deliveryWaiter: (count: Int, continuation: CheckedContinuation<Void, Never>)?

    private enum Event: Sendable {
        /// Read the view and rebalance.
        case refresh
        /// The session is over (expired, failed or closed).
        case sessionEnded
    }

    private enum WatchedNode: Hashable {
        case members, partitions
        /// A member whose release of partitions this member waits for.
        case member(String)
    }

    public init(configuration: MemberConfiguration, logger: Logger) {
        self.configuration = configuration
        self.strategy = configuration.strategy
        var logger = logger
        logger[metadataKey: "group"] = "\(configuration.layout.group)"
        logger[metadataKey: "member"] = "\(configuration.member)"
        self.logger = logger
        (documents, documentSink) = AsyncStream.makeStream(of: MemberDocument.self)
    }

    // MARK: Running

    /// Runs the member until `stop()`, starting a new session whenever one expires.
    /// - Throws: what makes membership impossible: the name is held by another live session
    ///   (`PartyError`), the group uses another strategy (`StrategyMismatch`) or a program this
    ///   member is not configured with (`UnconfiguredExecStrategy`), the group's
    ///   settings do not parse, the credential was refused. `stopped` is published first.
    public func run() async throws {
        publish()
        do {
            try await ensureChroot()
            while !stopping {
                let client = try await ZooKeeperClient.connect(configuration.zooKeeper, logger: logger)
                // stop() came while connecting: it found no session to close.
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
            // stop() closed the chroot's client under ensureChroot(); it has published `stopped`.
        } catch {
            logger.error("cannot stay in the group: \(error)")
            stopping = true
            endSession()
            await client?.close()
            publish()
            documentSink.finish()
            throw error
        }
    }

    /// Publishes `stopped`, leaves the group (the others rebalance at once) and closes the
    /// session; `run()` then returns. Leaving is tried only while connected, and for at most a
    /// second: without ZooKeeper, closing is all there is to do (the session then expires).
    public func stop() async {
        guard !stopping else { return }
        stopping = true
        deliveryWaiter?.continuation.resume()
        deliveryWaiter = nil
        publish()
        if let client {
            if case .connected = connection {
                let party = Party(client: client, path: configuration.layout.membersPath, member: configuration.member)
                let left = await withTaskGroup(of: Bool.self) { group in
                    group.addTask { (try? await party.leave()) != nil }
                    group.addTask {
                        try? await Task.sleep(for: .seconds(1))
                        return false
                    }
                    defer { group.cancelAll() }
                    return await group.next() ?? false
                }
                if !left { logger.warning("could not leave the group before closing the session") }
            }
            await client.close()
        }
        documentSink.finish()
    }

    private func runSession(_ client: ZooKeeperClient) async throws {
        self.client = client
        connection = .connecting
        view = nil
        allocation = nil
        ownPartitions = []
        awaited = []
        unacknowledged = []
        viewIsFresh = false
        metadataPublished = nil
        publish()
        let (stream, events) = AsyncStream.makeStream(of: Event.self)
        self.events = events
        sessionTasks.append(Task { [weak self] in
            for await state in client.sessionStates() { await self?.sessionChanged(to: state) }
        })

        let session = try await client.waitUntilConnected()
        logger.info("connected", metadata: [
            "session": "0x\(String(session.id, radix: 16))", "timeout": "\(session.timeout)",
        ])
        try await setUp(client, session: session)
        startTickers(session: session)
        requestRefresh()
        for await event in stream {
            switch event {
            case .refresh:
                refreshQueued = false
                await refresh()
            case .sessionEnded:
                if let membershipError { throw membershipError }
                if case .expired = connection {
                    throw ZooKeeperError(code: .sessionExpired, operation: "session", path: nil)
                }
                if case .authFailed = connection {
                    throw ZooKeeperError(code: .authFailed, operation: "session", path: nil)
                }
                return
            }
        }
    }

    private func endSession() {
        sessionTasks.forEach { $0.cancel() }
        sessionTasks = []
        watchTasks.values.forEach { $0.cancel() }
        watchTasks = [:]
        partitionsWatchArmed = false
        recheckPartitions = true
        debounce?.timer.cancel()
        debounce = nil
        execRetry?.timer.cancel()
        execRetry = nil
        leaseTimer?.cancel()
        events?.finish()
        events = nil
        refreshQueued = false
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

    // MARK: Joining

    private func setUp(_ client: ZooKeeperClient, session: Session) async throws {
        let layout = configuration.layout
        try await client.retrying {
            try await client.ensurePath(layout.membersPath)
            try await client.ensurePath(layout.partitionsPath)
        }
        let strategy = try await pinStrategy(client)
        self.strategy = strategy
        if !seeded {
            await seed(client)
        }
        // Read (and parse) the partition set before joining: the others rebalance as soon as
        // this member's node appears, and its own first view then costs no more than theirs.
        _ = try await readPartitions(client)
        let party = Party(client: client, path: layout.membersPath, member: configuration.member)
        try await party.join(data: joiningMetadata.encoded, conflictWait: Self.conflictWait(session.timeout))
        logger.info("joined", metadata: ["strategy": "\(strategy.name)"])
    }

    /// How long to wait for a member name held by another session: a session timeout, and half
    /// as much again, because the server expires sessions on its tick boundaries, a little after
    /// their timeout (a member restarted at once after a crash would otherwise give up first).
    private static func conflictWait(_ sessionTimeout: Duration) -> Duration {
        sessionTimeout * 3 / 2
    }

    /// The group's strategy: the configured one pinned in the group znode by the first
    /// allocatord member, adopted by members configured with none (spec §6).
    private func pinStrategy(_ client: ZooKeeperClient) async throws -> Strategy {
        let path = configuration.layout.groupPath
        while true {
            let node = try await client.retrying { try await client.getData(path) }
            let pinned = try GroupSettings(data: node.data, path: path).strategy
            switch (configuration.strategy, pinned) {
            case (let configured?, let pinned?) where configured != pinned:
                throw StrategyMismatch(group: configuration.layout.group, configured: configured.name, pinned: pinned.name)
            case (nil, .exec(let path)?):
                // Nothing read from ZooKeeper is run (spec §13).
                throw UnconfiguredExecStrategy(group: configuration.layout.group, path: path)
            case (_, let pinned?):
                return pinned
            case (let configured, nil):
                let chosen = configured ?? Strategy.default
                do {
                    try await client.retrying {
                        try await client.setData(path, GroupSettings(strategy: chosen).encoded, version: node.stat.version)
                    }
                    logger.info("pinned the group's strategy", metadata: ["strategy": "\(chosen.name)"])
                    return chosen
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    continue  // Someone else pinned it meanwhile (or our write went through): read again.
                }
            }
        }
    }

    /// Adds the seed partitions to the set (a union), once per process.
    private func seed(_ client: ZooKeeperClient) async {
        guard !configuration.seedPartitions.isEmpty else {
            seeded = true
            return
        }
        do {
            try await partitionSet(client).add(Set(configuration.seedPartitions.map(\.description)))
            seeded = true
        } catch let error as SharedSetError {
            // Malformed or full: report, never overwrite; the member runs on what is there.
            lastError = "seeding the partition set: \(error)"
            logger.error("could not seed the partition set: \(error)")
            seeded = true
        } catch {
            logger.warning("could not seed the partition set yet: \(error)")
        }
    }

    private func partitionSet(_ client: ZooKeeperClient) -> SharedSet {
        SharedSet(client: client, path: configuration.layout.partitionsPath) { item in
            do throws(PartitionError) {
                _ = try Partition(parsing: item)
                return nil
            } catch {
                return error.reason
            }
        }
    }

    /// The metadata of a member that has no allocation yet.
    private var joiningMetadata: MemberMetadata {
        MemberMetadata(host: configuration.host, pid: configuration.pid, strategy: strategy?.name ?? "", generation: 0, digest: "")
    }

    // MARK: Reading the view and rebalancing

    /// Queues a view read (one at most). `recheckingPartitions`: look at the partition set's
    /// `mzxid` even if its watch has not fired.
    private func requestRefresh(recheckingPartitions: Bool = false) {
        if recheckingPartitions { recheckPartitions = true }
        guard !refreshQueued, let events else { return }
        refreshQueued = true
        events.yield(.refresh)
    }

    /// A watched node changed: rebalance after the configured quiet time (spec §12).
    private func changed() {
        let quiet = configuration.rebalanceDelayMin
        guard quiet > .zero else {
            requestRefresh()
            return
        }
        let now = ContinuousClock.now
        let firstChange = debounce?.firstChange ?? now
        debounce?.timer.cancel()
        let due = min(now + quiet, firstChange + max(configuration.rebalanceDelayMax, quiet))
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(until: due)) != nil else { return }
            await self?.debounceElapsed()
        }
        debounce = (firstChange, timer)
    }

    private func debounceElapsed() {
        debounce = nil
        requestRefresh()
    }

    /// Reads members and partitions (setting watches), computes the allocation and publishes.
    private func refresh() async {
        guard !stopping, let client, let strategy else { return }
        let began = ContinuousClock.now
        let staleness = self.staleness
        let layout = configuration.layout
        let party = Party(client: client, path: layout.membersPath, member: configuration.member)
        do {
            // Independent reads, sent together.
            async let membership = party.members()
            async let ownNode = party.ownNode()
            let partitionSet = try await readPartitions(client)
            let (names, membersVersion, membersWatch) = try await membership
            let node = try await ownNode
            watch(.members, membersWatch)
            guard let partitions = partitionSet else { return }

            guard !stopping else { return }
            guard let node, names.contains(configuration.member) else {
                try await rejoin(party)
                return
            }
            let newView = View(
                members: names.sorted(by: utf8Precedes), membersVersion: membersVersion,
                partitions: partitions.partitions, partitionsVersion: partitions.version)
            if newView != view || allocation == nil {
                let computed = try await allocate(strategy, newView)
                if let execRetry {
                    // The allocator behaves again: its error is over.
                    execRetry.timer.cancel()
                    self.execRetry = nil
                    lastError = nil
                }
                let share = computed.partitions(of: configuration.member)
                awaited = Set(share).subtracting(held)
                // By bytes: `!=` would take a canonically equivalent name for this member's.
                unacknowledged = Set(newView.members.filter { !$0.utf8.elementsEqual(configuration.member.utf8) })
                view = newView
                allocation = computed
                ownPartitions = share
                digest = computed.digest
                lastRebalance = (Date.now, ContinuousClock.now - began)
                logger.info("rebalanced", metadata: [
                    "generation": "\(newView.generation)", "members": "\(newView.members.count)",
                    "partitions": "\(newView.partitions.count)", "share": "\(share.count)",
                ])
            }
            if staleness == self.staleness { viewIsFresh = true }
            // What this member loses is dropped at once (others wait for it), before its
            // metadata says so; a view that gains nothing is complete and goes out too. What it
            // gains waits for the others: their acknowledgements are read (all at once) before
            // the view goes out, with the gains they allow.
            if awaited.isEmpty || !held.isSubset(of: ownPartitions) { publish() }
            try await publishMetadata(party, nodeVersion: node.version)
            try await awaitHandovers(party)
            publish()
        } catch let error as ExecStrategyError {
            lastError = "\(error)"
            let delay = min((execRetry?.delay ?? .milliseconds(500)) * 2, .seconds(30))
            logger.error("the allocator failed; keeping the last good allocation, trying again in \(delay): \(error)")
            if staleness == self.staleness, allocation != nil { viewIsFresh = true }
            publish()
            execRetry?.timer.cancel()
            execRetry = (delay, Task { [weak self] in
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                await self?.requestRefresh()
            })
        } catch let error as PartyError {
            // The name is held by another session now: membership is impossible.
            membershipError = error
            events?.yield(.sessionEnded)
        } catch {
            // Connection trouble: the reconnection (or the new session) reads everything again.
            logger.debug("reading the view failed: \(error)")
        }
    }

    /// The partition set, with a watch on it: the last good read while its watch is armed
    /// (a membership change alone costs nothing here), read and parsed again only when its
    /// `mzxid` changed since the last good read.
    private func readPartitions(_ client: ZooKeeperClient) async throws -> (partitions: [Partition], version: Int32)? {
        if partitionsWatchArmed, !recheckPartitions, malformedPartitions == nil, let cached = lastGoodPartitions {
            return cached
        }
        recheckPartitions = false
        let path = configuration.layout.partitionsPath
        let (stat, existsWatch) = try await client.retrying { try await client.existsWatching(path) }
        if let stat, let cached = lastGoodPartitions, stat.mzxid == partitionsReadAt, malformedPartitions == nil {
            watch(.partitions, existsWatch)
            partitionSetSize = Int(stat.dataLength)
            return cached
        }
        let (snapshot, partitionsWatch) = try await partitionSet(client).readWatching()
        watch(.partitions, partitionsWatch)
        partitionSetSize = snapshot.size
        partitionsReadAt = snapshot.modifiedZxid
        return usablePartitions(snapshot)
    }

    /// The partitions to allocate: the set as read, or the last good one if the data does not
    /// parse (spec §5); `nil` if there is none yet.
    private func usablePartitions(_ snapshot: SharedSet.Snapshot) -> (partitions: [Partition], version: Int32)? {
        switch snapshot.contents {
        case .valid(let items):
            let partitions = items.compactMap { try? Partition(parsing: $0) }.sorted()
            lastGoodPartitions = (partitions, snapshot.version)
            if malformedPartitions != nil {
                logger.notice("the partition set parses again")
                malformedPartitions = nil
                lastError = nil
            }
            return lastGoodPartitions
        case .malformed(let reason):
            if malformedPartitions?.version != snapshot.version {
                logger.error("""
                    the partition set at \(configuration.layout.partitionsPath) does not parse (\(reason)); \
                    keeping the last good view; fix it or run `allocatorctl repair`
                    """)
            }
            malformedPartitions = (reason, snapshot.version)
            lastError = "the partition set does not parse: \(reason)"
            return lastGoodPartitions
        }
    }

    private func allocate(_ strategy: Strategy, _ view: View) async throws -> Allocation {
        try await strategy.allocate(members: view.members, partitions: view.partitions, execTimeout: configuration.execTimeout)
    }

    /// Releases the partitions this member newly takes once every other member has rebalanced
    /// to this very view (its metadata says so: it has published its own share of the view,
    /// without them) or has left; watches the nodes of those that have not,
    /// and checks each again alone when its node changes (`acknowledgementMayHaveChanged`).
    /// A member that died with its session alive thus keeps its partitions until the session
    /// expires, as its published lease promises: no two members ever publish one partition as
    /// theirs at once. Members without allocatord metadata (kiel) cannot say so and are not
    /// waited for.
    private func awaitHandovers(_ party: Party) async throws {
        guard let view, !awaited.isEmpty else { return }
        // One read per member, all sent together.
        let pending = try await withThrowingTaskGroup(of: (String, Watch?).self) { group in
            for member in unacknowledged {
                group.addTask { (member, try await Self.unacknowledgedWatch(party, member, view)) }
            }
            var pending: [(String, Watch?)] = []
            for try await result in group { pending.append(result) }
            return pending
        }
        guard self.view == view else { return }
        for (member, watch) in pending {
            if let watch {
                self.watch(.member(member), watch)
            } else {
                unacknowledged.remove(member)
                watchTasks.removeValue(forKey: .member(member))?.cancel()
            }
        }
        if unacknowledged.isEmpty { awaited = [] }
    }

    /// A watched member's node changed: reads it again, alone.
    private func acknowledgementMayHaveChanged(_ member: String) async {
        guard let view, let client, unacknowledged.contains(member) else { return }
        let party = Party(client: client, path: configuration.layout.membersPath, member: configuration.member)
        do {
            let watch = try await Self.unacknowledgedWatch(party, member, view)
            guard self.view == view, unacknowledged.contains(member) else { return }
            if let watch { self.watch(.member(member), watch) } else { acknowledged(member) }
        } catch {
            // Connection trouble: the reconnection reads everything again.
            logger.debug("reading member \(member) failed: \(error)")
        }
    }

    private func acknowledged(_ member: String) {
        unacknowledged.remove(member)
        watchTasks.removeValue(forKey: .member(member))?.cancel()
        guard unacknowledged.isEmpty, !awaited.isEmpty else { return }
        awaited = []
        publish()
    }

    /// A watch on `member`'s node if its metadata shows another view than `view`; `nil` once
    /// it shows exactly that view, keeps no allocatord metadata, or its node is gone. (A member
    /// already at a newer view may hold again what this view takes from it: this member's own
    /// view is then stale, its watches fire, and it waits on the newer view instead.)
    private static func unacknowledgedWatch(_ party: Party, _ member: String, _ view: View) async throws -> Watch? {
        let path = ZNodePath.join(party.path, member)
        do {
            let (node, watch) = try await party.client.retrying { try await party.client.getDataWatching(path) }
            if let metadata = MemberMetadata(decoding: node.data),
               !metadata.isAt(membersVersion: view.membersVersion, partitionsVersion: view.partitionsVersion) {
                return watch
            }
        } catch let error as ZooKeeperError where error.code == .noNode {}
        return nil
    }

    /// Keeps one task per watched node that turns the watch's firing into a change (of the
    /// view, or of a member's acknowledgement).
    private func watch(_ node: WatchedNode, _ watch: Watch) {
        watchTasks[node]?.cancel()
        if node == .partitions { partitionsWatchArmed = true }
        watchTasks[node] = Task { [weak self] in
            guard let event = try? await watch.fired(), event.kind != .sessionEnded else { return }
            switch node {
            case .members: await self?.changed()
            case .partitions: await self?.partitionsChanged()
            case .member(let member): await self?.acknowledgementMayHaveChanged(member)
            }
        }
    }

    private func partitionsChanged() {
        partitionsWatchArmed = false
        changed()
    }

    /// Writes generation and digest into the member's node (at `nodeVersion`, as the view's
    /// read found it), so tools and the other members can see agreement. Others take it as
    /// this member's acknowledgement of the view, so it goes only after the documents
    /// published before it are delivered (`awaitDelivery`).
    private func publishMetadata(_ party: Party, nodeVersion: Int32) async throws {
        await awaitDelivery()
        guard !stopping, let view, allocation != nil else { return }
        let metadata = MemberMetadata(
            host: configuration.host, pid: configuration.pid, strategy: strategy?.name ?? "",
            generation: view.generation, digest: digest,
            membersVersion: view.membersVersion, partitionsVersion: view.partitionsVersion)
        guard metadata != metadataPublished else { return }
        do {
            try await party.update(data: metadata.encoded, version: nodeVersion)
            metadataPublished = metadata
        } catch PartyError.notMember {
            try await rejoin(party)
        }
    }

    /// Our node is gone while the session lives (deleted by hand), or another session holds
    /// our name (a kiel consumer takes names over): join again (waiting as on start), then
    /// read again.
    private func rejoin(_ party: Party) async throws {
        logger.warning("this member's node is gone or no longer ours; joining again")
        metadataPublished = nil
        // Whoever holds the name now may hold our share: drop it until we are back.
        viewIsFresh = false
        staleness += 1
        publish()
        let wait = client?.status.session?.timeout ?? configuration.zooKeeper.sessionTimeout
        try await party.join(data: joiningMetadata.encoded, conflictWait: Self.conflictWait(wait))
        requestRefresh(recheckingPartitions: true)
    }

    // MARK: Session events and the lease

    private func sessionChanged(to state: SessionState) {
        let previous = connection
        connection = state
        switch state {
        case .connected:
            if case .suspended = previous {
                logger.info("reconnected within the session")
                requestRefresh(recheckingPartitions: true)
            }
        case .suspended:
            logger.warning("connection lost; the share stays valid until its lease runs out")
        case .expired, .authFailed, .closed:
            // A wait for deliveries must not hold up the end of the session; the metadata write
            // after it fails on the dead session, so nothing is acknowledged.
            deliveryWaiter?.continuation.resume()
            deliveryWaiter = nil
            events?.yield(.sessionEnded)
        case .connecting:
            break
        }
        publish()
    }

    private func startTickers(session: Session) {
        // Renew the lease at least every third of the session timeout (spec §8).
        let renewal = session.timeout / 3
        sessionTasks.append(Task { [weak self] in
            while (try? await Task.sleep(for: renewal)) != nil {
                await self?.publish(renewingLease: true)
            }
        })
        let fullRead = configuration.fullReadInterval
        sessionTasks.append(Task { [weak self] in
            while (try? await Task.sleep(for: fullRead)) != nil {
                await self?.requestRefresh(recheckingPartitions: true)
            }
        })
    }

    /// The end of the lease the session has now.
    private var currentLease: ContinuousClock.Instant? {
        guard let client, let heard = client.status.lastHeardFromServer, let session = client.status.session else {
            return nil
        }
        return Lease.deadline(lastHeard: heard, sessionTimeout: session.timeout)
    }

    // MARK: Publishing

    /// Publishes the document that the member's state calls for, unless it is the one
    /// published last. The only place documents are made.
    ///
    /// A document that differs from the last only in its lease goes out only when
    /// `renewingLease` (the renewal ticker, the lease's deadline): every answer from ZooKeeper
    /// moves the lease on a little, and a rebalance would otherwise publish the same share
    /// two or three times (a file write and a `watch` line each).
    private func publish(renewingLease: Bool = false) {
        let now = ContinuousClock.now
        if let deadline = leaseDeadline, now >= deadline, viewIsFresh {
            // The lease ran out (the connection is gone, or this process was paused): nothing
            // read before may be published as valid again; read the view anew first.
            logger.warning("the lease ran out; the share is dropped until the view is read again")
            viewIsFresh = false
            staleness += 1
            if case .connected = connection { requestRefresh(recheckingPartitions: true) }
        }
        var state: MemberState
        var lease: ContinuousClock.Instant?
        if stopping {
            state = .stopped
        } else if view == nil || allocation == nil {
            state = .joining
        } else {
            let current = currentLease.flatMap { $0 > now ? $0 : nil }
            switch connection {
            case .connected where viewIsFresh && current != nil:
                state = .active
                lease = current
            case .suspended, .connecting:
                state = viewIsFresh && current != nil ? .suspended : .lost
                lease = state == .suspended ? current : nil
            default:
                state = .lost
            }
        }
        let share = lease == nil ? [:] : currentShare
        if share.isEmpty { lease = nil }
        var document = MemberDocument(
            group: configuration.layout.group, member: configuration.member, state: state,
            generation: view?.generation ?? 0, strategy: strategy?.name, allocation: share,
            members: view?.members ?? [], partitionCount: view?.partitions.count ?? 0,
            validUntil: lease.map(Lease.wallClock), updatedAt: published?.updatedAt ?? Date.now)
        if let published, document.differsInSubstance(from: published) { document.updatedAt = Date.now }
        // Renewals compare the lease itself: its wall-clock time wobbles with the clock.
        var unchanged = document
        unchanged.validUntil = published?.validUntil
        if unchanged == published, lease == leaseDeadline || !renewingLease { return }
        published = document
        held = Set(document.allocation.flatMap { topic, ids in ids.map { Partition(topic: topic, id: $0) } })
        leaseDeadline = lease
        scheduleLeaseTimer(lease)
        documentSink.yield(document)
        yieldedCount += 1
    }

    /// This member's share of the allocation, less the partitions still being handed over.
    private var currentShare: [String: [Int]] {
        var share: [String: [Int]] = [:]
        for partition in ownPartitions where !awaited.contains(partition) {
            share[partition.topic, default: []].append(partition.id)
        }
        return share.mapValues { $0.sorted() }
    }

    /// Publishes again when the lease runs out, so `lost` goes out at the deadline.
    private func scheduleLeaseTimer(_ deadline: ContinuousClock.Instant?) {
        leaseTimer?.cancel()
        guard let deadline else { return }
        leaseTimer = Task { [weak self] in
            guard (try? await Task.sleep(until: deadline)) != nil else { return }
            await self?.publish(renewingLease: true)
        }
    }

    // MARK: Delivery

    /// Makes the member wait, before each acknowledgement of a view to the others (its metadata
    /// write), until every document it published before has been reported with `delivered()`:
    /// written to the file and sent to the streams. Otherwise a member killed between the two
    /// would leave a file that still claims, under its lease, partitions it has acknowledged
    /// handing over. Call it before `run()`, from the consumer of `documents`.
    public func reportsDeliveries() {
        deliveredCount = yieldedCount
    }

    /// The consumer of `documents` has delivered the next document.
    public func delivered() {
        guard let count = deliveredCount else { return }
        deliveredCount = count + 1
        if let waiter = deliveryWaiter, count + 1 >= waiter.count {
            deliveryWaiter = nil
            waiter.continuation.resume()
        }
    }

    /// Waits until every document yielded so far is delivered (at once while nobody reports,
    /// or once stopping).
    private func awaitDelivery() async {
        let target = yieldedCount
        guard let delivered = deliveredCount, delivered < target, !stopping else { return }
        await withCheckedContinuation { continuation in
            deliveryWaiter?.continuation.resume()
            deliveryWaiter = (target, continuation)
        }
    }

    // MARK: Queries and commands

    /// The current session, if connected or suspended.
    public var session: Session? { client?.status.session }

    /// The whole allocation of the current view, for every member, with the view's generation
    /// (read together, so they always belong to each other).
    public var currentAllocation: (generation: Int64, allocation: Allocation)? {
        guard let view, let allocation else { return nil }
        return (view.generation, allocation)
    }

    /// What `status` reports (spec §9).
    public var status: MemberStatus {
        let connection = client?.status
        return MemberStatus(
            connection: connection?.state ?? .connecting,
            sessionID: connection?.session?.id,
            sessionTimeout: connection?.session?.timeout,
            member: configuration.member,
            state: published?.state ?? .joining,
            generation: view?.generation ?? 0,
            strategy: strategy?.name,
            lastRebalanceAt: lastRebalance?.at,
            lastRebalanceDuration: lastRebalance?.duration,
            memberCount: view?.members.count ?? 0,
            partitionCount: view?.partitions.count ?? 0,
            shareCount: ownPartitions.count,
            partitionSetSize: partitionSetSize,
            partitionSetLimit: SharedSet.defaultSizeLimit,
            partitionSetMalformed: malformedPartitions?.reason,
            lastError: lastError,
            uptime: ContinuousClock.now - startedAt)
    }

    /// The partitions of the current view.
    public var partitions: [Partition]? { view?.partitions }

    /// Every member of the group with its metadata (spec §4, `members`), read now; `nil`
    /// metadata for a member that keeps none (kiel) or keeps something else.
    public func memberReport() async throws -> [(member: String, metadata: MemberMetadata?)] {
        let client = try connectedClient()
        let party = Party(client: client, path: configuration.layout.membersPath, member: configuration.member)
        var report: [(member: String, metadata: MemberMetadata?)] = []
        for name in try await party.members().names.sorted(by: utf8Precedes) {
            guard let data = try await party.data(of: name) else { continue }
            report.append((name, MemberMetadata(decoding: data)))
        }
        return report
    }

    /// Adds partitions to the group's set; returns the number of partitions in the set after.
    public func add(_ partitions: [Partition]) async throws -> Int {
        try await partitionSet(connectedClient()).add(Set(partitions.map(\.description))).count
    }

    /// Removes partitions from the group's set; returns the number left.
    public func remove(_ partitions: [Partition]) async throws -> Int {
        try await partitionSet(connectedClient()).remove(Set(partitions.map(\.description))).count
    }

    /// Overwrites a partition set that does not parse with the last good view, or the seed
    /// partitions if there is none (spec §9 `repair`); returns the number written.
    public func repair() async throws -> Int {
        let set = partitionSet(try connectedClient())
        let snapshot = try await set.read()
        guard case .malformed = snapshot.contents else { throw SharedSetError.notMalformed(path: set.path) }
        let items = lastGoodPartitions?.partitions ?? configuration.seedPartitions
        try await set.repair(with: Set(items.map(\.description)), malformedVersion: snapshot.version)
        logger.notice("repaired the partition set", metadata: ["partitions": "\(items.count)"])
        return items.count
    }

    private func connectedClient() throws -> ZooKeeperClient {
        guard let client, case .connected = connection else { throw MemberError.notConnected }
        return client
    }
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
