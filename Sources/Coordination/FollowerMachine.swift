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
///
/// The states (`State`), each with its own data:
/// - `noSession`: before the first session, and from a session's end to the next one's start.
///   Nothing is held (a lease needs a session).
/// - `inSession(Session)`: a session is open, connected or not. Everything that ends with it
///   is in `Session`: its timeout and when the server last answered (the lease), the
///   connection, this session's grant (`GrantRead`: none read yet, read, or dropped), its
///   member node and the joins that make it (`MemberNode`, `Join`), and its acknowledgements,
///   one being written and the next waiting for its document's delivery (`Acknowledgement`).
///
/// Beside the state, what outlives a session: a stop (`Stop`: it may come in either state, and
/// from then on nothing is joined or acknowledged); the summary the documents show, and
/// one whose grant is being read; the summary node's `czxid`; the epoch the last member node's
/// record carries (until the next session); the publications made and delivered
/// (`Publications`); and what the consumer has yet to release. Each event changes these; then
/// the document is made from them and the clock (`standing`): `stopped` once a stop is asked;
/// with no session `lost` (`joining` if nothing else was ever published); in a session
/// `joining` until a grant of this session is read, `lost` once the lease is over, otherwise
/// `active` or `suspended` as the connection goes.
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
        /// The member node is made (or found, of this session), by the transaction `made`
        /// (its `czxid`; 0 if unknown).
        case joined(made: Int64 = 0)
        /// The grant node's content, and its data version (-1 if unknown); `nil` when there is
        /// none.
        case grantRead(Grant?, version: Int32 = -1)
        /// The summary, and the zxid that made its node (`czxid`; 0 if unknown): a node made
        /// anew means the group's state was deleted and made again.
        /// `modified`: the zxid that last wrote it (`mzxid`; 0 if unknown).
        case summaryRead(GroupSummary?, made: Int64 = 0, modified: Int64 = 0)
        /// What this member, leading, just wrote, taken as read: the summary (and the zxid that
        /// made its node), then this member's grant if the write changed it. As `summaryRead`
        /// then `grantRead`, but no read of the grant is asked for: it is the one written.
        case written(GroupSummary, made: Int64, grant: WrittenGrant)
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

    /// What a leader's write did to its own member's grant (`Event.written`).
    public enum WrittenGrant: Sendable, Equatable {
        case unchanged
        /// The grant written, and its node's version after the write (-1 if unknown).
        case set(Grant, version: Int32 = -1)
        case deleted
    }

    // MARK: State

    /// Where the member is in its sessions.
    private enum State: Sendable {
        /// No session: before the first one, or since one ended until the next starts.
        case noSession
        /// A session is open, connected or not.
        case inSession(Session)
    }

    /// What a session knows and has under way: all of it ends with the session.
    private struct Session: Sendable {
        let id: Int64
        /// The negotiated timeout: the lease and its renewals count in it.
        let timeout: Duration
        var connection = Connection.connected
        /// The latest instant at which a request was sent that the server answered: the lease
        /// counts from it.
        var lastHeard: ContinuousClock.Instant
        var grant = GrantRead.notYetRead
        var node = MemberNode.missing
        var join: Join
        var acknowledgement = Acknowledgement()
        /// A publication of this session held partitions (or had some revoking): a join waits
        /// for deliveries from then on (`joinIfDelivered`).
        var publishedHoldings = false

        /// The zxid that made the member node (0 if unknown): a summary written before it
        /// cannot list the member, and says nothing of its node.
        var nodeMadeAt: Int64 = 0

        /// `.joined`: the node is made by `made` (a check under way goes on), and the join under
        /// way is done; another is due if the node was seen gone meanwhile.
        mutating func nodeMade(at made: Int64) {
            nodeMadeAt = made
            if case .missing = node { node = .made(checking: false) }
            if case .underWay(let dueAgain) = join { join = dueAgain ? .due : .notDue }
        }
    }

    private enum Connection: Sendable {
        case connected
        case disconnected
    }

    /// This session's grant, as read.
    private enum GrantRead: Sendable {
        /// None of this session read yet: the member is `joining`.
        case notYetRead
        /// The latest grant read for this session, and its node's version (-1 if unknown): its
        /// partitions are the share.
        case read(Grant, version: Int32)
        /// One was read, but there is none now (deleted, the summary names none, or the node
        /// holds another session's): the share is empty.
        case dropped

        /// The grant, if one of this session is current.
        var current: Grant? {
            if case .read(let grant, _) = self { grant } else { nil }
        }

        /// There is no grant now: one read is dropped; none read yet stays so.
        mutating func drop() {
            if case .read = self { self = .dropped }
        }
    }

    /// What the member knows of its node in this session.
    private enum MemberNode: Sendable, Equatable {
        /// Not made yet in this session, or seen gone since.
        case missing
        /// Made in this session, and not seen gone since. `checking`: a `.checkMemberNode` is
        /// under way (one at a time).
        case made(checking: Bool)
    }

    /// This session's joins: one under way at a time (the driver retries it until it succeeds
    /// or the session ends).
    private enum Join: Sendable, Equatable {
        /// None due: the node is made, or a stop keeps the member from making it.
        case notDue
        /// Due: `joinIfDelivered` sends it, at once or once the documents out say no more than
        /// the record.
        case due
        /// Under way. `dueAgain`: the node was seen gone meanwhile, so another join is due once
        /// this one is done.
        case underWay(dueAgain: Bool)

        /// The node is seen gone: a join is due, after the one under way if there is one.
        mutating func makeDue() {
            self = if case .underWay = self { .underWay(dueAgain: true) } else { .due }
        }
    }

    /// This session's acknowledgements (I4): one written at a time, the next waiting for the
    /// delivery of the publication that shows its grant.
    private struct Acknowledgement: Sendable {
        /// The epoch being written to the member node.
        var writing: Int64?
        /// The next epoch to write, once `deliveries` publications are delivered and no other
        /// is being written.
        var waiting: (epoch: Int64, deliveries: Int)?

        /// The write under way did not reach the node: its epoch waits to be written again,
        /// unless a later one waits already.
        mutating func writeLost() {
            if let epoch = writing, waiting == nil { waiting = (epoch, 0) }
            writing = nil
        }
    }

    /// Whether the member is told to stop; once told, for good.
    private enum Stop: Sendable {
        case notAsked
        /// `stop` came: the member publishes `stopped`, sends no more joins or acknowledgements
        /// and asks for no more summaries (replies under way still count). It leaves once
        /// publication number `leaveAfter` (`stopped`, nothing revoking) is delivered: `nil`
        /// until that one is made, and again once it is delivered.
        case asked(leaveAfter: Int?)
    }

    /// The publications made, and how many the driver delivered (in order).
    private struct Publications: Sendable {
        /// The latest one.
        var latest: Publication?
        var count = 0
        var delivered = 0
        /// When the latest one's lease is renewed: a third of the session timeout after it.
        var renewal: ContinuousClock.Instant?

        var allDelivered: Bool { delivered >= count }
    }

    public let member: String
    public let weight: Int
    public let handover: Handover
    private let mutations: Mutations

    private var state = State.noSession
    private var stop = Stop.notAsked
    /// The summary that goes with the latest grant read: the one the publications show. It
    /// outlives its session (a `lost` document shows the group as it was last known); a new
    /// session starts without.
    public private(set) var summary: GroupSummary?
    /// A later summary whose grant is being read: shown once the grant is in.
    private var summaryAwaitingGrant: GroupSummary?
    /// The zxid that made the summary node last read (its `czxid`).
    private var summaryMade: Int64?
    /// The next summary read reads the grant too, whatever epoch it names (`refresh`).
    private var grantCheckDue = false
    /// The epoch acknowledged in the session (written to its member node), which `record`
    /// carries: 0 when a session starts, kept when it ends.
    private var acknowledged: Int64 = 0
    private var published = Publications()
    /// What the consumer has yet to release (consumer handover).
    private var revoking: [Partition: Revocation] = [:]

    public init(member: String, weight: Int = 1, handover: Handover = .daemon, mutations: Mutations = []) {
        self.member = member
        self.weight = weight
        self.handover = handover
        self.mutations = mutations
    }

    /// The acknowledged epoch and the weight, as the member node carries them.
    public var record: MemberRecord { MemberRecord(ackedEpoch: acknowledged, weight: weight) }

    /// The latest publication.
    public var latest: Publication? { published.latest }

    /// Whether `stopped` was published.
    public var hasStopped: Bool { published.latest?.state == .stopped }

    private var isStopping: Bool {
        if case .asked = stop { true } else { false }
    }

    /// The grant of this session the member holds, with its node's version, if any.
    private var grantHeld: (grant: Grant, version: Int32)? {
        if case .inSession(let session) = state, case .read(let grant, let version) = session.grant { (grant, version) } else { nil }
    }

    /// The grant of this session the member holds, if any.
    private var grant: Grant? {
        if case .inSession(let session) = state { session.grant.current } else { nil }
    }

    /// How many partitions the grant of this session the member holds has.
    public var grantSize: Int { grant?.partitions.count ?? 0 }

    /// The highest epoch this member has read, holds or has acknowledged.
    private var knownEpoch: Int64 {
        max(grant?.epoch ?? 0, acknowledged, summary?.epoch ?? 0, summaryAwaitingGrant?.epoch ?? 0)
    }

    /// Changes the session, if there is one.
    private mutating func updateSession(_ change: (inout Session) -> Void) {
        guard case .inSession(var session) = state else { return }
        change(&session)
        state = .inSession(session)
    }

    /// Takes one event at `now`; returns what to do, in order.
    public mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        switch event {
        case .written(let summary, let made, let written):
            let actions = handleOne(.summaryRead(summary, made: made), now: now)
            switch written {
            case .unchanged: return actions
            case .set(let grant, let version): return takeAsRead(grant, version: version, after: actions, now: now)
            case .deleted: return takeAsRead(nil, version: -1, after: actions, now: now)
            }
        case .summaryRead(let read?, _, _):
            // A summary that says how its write changed the grant held, from the very node
            // version held: the node holds what the change makes of it (docs/allocator.md,
            // "Grant changes in the summary"), taken as read, if the summary's own handling
            // kept that grant (a lease run out, another life of the node, an epoch gone back
            // drop it) and no check of the grant is due.
            let held = grantHeld, checkDue = grantCheckDue
            let actions = handleOne(event, now: now)
            guard !checkDue, let held, let still = grantHeld, still.grant == held.grant, still.version == held.version,
                  let change = read.changes[member], let epoch = read.grants[member],
                  let changed = change.applied(to: held.grant, version: held.version, epoch: epoch, mutations: mutations)
            else { return actions }
            return takeAsRead(changed, version: held.version + 1, after: actions, now: now)
        default:
            return handleOne(event, now: now)
        }
    }

    /// `grant` (at node `version`) taken as read after the summary's `actions`: no read of the
    /// grant is asked for.
    private mutating func takeAsRead(_ grant: Grant?, version: Int32, after actions: [Action], now: ContinuousClock.Instant) -> [Action] {
        actions.filter { $0 != .readGrant } + handleOne(.grantRead(grant, version: version), now: now)
    }

    /// `handle`, the summary's changes aside.
    private mutating func handleOne(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        /// The share is dropped without a handover (its grant vanished with the group's nodes).
        var shareAbandoned = false
        // A lease that ran out within the session: the leader may have waited it out and given
        // the share away (its hold, when it finds no trace of this member), so the grant is not
        // published again, whatever the server answers next, until it is read again (seed
        // 4040013526444792919: the first answer after a reconnection revived it under a new
        // lease).
        if case .inSession(let session) = state, session.grant.current != nil, validLease(now: now) == nil {
            updateSession { $0.grant.drop() }
            // Read again now if connected (a process paused past its lease hears of no change);
            // otherwise the reconnection reads.
            if session.connection == .connected, !isStopping { actions.append(.readSummary) }
        }
        switch event {
        case .sessionStarted(let id, let timeout):
            state = .inSession(Session(id: id, timeout: timeout, lastHeard: now, join: isStopping ? .notDue : .due))
            summary = nil
            summaryAwaitingGrant = nil
            acknowledged = 0
        case .reconnected:
            guard case .inSession(var session) = state else { break }
            session.connection = .connected
            state = .inSession(session)
            // Watches survive a reconnection, but read again anyway: cheap, and certain.
            if !isStopping { actions += [.readSummary] }
        case .disconnected:
            updateSession { $0.connection = .disconnected }
        case .sessionEnded:
            state = .noSession
        case .heard(let instant):
            updateSession { $0.lastHeard = max($0.lastHeard, instant) }
        case .joined(let made):
            updateSession { $0.nodeMade(at: made) }
            if !isStopping { actions += [.readSummary] }
        case .grantRead(let read, let version):
            guard case .inSession(var session) = state else { break }
            // A grant newer than the summary that named it was written since, with a newer
            // summary, whose write fires this member's summary watch: published now, it went
            // out with the older summary's member list under its own generation (a document no
            // view gives). It is read again with that summary.
            if let read, let awaiting = summaryAwaitingGrant, read.epoch > awaiting.epoch { break }
            if let read, read.session == session.id {
                if let grant = session.grant.current, read.epoch < grant.epoch { break }
                session.grant = .read(read, version: version)
            } else {
                // No grant for this session: none yet, one of an earlier session, or deleted.
                session.grant.drop()
            }
            state = .inSession(session)
            if let awaiting = summaryAwaitingGrant {
                summary = awaiting
                summaryAwaitingGrant = nil
            }
        case .summaryRead(let read, let made, let modified):
            // The summary node made anew since the last read (the group's state deleted and made
            // again, perhaps without this member ever seeing it absent): the epochs it knew are
            // another life's. A new leader that found no record of them starts lower, and its
            // summaries and grants must not pass for stale ones. As when the node vanishes, the
            // share is dropped until a grant is read again.
            // So too a summary whose epoch is below one this member has read, holds or has
            // acknowledged: a session's reads never go back in time, so the leader lost track of
            // the epochs (the summary, the grant and the record all overwritten by hand) and
            // started lower. (Taken for a stale read, it was ignored, and the member never read
            // the grant it was awaited for: seed 4783373240549219575.)
            let regressed = read.map { $0.epoch < knownEpoch } ?? false
            let madeAnew = read != nil && made != 0 && summaryMade.map { $0 != made } == true
            if madeAnew || regressed, summary != nil || summaryAwaitingGrant != nil || grant != nil {
                updateSession { session in
                    session.grant.drop()
                    session.acknowledgement = Acknowledgement()
                }
                summary = nil
                summaryAwaitingGrant = nil
                acknowledged = 0
                shareAbandoned = true
            }
            if read != nil, made != 0 { summaryMade = made }
            // The leader lists every member node it sees: a summary without this member's (once
            // it is made), or none at all (the group's nodes deleted by hand), says the node may
            // be gone; the member looks. Watching its own node instead would wake it on each of
            // its own acknowledgements.
            // A summary written before the node was made (a joiner's first) cannot list it and
            // says nothing (its look cost 2 packets a join).
            // A summary that awaits this member for an epoch it has acknowledged, with no write
            // under way, says the same of its node's record (rewritten by someone else, or
            // the leader has yet to read it): the member looks, and restores it if it changed.
            let awaitedAcknowledged = read?.awaited[member].map { $0 <= acknowledged } ?? false
            if !isStopping, case .inSession(var session) = state, session.node == .made(checking: false),
               !(read?.members.contains(member) ?? false) && !(read != nil && modified != 0 && modified < session.nodeMadeAt)
                || (awaitedAcknowledged && session.acknowledgement.writing == nil && session.acknowledgement.waiting == nil) {
                session.node = .made(checking: true)
                state = .inSession(session)
                actions.append(.checkMemberNode)
            }
            // The summary node gone after one was read (the group's nodes deleted by hand): the
            // grant under it is gone too, and with it the leader's memory of what this member
            // holds. Publish nothing until a grant is read again, before a new leader can give
            // the share to anyone.
            if read == nil, summary != nil || summaryAwaitingGrant != nil {
                updateSession { $0.grant.drop() }
                summaryAwaitingGrant = nil
                shareAbandoned = true
            }
            guard let read, case .inSession(var session) = state,
                  read.epoch >= max(summary?.epoch ?? 0, summaryAwaitingGrant?.epoch ?? 0)
            else { break }
            let named = read.grants[member]
            if let named, named != session.grant.current?.epoch || grantCheckDue {
                grantCheckDue = false
                // The grant changed: publish this summary with it, once it is read.
                summaryAwaitingGrant = read
                actions.append(.readGrant)
            } else {
                if named == nil {
                    session.grant.drop()
                    state = .inSession(session)
                }
                summary = read
            }
        case .summaryUnreadable, .written:  // `.written`: above, as its two reads
            break
        case .summaryChanged:
            if case .inSession = state, !isStopping { actions.append(.readSummary) }
        case .memberNodeFound:
            updateSession { session in
                if case .made = session.node { session.node = .made(checking: false) }
            }
        case .memberNodeDeleted:
            let stopping = isStopping
            updateSession { session in
                session.node = .missing
                // An acknowledgement that did not reach the node is written again after the join.
                session.acknowledgement.writeLost()
                if !stopping { session.join.makeDue() }
            }
        case .acknowledged(let epoch):
            // Only the write under way counts: one of an earlier life of the group's state
            // (see `.summaryRead`) must not raise the epoch acknowledged in this one.
            guard case .inSession(let session) = state, session.acknowledgement.writing == epoch else { break }
            updateSession { $0.acknowledgement.writing = nil }
            acknowledged = max(acknowledged, epoch)
        case .acknowledgementFailed(let epoch):
            updateSession { session in
                if session.acknowledgement.writing == epoch { session.acknowledgement.writeLost() }
            }
        case .delivered(let count):
            published.delivered = max(published.delivered, count)
        case .tick:
            break
        case .refresh:
            grantCheckDue = true
            if case .inSession = state, !isStopping { actions.append(.readSummary) }
        case .released(let epoch):
            revoking = revoking.filter { $0.value.epoch > epoch }
        case .stop:
            if case .notAsked = stop { stop = .asked(leaveAfter: nil) }
        }
        // Made once an event: the standing (revoking does not change it), then the publication.
        let standing = standing(now: now)
        actions += trackRevocations(now: now, share: standing.partitions, abandoned: shareAbandoned)
        actions += publishIfChanged(publication(standing), now: now, renewing: event == .tick)
        actions += joinIfDelivered()
        awaitDeliveryOfGrant()
        actions += acknowledgeIfDelivered()
        actions += leaveIfDelivered()
        if let wake = nextWake(now: now) { actions.append(.wake(at: wake)) }
        return actions
    }

    /// Joins once a join is due, and, if a publication of this session held something, once
    /// every publication made so far is delivered. The member node's record says what the
    /// member may hold (an acknowledged epoch of 0: nothing); it must not say so while a
    /// document that holds more is the latest one out. (A member node deleted while the summary
    /// was made anew, say: the share is dropped and the epochs start again; the node made at
    /// once would tell the leader the member holds nothing while its file still showed the
    /// share.) A new session's documents hold nothing before its node is made, and an earlier
    /// session's lease is over: its first join goes at once. (Seed 4099104684309640210: an
    /// acknowledgement lost with the node, the node made again saying "acknowledged 0" under a
    /// share of that grant.)
    private mutating func joinIfDelivered() -> [Action] {
        guard case .inSession(var session) = state, session.join == .due, !isStopping,
              !session.publishedHoldings || published.allDelivered
        else { return [] }
        session.join = .underWay(dueAgain: false)
        state = .inSession(session)
        // An acknowledgement still to be written (its write lost with the node) acknowledges a
        // grant whose share is out: the record says so from the start, not "nothing held".
        var joining = record
        if let waiting = session.acknowledgement.waiting, published.delivered >= waiting.deliveries {
            joining.ackedEpoch = max(joining.ackedEpoch, waiting.epoch)
        }
        return [.join(joining)]
    }

    /// Leaves once the `stopped` publication that lets it is delivered (and only while a session
    /// is there to close).
    private mutating func leaveIfDelivered() -> [Action] {
        guard case .asked(let leaveAfter?) = stop, published.delivered >= leaveAfter else { return [] }
        stop = .asked(leaveAfter: nil)
        if case .inSession = state { return [.leave] }
        return []
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
        let lease = validLease(now: now)
        if isStopping { return Standing(state: .stopped, partitions: [], lease: lease) }
        switch state {
        case .noSession:
            // Nothing held: `joining` while nothing else was ever published, `lost` after.
            let joining = published.latest == nil || published.latest?.state == .joining
            return Standing(state: joining ? .joining : .lost, partitions: [], lease: lease)
        case .inSession(let session):
            if case .notYetRead = session.grant { return Standing(state: .joining, partitions: [], lease: lease) }
            guard let lease else { return Standing(state: .lost, partitions: [], lease: nil) }
            return Standing(
                state: session.connection == .connected ? .active : .suspended,
                partitions: session.grant.current?.partitions ?? [], lease: lease)
        }
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
        guard case .inSession(let session) = state else { return nil }
        let from = mutations.contains(.leaseWithoutServer) ? now : session.lastHeard
        let deadline = Lease.deadline(lastHeard: from, sessionTimeout: session.timeout)
        return deadline > now ? deadline : nil
    }

    /// The group's epoch as this member knows it.
    private var epoch: Int64 { max(summary?.epoch ?? 0, grant?.epoch ?? 0) }

    /// With consumer handover: what the published share loses becomes `revoking`, what comes
    /// back leaves it, and what waited past the release timeout is released by force. When the
    /// lease is over (or the session), or the share was `abandoned`, the consumer has had to
    /// stop anyway: nothing is revoking. `share` is the partitions the publication of this
    /// event holds.
    private mutating func trackRevocations(now: ContinuousClock.Instant, share: Set<Partition>, abandoned: Bool) -> [Action] {
        guard case .consumer(let timeout) = handover else { return [] }
        guard !abandoned, validLease(now: now) != nil else {
            revoking = [:]
            return []
        }
        for partition in published.latest?.partitions ?? [] where !share.contains(partition) && revoking[partition] == nil {
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
        if let due = published.renewal, now >= due { renewal = renewing }
        if let latest = published.latest, !next.differsInSubstance(from: latest), !renewal || next.lease == latest.lease {
            return []
        }
        published.latest = next
        published.count += 1
        if case .inSession(var session) = state {
            if !next.partitions.isEmpty || !next.revoking.isEmpty {
                session.publishedHoldings = true
                state = .inSession(session)
            }
            published.renewal = now + session.timeout / 3
        }
        if next.state == .stopped, next.revoking.isEmpty { stop = .asked(leaveAfter: published.count) }
        return [.publish(next)]
    }

    // MARK: Acknowledging

    /// A grant not yet acknowledged is acknowledged once the latest publication, which holds
    /// nothing outside it, is delivered (and every one before it): a grant the leader awaits
    /// (it releases something, its holdings are unknown, or the member node lost its record),
    /// and the session's first (a record with `acked_epoch > 0` is how a leader finds a grant
    /// node lost behind its back). A grant that only grew is nobody's wait: acknowledging it
    /// cost a write, and the leader's notification and read, a member and change.
    private mutating func awaitDeliveryOfGrant() {
        guard case .inSession(var session) = state else { return }
        // A grant the summary names whose node is gone (deleted by hand once more): the member
        // publishes nothing, which is inside any grant, so it may acknowledge that epoch; the
        // leader waits for it otherwise.
        let grant = session.grant.current
        let epoch = grant?.epoch ?? (summaryAwaitingGrant == nil ? summary?.grants[member] : nil)
        let awaited = summary?.awaited[member] != nil || grant?.hasUnacknowledgedHoldings == true
        let first = acknowledged == 0 && session.acknowledgement.writing == nil
        guard let epoch, awaited || first, let latest = published.latest, epoch > acknowledged,
              epoch != session.acknowledgement.writing, epoch != session.acknowledgement.waiting?.epoch,
              latest.partitions.isSubset(of: grant?.partitions ?? []), latest.revoking.isEmpty
        else { return }
        session.acknowledgement.waiting = (epoch, published.count)
        state = .inSession(session)
    }

    /// Acknowledges the latest grant once the publication that shows it is delivered (I2, I4).
    private mutating func acknowledgeIfDelivered() -> [Action] {
        // Only into a node this session has made: while it is missing, the join writes the record
        // (a write to no node fails at once, and was tried again at once: a storm of writes).
        guard case .inSession(var session) = state, !isStopping, session.acknowledgement.writing == nil,
              case .made = session.node,
              let waiting = session.acknowledgement.waiting, published.delivered >= waiting.deliveries,
              waiting.epoch > acknowledged
        else { return [] }
        session.acknowledgement = Acknowledgement(writing: waiting.epoch, waiting: nil)
        state = .inSession(session)
        return [.acknowledge(MemberRecord(ackedEpoch: waiting.epoch, weight: weight))]
    }

    /// The next instant something is due: a renewal, the lease's end, or a release timeout.
    private func nextWake(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var releaseDue: ContinuousClock.Instant?
        if case .consumer(let timeout) = handover, let oldest = revoking.values.map(\.since).min() {
            releaseDue = oldest + timeout
        }
        return [published.renewal, published.latest?.lease, releaseDue].compactMap { $0 }.filter { $0 > now }.min()
    }
}
