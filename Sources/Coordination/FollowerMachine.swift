import Allocation

/// A member's life in protocol 2 (spec §14), as a state machine: events in, actions out, time
/// as an input. No I/O and no clock of its own; the daemon's actor (or the simulation)
/// performs the actions and reports what happened as events.
///
/// The story: on a new session the member joins (its leader-lock contender, then its member
/// node), then reads and watches the group's `assignments` node, and reads its own grant node
/// whenever the summary there says it changed: a summary is published (its epoch, members,
/// counts) only together with the grant it names, so a document's generation always goes
/// with its share. It publishes exactly the partitions of the latest grant it has read for
/// *this* session (I2),
/// under a lease counted from the last time the server answered; and once a document with a
/// grant is delivered (file written, streams sent) it acknowledges that grant's epoch in its
/// member node (I4), so the leader may give what the grant no longer holds to others. Losing
/// the connection publishes `suspended`, and `lost` when the lease runs out; a session's end
/// drops its grant. A member node deleted behind its back (seen when a summary leaves it out,
/// or an acknowledgement finds it gone) is created again at once: the session, and so the
/// grant and its lease, lives on. `stop` publishes `stopped` and leaves
/// once that is delivered.
///
/// With consumer handover (spec §15), what a grant takes away is published under `revoking`
/// until the consumer says `release EPOCH` (or the release timeout passes), and only then is
/// the grant acknowledged: the consumer's ownership, not only the daemon's, holds end to end.
/// A stop then waits for the release too before it leaves.
public struct FollowerMachine: Sendable {
    /// Who hands over what a member loses (spec §15).
    public enum Handover: Sendable, Equatable {
        /// The daemon: a grant is acknowledged once the document without what it took is out.
        case daemon
        /// The consumer: what a grant took is published as `revoking` until the consumer
        /// releases it, or until `releaseTimeout` passes (a forced release).
        case consumer(releaseTimeout: Duration)
    }

    /// A partition taken from the member and not yet released by its consumer.
    private struct Revocation: Sendable {
        /// The group's epoch when it was taken: a release of this epoch or a later one frees it.
        var epoch: Int64
        var since: ContinuousClock.Instant
    }

    /// What the machine asks its driver to do.
    public enum Action: Sendable, Equatable {
        /// Create this session's contender node in the leader lock unless it has one, then the
        /// member node with `record`; report `.joined`.
        case join(MemberRecord)
        /// Read the member's grant node; report `.grantRead`.
        case readGrant
        /// Read the `assignments` node and watch it; report `.summaryRead` and `.summaryChanged`.
        case readSummary
        /// Deliver the next publication; report `.delivered` once it is out.
        case publish(Publication)
        /// Write the member node's record (an acknowledgement); report `.acknowledged`, or
        /// `.memberNodeDeleted` if the node is gone.
        case acknowledge(MemberRecord)
        /// Look whether the member node exists and is this session's; report
        /// `.memberNodeFound`, or `.memberNodeDeleted` if not (nothing if the look failed).
        case checkMemberNode
        /// Report `.tick` at this instant (or later).
        case wake(at: ContinuousClock.Instant)
        /// Close the session (which removes the member's nodes at once).
        case leave
        /// Report (log, count): the consumer did not release these within the release timeout;
        /// they count as released.
        case releaseTimedOut(Set<Partition>)
    }

    /// What happened.
    public enum Event: Sendable, Equatable {
        /// A new session is connected, with its negotiated timeout.
        case sessionStarted(session: Int64, timeout: Duration)
        /// The connection came back within the session.
        case reconnected
        /// The connection is lost; the session may be alive.
        case disconnected
        /// The session expired or was closed.
        case sessionEnded
        /// The server answered a request sent at this instant.
        case heard(at: ContinuousClock.Instant)
        case joined
        /// The grant node's content; `nil` when there is none.
        case grantRead(Grant?)
        /// The summary, and the zxid that made its node (`czxid`; 0 if unknown): a node made
        /// anew means the group's state was deleted and made again.
        case summaryRead(GroupSummary?, made: Int64 = 0)
        /// The summary node is there but does not parse (garbage written by hand): the member
        /// keeps its last good view (an empty share published from it would drop a share the
        /// leader still grants); the leader writes the node over.
        case summaryUnreadable
        case summaryChanged
        /// The member node is gone while the session lives.
        case memberNodeDeleted
        /// The member node is there, this session's.
        case memberNodeFound
        case acknowledged(epoch: Int64)
        /// The acknowledgement could not be written (for a reason other than the node being
        /// gone): it is written again.
        case acknowledgementFailed(epoch: Int64)
        /// This many publications are delivered so far.
        case delivered(count: Int)
        case tick
        /// Read the summary and the grant again, whatever the watches said (a periodic check
        /// that no lost watch or tampered node leaves the member stale for long).
        case refresh
        /// The consumer stopped working on everything revoked up to this epoch (`release EPOCH`).
        case released(epoch: Int64)
        case stop
    }

    private enum Connection: Equatable {
        case none
        case connected
        case disconnected
    }

    public let member: String
    public let weight: Int
    public let handover: Handover
    private let mutations: Mutations

    private var session: (id: Int64, timeout: Duration)?
    private var connection = Connection.none
    private var lastHeard: ContinuousClock.Instant?
    /// The latest grant read for this session.
    private var grant: Grant?
    /// Whether a grant was read in this session (before that, the member is `joining`).
    private var granted = false
    /// Whether the member node is made in this session (and not known to be deleted since).
    private var joined = false
    /// A `.join` is due: sent at once, or once every publication made so far is delivered if
    /// one of this session's held something (`joinIfDelivered`).
    private var joinDue = false
    /// A publication of this session held partitions (or had some revoking).
    private var publishedHoldings = false
    /// A `.join` is under way (one at a time: the driver retries it until it succeeds or the
    /// session ends).
    private var joinInFlight = false
    /// A `.checkMemberNode` is under way (one at a time).
    private var checkInFlight = false
    /// The summary that goes with the latest grant read: the one the publications show.
    public private(set) var summary: GroupSummary?
    /// The zxid that made the summary node last read (its `czxid`).
    private var summaryMade: Int64?
    /// A summary read whose grant is being read: published once the grant is in.
    private var pendingSummary: GroupSummary?
    /// The next summary read reads the grant too.
    private var grantCheckDue = false
    /// The epoch acknowledged in this session (written to the member node).
    private var acknowledged: Int64 = 0
    /// An acknowledgement that waits for a publication's delivery: its epoch and the count of
    /// publications that must be delivered first.
    private var pendingAcknowledgement: (epoch: Int64, deliveries: Int)?
    /// The epoch of the acknowledgement being written.
    private var acknowledgementInFlight: Int64?
    private var published: Publication?
    private var publishedCount = 0
    private var deliveredCount = 0
    private var nextRenewal: ContinuousClock.Instant?
    private var stopping = false
    /// The publication count whose delivery lets the member leave.
    private var leaveAfter: Int?
    /// What the consumer has yet to release (consumer handover).
    private var revoking: [Partition: Revocation] = [:]
    /// The share is dropped without a handover (its grant vanished with the group's nodes).
    private var shareAbandoned = false

    public init(member: String, weight: Int = 1, handover: Handover = .daemon, mutations: Mutations = []) {
        self.member = member
        self.weight = weight
        self.handover = handover
        self.mutations = mutations
    }

    /// The acknowledged epoch and the weight, as the member node carries them.
    public var record: MemberRecord { MemberRecord(ackedEpoch: acknowledged, weight: weight) }

    /// The latest publication.
    public var latest: Publication? { published }

    /// Whether `stopped` was published.
    public var hasStopped: Bool { published?.state == .stopped }

    /// Takes one event at `now`; returns what to do, in order.
    public mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .sessionStarted(let id, let timeout):
            session = (id, timeout)
            connection = .connected
            lastHeard = now
            grant = nil
            granted = false
            summary = nil
            pendingSummary = nil
            acknowledged = 0
            pendingAcknowledgement = nil
            acknowledgementInFlight = nil
            joined = false
            joinInFlight = false
            checkInFlight = false
            publishedHoldings = false
            joinDue = !stopping
        case .reconnected:
            guard session != nil else { break }
            connection = .connected
            // Watches survive a reconnection, but read again anyway: cheap, and certain.
            if !stopping { actions += [.readSummary] }
        case .disconnected:
            if session != nil { connection = .disconnected }
        case .sessionEnded:
            session = nil
            connection = .none
            joined = false
            joinDue = false
            joinInFlight = false
            checkInFlight = false
            grant = nil
            pendingAcknowledgement = nil
            acknowledgementInFlight = nil
        case .heard(let instant):
            lastHeard = max(lastHeard ?? instant, instant)
        case .joined:
            joined = true
            joinInFlight = false
            if !stopping { actions += [.readSummary] }
        case .grantRead(let read):
            guard session != nil else { break }
            if let read, read.session == session?.id {
                if let grant, read.epoch < grant.epoch { break }
                grant = read
                granted = true
            } else {
                // No grant for this session: none yet, one of an earlier session, or deleted.
                grant = nil
            }
            if let pending = pendingSummary {
                summary = pending
                pendingSummary = nil
            }
        case .summaryRead(let read, let made):
            // The summary node made anew since the last read (the group's state deleted and made
            // again, perhaps without this member ever seeing it absent): the epochs it knew are
            // another life's. A new leader that found no record of them starts lower, and its
            // summaries and grants must not pass for stale ones. As when the node vanishes, the
            // share is dropped until a grant is read again.
            if read != nil, made != 0 {
                if let known = summaryMade, known != made, summary != nil || pendingSummary != nil || grant != nil {
                    grant = nil
                    summary = nil
                    pendingSummary = nil
                    acknowledged = 0
                    shareAbandoned = true
                }
                summaryMade = made
            }
            // The leader lists every member node it sees: a summary without this member's (once
            // it is made), or none at all (the group's nodes deleted by hand), says the node may
            // be gone; the member looks. Watching its own node instead would wake it on each of
            // its own acknowledgements.
            if joined, !checkInFlight, session != nil, !stopping, !(read?.members.contains(member) ?? false) {
                checkInFlight = true
                actions.append(.checkMemberNode)
            }
            // The summary node gone after one was read (the group's nodes deleted by hand): the
            // grant under it is gone too, and with it the leader's memory of what this member
            // holds. Publish nothing until a grant is read again, before a new leader can give
            // the share to anyone.
            if read == nil, summary != nil || pendingSummary != nil {
                grant = nil
                pendingSummary = nil
                shareAbandoned = true
            }
            guard let read, session != nil, read.epoch >= max(summary?.epoch ?? 0, pendingSummary?.epoch ?? 0) else { break }
            let named = read.grants[member]
            if named != nil, named != grant?.epoch || grant == nil || grantCheckDue {
                grantCheckDue = false
                // The grant changed: publish this summary with it, once it is read.
                pendingSummary = read
                actions.append(.readGrant)
            } else {
                if named == nil { grant = nil }
                summary = read
            }
        case .summaryUnreadable:
            break
        case .summaryChanged:
            if session != nil, !stopping { actions.append(.readSummary) }
        case .memberNodeFound:
            checkInFlight = false
        case .memberNodeDeleted:
            joined = false
            checkInFlight = false
            // An acknowledgement that did not reach the node is written again after the join.
            if let epoch = acknowledgementInFlight, pendingAcknowledgement == nil {
                pendingAcknowledgement = (epoch, 0)
            }
            acknowledgementInFlight = nil
            if session != nil, !stopping { joinDue = true }
        case .acknowledged(let epoch):
            acknowledgementInFlight = nil
            acknowledged = max(acknowledged, epoch)
        case .acknowledgementFailed(let epoch):
            if acknowledgementInFlight == epoch {
                acknowledgementInFlight = nil
                if pendingAcknowledgement == nil { pendingAcknowledgement = (epoch, 0) }
            }
        case .delivered(let count):
            deliveredCount = max(deliveredCount, count)
        case .tick:
            break
        case .refresh:
            grantCheckDue = true
            if session != nil, !stopping { actions.append(.readSummary) }
        case .released(let epoch):
            revoking = revoking.filter { $0.value.epoch > epoch }
        case .stop:
            stopping = true
        }
        // Made once an event: the standing (revoking does not change it), then the publication.
        let standing = standing(now: now)
        actions += trackRevocations(now: now, share: standing.partitions)
        actions += publishIfChanged(publication(standing), now: now, renewing: event == .tick)
        actions += joinIfDelivered()
        awaitDeliveryOfGrant()
        actions += acknowledgeIfDelivered()
        if stopping, let leaveAfter, deliveredCount >= leaveAfter {
            self.leaveAfter = nil
            if session != nil { actions.append(.leave) }
        }
        if let wake = nextWake(now: now) { actions.append(.wake(at: wake)) }
        return actions
    }

    /// Joins once a join is due and none is under way, and, if a publication of this session
    /// held something, once every publication made so far is delivered. The member node's
    /// record says what the member may hold (an acknowledged epoch of 0: nothing); it must not
    /// say so while a document that holds more is the latest one out. (A member node deleted
    /// while the summary was made anew, say: the share is dropped and the epochs start again;
    /// the node made at once would tell the leader the member holds nothing while its file
    /// still showed the share.) A new session's documents hold nothing before its node is
    /// made, and an earlier session's lease is over: its first join goes at once.
    private mutating func joinIfDelivered() -> [Action] {
        guard joinDue, !joinInFlight, session != nil, !stopping, !publishedHoldings || deliveredCount >= publishedCount
        else { return [] }
        joinDue = false
        joinInFlight = true
        return [.join(record)]
    }

    // MARK: Publishing

    /// The state, share and lease the state calls for: a publication short of what is revoking,
    /// which `trackRevocations` changes (nothing here depends on it).
    private struct Standing {
        var state: MemberState
        var partitions: Set<Partition>
        var lease: ContinuousClock.Instant?
    }

    private func standing(now: ContinuousClock.Instant) -> Standing {
        var state: MemberState
        var partitions: Set<Partition> = []
        let lease = validLease(now: now)
        if stopping {
            state = .stopped
        } else if session == nil {
            state = published == nil || published?.state == .joining ? .joining : .lost
        } else if !granted {
            state = .joining
        } else if lease == nil {
            state = .lost
        } else {
            state = connection == .connected ? .active : .suspended
            partitions = grant?.partitions ?? []
        }
        return Standing(state: state, partitions: partitions, lease: lease)
    }

    /// The publication the state calls for, once `revoking` is up to date; the only place one
    /// is made.
    private func publication(_ standing: Standing) -> Publication {
        let partitions = standing.partitions
        var lease = standing.lease
        // What the consumer has yet to release stays this member's while the lease lasts (and
        // `trackRevocations` forgets it once the lease is over).
        let revoking = lease == nil ? [] : Set(self.revoking.keys).subtracting(partitions)
        if partitions.isEmpty, revoking.isEmpty { lease = nil }
        return Publication(
            state: standing.state, epoch: epoch, strategy: summary?.strategy, partitions: partitions, revoking: revoking,
            members: summary?.members ?? [], partitionCount: summary?.partitionCount ?? 0, lease: lease)
    }

    /// The end of this session's lease, unless it is over (or there is no session).
    private func validLease(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let lastHeard, let session else { return nil }
        let from = mutations.contains(.leaseWithoutServer) ? now : lastHeard
        let deadline = Lease.deadline(lastHeard: from, sessionTimeout: session.timeout)
        return deadline > now ? deadline : nil
    }

    /// The group's epoch as this member knows it.
    private var epoch: Int64 { max(summary?.epoch ?? 0, grant?.epoch ?? 0) }

    /// With consumer handover: what the published share loses becomes `revoking`, what comes
    /// back leaves it, and what waited past the release timeout is released by force. When the
    /// lease is over (or the session), the consumer has had to stop anyway: nothing is revoking.
    /// `share` is the partitions the publication of this event holds.
    private mutating func trackRevocations(now: ContinuousClock.Instant, share: Set<Partition>) -> [Action] {
        let abandoned = shareAbandoned
        shareAbandoned = false
        guard case .consumer(let timeout) = handover else { return [] }
        guard !abandoned, validLease(now: now) != nil else {
            revoking = [:]
            return []
        }
        for partition in published?.partitions ?? [] where !share.contains(partition) && revoking[partition] == nil {
            revoking[partition] = Revocation(epoch: epoch, since: now)
        }
        for partition in share { revoking[partition] = nil }
        let overdue = revoking.filter { $0.value.since + timeout <= now }
        guard !overdue.isEmpty else { return [] }
        for partition in overdue.keys { revoking[partition] = nil }
        return [.releaseTimedOut(Set(overdue.keys))]
    }

    private mutating func publishIfChanged(_ next: Publication, now: ContinuousClock.Instant, renewing: Bool) -> [Action] {
        var renewal = false
        if let nextRenewal, now >= nextRenewal { renewal = renewing }
        if let published, !next.differsInSubstance(from: published), !renewal || next.lease == published.lease {
            return []
        }
        published = next
        publishedCount += 1
        if session != nil, !next.partitions.isEmpty || !next.revoking.isEmpty { publishedHoldings = true }
        if let timeout = session?.timeout { nextRenewal = now + timeout / 3 }
        if next.state == .stopped, next.revoking.isEmpty { leaveAfter = publishedCount }
        return [.publish(next)]
    }

    /// A grant not yet acknowledged is acknowledged once the latest publication, which holds
    /// nothing outside it, is delivered (and every one before it).
    private mutating func awaitDeliveryOfGrant() {
        // A grant the summary names whose node is gone (deleted by hand once more): the member
        // publishes nothing, which is inside any grant, so it may acknowledge that epoch; the
        // leader waits for it otherwise.
        let epoch = grant?.epoch ?? (pendingSummary == nil ? summary?.grants[member] : nil)
        guard let epoch, let published, epoch > acknowledged, epoch != acknowledgementInFlight,
              epoch != pendingAcknowledgement?.epoch, published.partitions.isSubset(of: grant?.partitions ?? []),
              published.revoking.isEmpty
        else { return }
        pendingAcknowledgement = (epoch, publishedCount)
    }

    /// Acknowledges the latest grant once the publication that shows it is delivered (I2, I4).
    private mutating func acknowledgeIfDelivered() -> [Action] {
        guard let pending = pendingAcknowledgement, session != nil, !stopping, acknowledgementInFlight == nil,
              deliveredCount >= pending.deliveries, pending.epoch > acknowledged
        else { return [] }
        pendingAcknowledgement = nil
        acknowledgementInFlight = pending.epoch
        return [.acknowledge(MemberRecord(ackedEpoch: pending.epoch, weight: weight))]
    }

    /// The next instant something is due: a renewal, the lease's end, or a release timeout.
    private func nextWake(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var releaseDue: ContinuousClock.Instant?
        if case .consumer(let timeout) = handover, let oldest = revoking.values.map(\.since).min() {
            releaseDue = oldest + timeout
        }
        return [nextRenewal, published?.lease, releaseDue].compactMap { $0 }.filter { $0 > now }.min()
    }
}
