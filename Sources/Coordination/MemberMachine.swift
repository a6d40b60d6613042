import Allocation

/// One member over its ZooKeeper sessions, as a machine: the election's, the follower's and
/// the leader's machines, and every policy around them: what turns their actions into
/// requests and the replies and watches back into their events, joins and their retries,
/// acknowledgements as conditional writes, what a lost reply means, the debounce of
/// `--rebalance-delay`, the leader's look at awaited members and the periodic full read, and
/// every backoff. Time is an input; nothing here does I/O.
///
/// Its executor sends each `.send` request and hands back its reply (`.replied`, in the order
/// the requests were sent, as ZooKeeper answers) and every watch that fires (`.watchFired`,
/// in the server's order, before the replies sent after it); it sends `.timersDue` once
/// `nextDeadline` has come, carries out the few composite actions (preparing the group,
/// pinning its settings, seeding the partition set, running the allocator program), delivers
/// publications, and tells of the connection and the session. The daemon's `Member` is one
/// executor, over the C client; the simulation is another, over its simulated server.
public struct MemberMachine {
    /// A request's (or composite action's) number, from 0 up, never reused.
    public typealias RequestTag = Int

    /// What happened.
    public enum Event: Sendable {
        /// A session is connected (its id, its negotiated timeout).
        case sessionStarted(session: Int64, timeout: Duration)
        /// The connection dropped; the session may live.
        case disconnected
        /// The connection is back within the session.
        case reconnected
        /// The session is over (expired, or closed).
        case sessionEnded
        /// The reply to request `tag`.
        case replied(RequestTag, NodeReply)
        /// A watch this member set on `path` fired: one on its children (`getChildren`), or on its
        /// data (`getData`, `exists`); `deleted` if the node was deleted. A deletion fires both
        /// kinds, each its own event.
        case watchFired(path: String, children: Bool, deleted: Bool)
        /// `nextDeadline` has come.
        case timersDue
        /// `.prepareGroup(tag)` is done; `failure` says why not, if it failed (for a reason that
        /// may pass: a failure no retry can help ends the member in its executor).
        case groupPrepared(RequestTag, failure: String?)
        /// `.pinSettings(tag)` is done: the strategy pinned, or `nil` if it failed.
        case settingsPinned(RequestTag, Strategy?)
        /// The allocator program failed.
        case allocatorFailed(String)
        /// Straight to the follower: the server heard from (the client's own pings), a
        /// publication delivered, the consumer's release, a stop.
        case follower(FollowerMachine.Event)
        /// Straight to the leader: the allocator's answer.
        case leader(LeaderMachine.Event)
    }

    /// What to do.
    public enum Action: Sendable {
        case send(RequestTag, NodeRequest)
        /// Publishes the member's document.
        case publish(Publication)
        /// Makes the group's nodes if missing and checks its settings (as at the start of a
        /// session); answered by `.groupPrepared(tag)`.
        case prepareGroup(RequestTag)
        /// The group node is empty (made anew): pins the settings as the group's first member
        /// does; answered by `.settingsPinned(tag)`.
        case pinSettings(RequestTag)
        /// The partition set's node is new and never written: adds the configured seed
        /// partitions, as for a new group. Nothing is answered (the watch on the set fires).
        case seedIfFresh
        /// Runs the group's allocator program; answered by `.leader(.allocated)` or
        /// `.allocatorFailed`.
        case runAllocator(Strategy, members: [String], partitions: [Partition])
        /// The member cannot stay in the group: its name is held by another live session.
        case fail(MembershipFailure)
        /// Something an operator should hear of.
        case report(Report)
    }

    /// What an operator should hear of.
    public enum Report: Sendable {
        case joined
        /// Joining failed for a reason that may pass; tried again after `retryIn`.
        case joinFailed(String, retryIn: Duration)
        /// The member node was deleted (or taken) while the session lives: joining again.
        case memberNodeLost
        /// A member node holds neither a record nor nothing (a kiel consumer's): it counts as
        /// acknowledging nothing until its member writes it again.
        case memberRecordUnreadable(path: String)
        /// Someone else rewrote the member node (to this version): written over.
        case memberNodeRewritten(path: String, version: Int32)
        case acknowledgementFailed(epoch: Int64, NodeFailure)
        /// A read failed other than by the connection.
        case readFailed(String, NodeFailure)
        case elected
        /// The fenced write found this member's contender node gone.
        case steppedDown
        case deletingSurplusContender(String)
        /// A contender node that is not ephemeral (made by hand) is passed over.
        case passedOver(String)
        /// A session whose nodes vanished apart counts as alive for a while.
        case lingering(session: Int64, for: Duration)
        /// A grant was found lost: nothing nobody holds is granted for a while.
        case holdingUnheld(for: Duration)
        /// The leader's writes keep failing: it reads everything again after a while.
        case retryingReads(after: Duration)
        case ignoredWeights(Strategy, members: [String])
        case allocatorFailed(String, retryIn: Duration)
        case partitionSetMalformed(path: String, reason: String)
        case leaving
        case releaseTimedOut(Set<Partition>)
        /// Nodes of one listing (of `path`) whose names are canonically equivalent Unicode in
        /// different bytes: distinct znodes that this machine cannot tell apart. The leader does
        /// not take the listing (and so holds what it knows) until all but one are gone.
        case canonicalTwins(path: String, names: [String])
        /// The group's summary does not parse.
        case summaryUnreadable(path: String)
        /// This member's grant node does not parse: deleted at the version read, so that the
        /// leader sees it lost and writes it again.
        case grantUnreadable(path: String)
        case wrote(LeaderWrite)
        case writeFailed(LeaderWrite, failedOperation: Int?, NodeFailure?)
    }

    /// Why membership is impossible.
    public enum MembershipFailure: Sendable, Equatable {
        /// The member node is another live session's, still after the conflict wait.
        case nameTaken(path: String, ownerSession: Int64)
    }

    /// What the machine needs to know of its member's configuration.
    public struct Settings: Sendable {
        public var weight: Int
        public var handover: FollowerMachine.Handover
        public var configuredStrategy: Strategy?
        /// What the member node says besides the record (host, pid, strategy, release).
        public var identity: MemberRecord
        /// `--rebalance-delay`: a change reaches the leader `min` after the last one, never
        /// more than `max` after the first.
        public var rebalanceDelay: (min: Duration, max: Duration)
        /// `--full-read-interval`.
        public var fullReadInterval: Duration

        public init(
            weight: Int = 1, handover: FollowerMachine.Handover = .daemon, configuredStrategy: Strategy? = nil,
            identity: MemberRecord = MemberRecord(), rebalanceDelay: (min: Duration, max: Duration) = (.zero, .zero),
            fullReadInterval: Duration = .seconds(300)
        ) {
            self.weight = weight
            self.handover = handover
            self.configuredStrategy = configuredStrategy
            self.identity = identity
            self.rebalanceDelay = rebalanceDelay
            self.fullReadInterval = fullReadInterval
        }
    }

    public let member: String
    public let paths: GroupPaths
    public let settings: Settings
    let mutations: Mutations
    public internal(set) var follower: FollowerMachine
    public internal(set) var leader: LeaderMachine
    /// This session's part in the leader election.
    public internal(set) var election: ElectionMachine
    public internal(set) var session: Int64?
    public internal(set) var connected = false
    var sessionTimeout: Duration

    // What `status` reports.
    /// The partitions in this session's grant as last read.
    public var grantCount: Int { follower.grantSize }
    /// What is wrong now, if anything (`status.last_error`).
    public internal(set) var lastError: String?
    /// Since when a change is known that the member has not yet published as `active`.
    public var changeNoticed: ContinuousClock.Instant?

    // The member node.
    /// Whether the member node was made in this session (a join after that is a re-join).
    var joinedInSession = false
    /// The member node's version as last seen, so an acknowledgement is one conditional write.
    var memberNodeVersion: Int32 = 0
    /// The follower left while the member node's create was under way: `leave()` once it is
    /// answered.
    var leaveWhenCreated = false
    /// The join under way: its record, and until when a node of another session may still go.
    var joining: (record: MemberRecord, conflictDeadline: ContinuousClock.Instant)?
    var joinBackoff = Duration.zero

    // Timers.
    var timers = Timers()
    /// The leader's debounced changes (`--rebalance-delay`), since the first.
    var debounced: (first: ContinuousClock.Instant, events: [LeaderMachine.Event])?
    var allocatorBackoff = Duration.zero
    /// How long a leader waits, after a read failed, before it reads everything again: 1 s,
    /// doubling up to 10 s while reads keep failing (an ACL that refuses it; each round reads
    /// every member node), back to none once the partition set is read or a write goes through.
    var leaderReadBackoff = Duration.zero

    // Requests.
    var nextTag: RequestTag = 0
    /// The first request of the leader's latest re-read for a lost reply: a leader read sent
    /// before it and lost too is read again by it, not by a re-read of its own.
    var leaderRereadFrom: RequestTag = 0
    var pending: [RequestTag: (purpose: Purpose, request: NodeRequest?, sentAt: ContinuousClock.Instant)] = [:]
    /// Who waits for each watch this member armed, in the order they asked.
    var interests: [ArmedWatch: [Interest]] = [:]
    /// The `readGrants` under way, by number: a second may start before the first is done.
    var grantsRead: [Int: GrantReading] = [:]
    var grantReads = 0

    /// The actions of the event being handled, in order.
    var actions: [Action] = []
    var now = ContinuousClock.Instant.now

    /// What each timer is for, and when it is due.
    struct Timers {
        /// The next `.tick` the follower asked for.
        var wake: ContinuousClock.Instant?
        /// A wake that came due and was moved on before its tick (an event before the timer,
        /// such as the server heard from, made the follower ask for a later one): still owed.
        var owedWake: ContinuousClock.Instant?
        /// The leader's acknowledgement round (its `.planAfter`, moved on by `.extendRound`).
        var roundDue: ContinuousClock.Instant?
        /// When the round began: it ends `LeaderMachine.acknowledgementRoundLimit` after at most.
        var roundBegan: ContinuousClock.Instant?
        /// The leader reads everything again after failed writes (its `.retryAfter`).
        var retryDue: ContinuousClock.Instant?
        /// The leader's hold on unheld partitions ends (its `.holdUnheld`).
        var holdOver: ContinuousClock.Instant?
        /// When each lingering session stops counting as alive (the leader's `.linger`).
        var lingerOver: [(session: Int64, at: ContinuousClock.Instant)] = []
        /// The join is tried again (the group prepared first).
        var joinRetry: ContinuousClock.Instant?
        /// The join looks again at a member node another session holds.
        var conflictCheck: ContinuousClock.Instant?
        /// An acknowledgement that failed is written again.
        var acknowledgementRetry: (at: ContinuousClock.Instant, epoch: Int64)?
        /// The election's `.retry`.
        var electionRetry: ContinuousClock.Instant?
        /// The leader's reads that failed (not by the connection) are made again.
        var leaderReadRetry: ContinuousClock.Instant?
        /// The allocator program is tried again.
        var allocatorRetry: ContinuousClock.Instant?
        /// The quiet time of `--rebalance-delay` is over.
        var debounce: ContinuousClock.Instant?
        /// The leader looks again at the members it awaits (every half session timeout).
        var awaitedCheck: ContinuousClock.Instant?
        /// The periodic full read.
        var fullRead: ContinuousClock.Instant?

        var next: ContinuousClock.Instant? {
            ([wake, owedWake, roundDue, retryDue, holdOver, joinRetry, conflictCheck, acknowledgementRetry?.at, electionRetry,
              leaderReadRetry, allocatorRetry, debounce, awaitedCheck, fullRead] + lingerOver.map(\.at))
                .compactMap { $0 }.min()
        }
    }

    enum Purpose {
        case electionCreate, electionList, electionWatch, electionDelete
        case createMember
        case findMemberHolder
        case checkOwnMember
        case readGrant, readSummary, existsSummary
        /// The record, and the node's version the write was made on condition of.
        case acknowledge(MemberRecord, version: Int32)
        case readOwnRecord(MemberRecord)
        /// The member node adopted by a join (this session's already), read: a record of garbage
        /// written into it by someone else is written over.
        case readAdoptedRecord
        case restoreOwnRecord(MemberRecord, foreign: Int32)
        case prepareForJoin, prepareForLeader, prepareForElection
        case leaderGroup, pinSettings, leaderPartitions, createPartitions, leaderMembers, leaderMember(String), leaderContenders
        case leaderSummary(Int), leaderGrantList(Int), leaderGrant(Int, String), leaderGrantNames, leaderGrantNamesExists
        case leaderWrite(LeaderWrite)
        /// The member node looked at as the member leaves (`leave()`): deleted only if its session's.
        case lookBeforeLeaving
        /// The member's nodes deleted as it leaves (`leave()`); then `.close`.
        case leave
        /// This member's grant node, unreadable, deleted at the version read.
        case deleteUnreadableGrant
        case close
    }

    enum Interest: Hashable {
        case leaderGroup, leaderPartitions, leaderMembers, leaderContenders, leaderMember(String), leaderGrants
        case predecessor, summary, memberHolder
    }

    /// A watch as the server keeps it: on a node's data (`getData`, `exists`) or on its
    /// children (`getChildren`). One node can have both, and each fires on its own.
    struct ArmedWatch: Hashable {
        var path: String
        var children: Bool

        /// The watch `request` arms, if it asks for one.
        init?(_ request: NodeRequest?) {
            switch request {
            case .getData(let path, true)?, .exists(let path, true)?: self.init(path: path, children: false)
            case .getChildren(let path, true)?: self.init(path: path, children: true)
            default: return nil
            }
        }

        init(path: String, children: Bool) {
            self.path = path
            self.children = children
        }
    }

    /// A `readGrants` under way: the summary node, the list, and the grant nodes still to come.
    struct GrantReading {
        var summary: (GroupSummary?, Int32?)?
        var remaining: Set<String>?
        var nodes: [String: GrantNodes.Node] = [:]
    }

    public init(member: String, paths: GroupPaths, settings: Settings, sessionTimeout: Duration, mutations: Mutations = []) {
        self.member = member
        self.paths = paths
        self.settings = settings
        self.mutations = mutations
        self.sessionTimeout = sessionTimeout
        follower = FollowerMachine(member: member, weight: settings.weight, handover: settings.handover, mutations: mutations)
        leader = LeaderMachine(
            member: member, configuredStrategy: settings.configuredStrategy, sessionTimeout: sessionTimeout, mutations: mutations)
        election = ElectionMachine(mutations: mutations)
    }

    /// When `.timersDue` should come next, if ever.
    public var nextDeadline: ContinuousClock.Instant? {
        session == nil ? [timers.wake, timers.owedWake].compactMap { $0 }.min() : timers.next
    }

    public mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        defer { actions = [] }
        self.now = now
        switch event {
        case .sessionStarted(let id, let timeout):
            session = id
            connected = true
            sessionTimeout = timeout
            forgetSession()
            let epochFloor = leader.epochFloor  // epochs only grow, across sessions too
            leader = LeaderMachine(
                member: member, configuredStrategy: settings.configuredStrategy, sessionTimeout: timeout, mutations: mutations)
            leader.epochFloor = epochFloor
            timers.awaitedCheck = now + timeout / 2
            timers.fullRead = now + settings.fullReadInterval
            elect(.sessionStarted(session: id))
            follow(.sessionStarted(session: id, timeout: timeout))
        case .disconnected:
            connected = false
            follow(.disconnected)
        case .reconnected:
            connected = true
            follow(.reconnected)
        case .sessionEnded:
            session = nil
            connected = false
            forgetSession()
            elect(.sessionEnded)
            lead(.deposed)
            follow(.sessionEnded)
        case .replied(let tag, let reply):
            guard let (purpose, request, sentAt) = pending.removeValue(forKey: tag) else { break }
            if reply.result == .failure(.sessionExpired) {
                // The session is over (or closing): its end comes as `.sessionEnded`, which
                // starts everything anew. Asked again, the request would be refused again at
                // once, and again: a loop that held a thread for good.
                break
            } else if reply.result == .failure(.connectionLoss) {
                lostReply(tag, purpose, request)
            } else {
                // A write's answer shows the session alive where sessions expire; a read's does
                // not (`NodeRequest.isWrite`), nor a failure the client may have made itself: the
                // lease runs from the leader's answers and the heartbeats.
                if request?.isWrite == true, !reply.isOtherFailure { follow(.heard(at: sentAt)) }
                handle(reply, to: request, purpose)
            }
            if leaveWhenCreated, case .createMember = purpose, session != nil {
                leaveWhenCreated = false
                leave()
            }
        case .watchFired(let path, let children, let deleted):
            // Only the interests of the watch that fired: the summary's data watch and the
            // leader's watch of the grant list are on one node, and the list read again at every
            // summary write armed a watch that never fired (its triggers piled up in the client,
            // about 1 KB a change).
            for interest in interests.removeValue(forKey: ArmedWatch(path: path, children: children)) ?? [] {
                fire(interest, deleted: deleted)
            }
        case .timersDue:
            fireDueTimers()
        case .groupPrepared(let tag, let failure):
            guard let (purpose, _, _) = pending.removeValue(forKey: tag) else { break }
            prepared(purpose, failure: failure)
        case .settingsPinned(let tag, let strategy):
            guard pending.removeValue(forKey: tag) != nil else { break }
            if let strategy { lead(.groupRead(strategy)) } else { leaderReadFailed() }
        case .allocatorFailed(let error):
            allocatorBackoff = mutations.contains(.retryWithoutBackoff) ? .zero : min(max(allocatorBackoff * 2, .seconds(1)), .seconds(30))
            lastError = error
            actions.append(.report(.allocatorFailed(error, retryIn: allocatorBackoff)))
            timers.allocatorRetry = now + allocatorBackoff
        case .follower(let event):
            follow(event)
        case .leader(let event):
            if case .allocated(.some) = event, allocatorBackoff > .zero {
                allocatorBackoff = .zero
                lastError = nil
            }
            lead(event)
        }
        return actions
    }

    /// What a session's end (or a new one) leaves behind: requests, watches, joins, timers.
    private mutating func forgetSession() {
        pending = [:]
        interests = [:]
        grantsRead = [:]
        joining = nil
        joinedInSession = false
        leaveWhenCreated = false
        debounced = nil
        timers = Timers(wake: timers.wake, owedWake: timers.owedWake)
    }

    // MARK: Timers

    /// Every timer that is due, in a fixed order.
    private mutating func fireDueTimers() {
        // The follower's leases run out between sessions too.
        if timers.owedWake != nil || timers.wake.map({ now >= $0 }) == true {
            timers.owedWake = nil
            if let wake = timers.wake, now >= wake { timers.wake = nil }
            follow(.tick)
        }
        guard session != nil else { return }
        if let due = timers.roundDue, now >= due {
            timers.roundDue = nil
            timers.roundBegan = nil
            lead(.roundDue)
        }
        if let due = timers.retryDue, now >= due {
            timers.retryDue = nil
            lead(.retryDue)
        }
        if let due = timers.holdOver, now >= due {
            timers.holdOver = nil
            lead(.holdOver)
        }
        while let index = timers.lingerOver.firstIndex(where: { now >= $0.at }) {
            let session = timers.lingerOver.remove(at: index).session
            lead(.lingerOver(session: session))
        }
        if let due = timers.joinRetry, now >= due {
            timers.joinRetry = nil
            prepareGroup(.prepareForJoin)
        }
        if let due = timers.conflictCheck, now >= due {
            timers.conflictCheck = nil
            createMemberNode()
        }
        if let retry = timers.acknowledgementRetry, now >= retry.at {
            timers.acknowledgementRetry = nil
            follow(.acknowledgementFailed(epoch: retry.epoch))
        }
        if let due = timers.electionRetry, now >= due {
            timers.electionRetry = nil
            // The lock's node made again if it is gone, and the group's with it: deleted whole
            // (the members' nodes too), nobody else would make it again, and nobody would lead.
            prepareGroup(.prepareForElection)
        }
        if let due = timers.leaderReadRetry, now >= due {
            timers.leaderReadRetry = nil
            // A read fails for good when the group's nodes are gone: made again first.
            if leader.isLeading { prepareGroup(.prepareForLeader) }
        }
        if let due = timers.allocatorRetry, now >= due {
            timers.allocatorRetry = nil
            lead(.allocated(nil))
        }
        if let due = timers.debounce, now >= due {
            timers.debounce = nil
            let events = debounced?.events ?? []
            debounced = nil
            for event in events { lead(event) }
        }
        if let due = timers.awaitedCheck, now >= due {
            // Should a watch have been lost, an acknowledgement is never missed for long.
            timers.awaitedCheck = now + sessionTimeout / 2
            for name in leader.awaitedMembers.keys.sorted(by: utf8Precedes) { lead(.memberChanged(name)) }
        }
        if let due = timers.fullRead, now >= due {
            timers.fullRead = now + settings.fullReadInterval
            follow(.refresh)
            lead(.refresh)
        }
    }

    // MARK: Driving the machines

    mutating func follow(_ event: FollowerMachine.Event) {
        switch event {
        case .summaryChanged, .joined:
            // Its own join is a change too: when the leader had already granted by the time the
            // member first read the summary, no change would be seen before its first `active`.
            changeNoticed = changeNoticed ?? now
        default: break
        }
        for action in follower.handle(event, now: now) {
            switch action {
            case .join(let record): join(record)
            case .readGrant: send(.getData(paths.grant(member), watch: false), .readGrant)
            case .readSummary: send(.getData(paths.assignments, watch: true), .readSummary)
            case .publish(let publication): actions.append(.publish(publication))
            case .acknowledge(let record): acknowledge(record)
            case .checkMemberNode: send(.exists(paths.member(member), watch: false), .checkOwnMember)
            case .wake(let at):
                if let due = timers.wake, due <= now, at > now { timers.owedWake = min(timers.owedWake ?? due, due) }
                timers.wake = at
            case .leave:
                actions.append(.report(.leaving))
                leave()
            case .releaseTimedOut(let partitions):
                actions.append(.report(.releaseTimedOut(partitions)))
            }
        }
    }

    /// Leaves the group, once `stopped` is out: the member's nodes deleted in one transaction
    /// (a leader's own grant emptied in it too, so that its successor finds nothing of its
    /// session to wait for), then the session closed. The close alone would do it, but a close
    /// the server never gets (the connection torn down with replies unread) leaves the nodes
    /// for a session timeout; the deletion fails as a whole, and changes nothing, if the
    /// contender node is gone (a leader deposed meanwhile). The member node is looked at first
    /// and deleted only at the version its session's node has: another session's node under
    /// the same name (a kiel consumer's that took it) is never deleted (spec §4).
    mutating func leave() {
        if pending.values.contains(where: { if case .createMember = $0.purpose { true } else { false } }) {
            leaveWhenCreated = true
        } else if joinedInSession, joining == nil {
            send(.exists(paths.member(member), watch: false), .lookBeforeLeaving)
        } else {
            leave(deletingMemberNodeAt: nil)
        }
    }

    /// `leave()`, the member node deleted at `version` if given.
    mutating func leave(deletingMemberNodeAt version: Int32?) {
        var operations: [NodeOperation] = []
        if let contender = election.contender {
            if let (grant, version) = leader.ownGrantEmptied {
                operations.append(.set(path: paths.grant(member), data: grant.encoded, version: version))
            }
            operations.append(.delete(path: paths.contender(contender), version: -1))
        }
        if let version { operations.append(.delete(path: paths.member(member), version: version)) }
        if operations.isEmpty { send(.close, .close) } else { send(.multi(operations), .leave) }
    }

    mutating func lead(_ event: LeaderMachine.Event) {
        leader.epochFloor = max(leader.epochFloor, leader.epoch, follower.summary?.epoch ?? 0, follower.latest?.epoch ?? 0)
        for action in leader.handle(event) {
            switch action {
            case .readGroup: send(.getData(paths.group, watch: true), .leaderGroup)
            case .readPartitions: send(.getData(paths.partitions, watch: true), .leaderPartitions)
            case .listMembers: send(.getChildren(paths.members, watch: true), .leaderMembers)
            case .readMember(let name, let watch): send(.getData(paths.member(name), watch: watch), .leaderMember(name))
            case .listContenders: send(.getChildren(paths.leaderLock, watch: true), .leaderContenders)
            case .listGrants: send(.getChildren(paths.assignments, watch: true), .leaderGrantNames)
            case .readGrants:
                grantReads += 1
                grantsRead[grantReads] = GrantReading()
                send(.getData(paths.assignments, watch: false), .leaderSummary(grantReads))
                send(.getChildren(paths.assignments, watch: false), .leaderGrantList(grantReads))
            case .write(let write):
                guard let contender = election.contender else {
                    lead(.writeFailed(fenced: true))
                    continue
                }
                send(.multi(write.operations(in: paths, contender: contender)), .leaderWrite(write))
            case .runAllocator(let strategy, let members, let partitions):
                actions.append(.runAllocator(strategy, members: members, partitions: partitions))
            case .planAfter(let delay):
                timers.roundBegan = now
                timers.roundDue = now + delay
            case .extendRound:
                if let began = timers.roundBegan, timers.roundDue != nil {
                    timers.roundDue = min(now + LeaderMachine.acknowledgementRound, began + LeaderMachine.acknowledgementRoundLimit)
                }
            case .retryAfter(let delay):
                actions.append(.report(.retryingReads(after: delay)))
                timers.retryDue = now + delay
            case .linger(let session, let duration):
                actions.append(.report(.lingering(session: session, for: duration)))
                // The latest announcement counts: one of an earlier linger of the session (an
                // earlier reign's) would end this one before its time.
                timers.lingerOver.removeAll { $0.session == session }
                timers.lingerOver.append((session, now + duration))
            case .holdUnheld(let duration):
                actions.append(.report(.holdingUnheld(for: duration)))
                timers.holdOver = now + duration
            case .reportIgnoredWeights(let strategy, let members):
                actions.append(.report(.ignoredWeights(strategy, members: members)))
            case .stepDown:
                actions.append(.report(.steppedDown))
                elect(.contenderGone)
            }
        }
        // What only a leader says is not said by a member that leads no more.
        if !leader.isLeading, lastError?.hasPrefix(Self.partitionSetUnreadable) == true { lastError = nil }
    }

    /// A change of members or partitions reaches the leader after the quiet time of
    /// `--rebalance-delay` (spec §12): `min` after the last change, never more than `max`
    /// after the first.
    mutating func leadDebounced(_ event: LeaderMachine.Event) {
        let (quiet, longest) = settings.rebalanceDelay
        guard quiet > .zero else { return lead(event) }
        let first = debounced?.first ?? now
        var events = debounced?.events ?? []
        if !events.contains(event) { events.append(event) }
        debounced = (first, events)
        timers.debounce = min(now + quiet, first + max(longest, quiet))
    }

    mutating func elect(_ event: ElectionMachine.Event) {
        for action in election.handle(event) {
            switch action {
            case .create(let prefix):
                send(.create(paths.contender(prefix), data: Array(member.utf8), .ephemeralSequential), .electionCreate)
            case .list: send(.getChildren(paths.leaderLock, watch: false), .electionList)
            case .delete(let node):
                actions.append(.report(.deletingSurplusContender(node)))
                send(.delete(paths.contender(node), version: -1), .electionDelete)
            case .watch(let node):
                let path = paths.contender(node)
                send(.exists(path, watch: true), .electionWatch)
            case .elected:
                actions.append(.report(.elected))
                lead(.elected)
            case .retry(let delay): timers.electionRetry = now + delay
            case .passOver(let node):
                lastError = "the leader lock holds \(node), which is not ephemeral (made by hand?): passed over; delete it"
                actions.append(.report(.passedOver(node)))
            }
        }
    }

    // MARK: The member node

    /// Joins (the member node made with `record`); the group prepared first when this
    /// session's node was deleted behind its back (perhaps with the whole group).
    mutating func join(_ record: MemberRecord) {
        joining = (record, now + sessionTimeout * 3 / 2)
        if joinedInSession { prepareGroup(.prepareForJoin) } else { createMemberNode() }
    }

    mutating func createMemberNode() {
        guard let record = joining?.record else { return }
        send(.create(paths.member(member), data: nodeData(record), .ephemeral), .createMember)
    }

    /// The member node is this session's at `version`: the follower hears of its join.
    mutating func joined(version: Int32, made: Int64) {
        guard joining != nil else { return }
        joining = nil
        timers.conflictCheck = nil
        memberNodeVersion = version
        joinedInSession = true
        if lastError?.hasPrefix(Self.joinFailure) == true { lastError = nil }
        joinBackoff = .zero
        actions.append(.report(.joined))
        follow(.joined(made: made))
    }

    /// Joining failed for a reason that may pass (the group's nodes deleted behind the
    /// members' back, an ACL refusing creates for a while): the group is prepared again and
    /// the join tried again after 1 s, doubling up to 10 s, for as long as the session lives.
    static let joinFailure = "joining the group: "

    mutating func joinFailed(_ reason: String) {
        joinBackoff = mutations.contains(.retryWithoutBackoff) ? .zero : min(max(joinBackoff * 2, .seconds(1)), .seconds(10))
        lastError = Self.joinFailure + reason
        actions.append(.report(.joinFailed(reason, retryIn: joinBackoff)))
        timers.joinRetry = now + joinBackoff
    }

    /// Writes the acknowledgement into the member node, on condition that the node is still
    /// at the version this member last wrote or saw.
    mutating func acknowledge(_ record: MemberRecord) {
        let version = memberNodeVersion
        memberNodeVersion += 1
        send(.setData(paths.member(member), data: nodeData(record), version: version), .acknowledge(record, version: version))
    }

    /// The member node's record: `record` and, for the tools, host, pid and strategy.
    func nodeRecord(_ record: MemberRecord) -> MemberRecord {
        var record = record
        record.host = settings.identity.host
        record.pid = settings.identity.pid
        record.strategy = settings.identity.strategy
        record.release = settings.identity.release
        return record
    }

    /// The member node's data: `nodeRecord(record)`, encoded.
    func nodeData(_ record: MemberRecord) -> [UInt8] { nodeRecord(record).encoded }

    /// How long a failed acknowledgement waits before it is written again.
    var acknowledgementRetryDelay: Duration { mutations.contains(.retryWithoutBackoff) ? .zero : .milliseconds(100) }

    mutating func prepareGroup(_ purpose: Purpose) {
        guard session != nil else { return }
        let tag = take(purpose, nil)
        actions.append(.prepareGroup(tag))
    }

    private mutating func prepared(_ purpose: Purpose, failure: String?) {
        switch purpose {
        case .prepareForJoin:
            if let failure { joinFailed(failure) } else { createMemberNode() }
        case .prepareForLeader:
            lead(.writeFailed(fenced: false))
        case .prepareForElection:
            // Prepared or not: a create that fails again is retried again.
            elect(.retryDue)
        default:
            break
        }
    }

    /// Whether `names`, one listing of `path`, holds canonical twins: names that `String`
    /// (canonical equivalence, as every dictionary of these machines compares) takes for one,
    /// though ZooKeeper keeps their nodes apart (NFC "é" and NFD "e\u{301}"). Taken for one,
    /// two members would share one entry of the leader's plan: a grant written to one twin's
    /// node, acknowledged by the other. So the leader does not take such a listing: it goes on
    /// with what it knew (and a new reign does not start) until all but one twin are gone; the
    /// watch the listing armed tells it. Reported, and `lastError` until a listing of `path`
    /// has none. Only a name with a byte past ASCII can have a twin.
    mutating func hasCanonicalTwins(_ names: [String], in path: String) -> Bool {
        var twins: [String] = []
        if names.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) {
            var byText: [String: [String]] = [:]
            for name in names { byText[name, default: []].append(name) }
            twins = byText.values.filter { $0.count > 1 }.flatMap { $0 }.sorted(by: utf8Precedes)
        }
        guard !twins.isEmpty else {
            if lastError?.hasPrefix(Self.canonicalTwinsFailure(path)) == true { lastError = nil }
            return false
        }
        lastError = Self.canonicalTwinsProblem(path: path, names: twins)
        actions.append(.report(.canonicalTwins(path: path, names: twins)))
        return true
    }

    /// What `status` and the log say of canonical twins `names` in a listing of `path`.
    public static func canonicalTwinsProblem(path: String, names: [String]) -> String {
        let escaped = names.map { "\"\($0.unicodeScalars.map { $0.escaped(asASCII: true) }.joined())\"" }
        return canonicalTwinsFailure(path) + ": " + escaped.joined(separator: ", ")
            + "; rename or stop all but one (the leader holds the group's grants as they are until then)"
    }

    private static func canonicalTwinsFailure(_ path: String) -> String {
        "\(path) lists nodes whose names are the same Unicode text in other bytes, which allocatord cannot tell apart"
    }

    /// A read of the leader failed other than by the connection (a node of the group deleted
    /// behind its back): it reads everything again a second later, the group prepared first.
    mutating func leaderReadFailed() {
        guard leader.isLeading, timers.leaderReadRetry == nil else { return }
        leaderReadBackoff = mutations.contains(.retryWithoutBackoff) ? .zero : min(max(leaderReadBackoff * 2, .seconds(1)), .seconds(10))
        timers.leaderReadRetry = now + leaderReadBackoff
    }

    // MARK: Requests

    mutating func send(_ request: NodeRequest, _ purpose: Purpose) {
        guard session != nil else { return }
        actions.append(.send(take(purpose, request), request))
    }

    /// A new tag for `purpose`.
    mutating func take(_ purpose: Purpose, _ request: NodeRequest?) -> RequestTag {
        let tag = nextTag
        nextTag += 1
        pending[tag] = (purpose, request, now)
        return tag
    }

    /// `interest` fires with the watch `request` armed (the request just answered); a request
    /// that armed none, none. The kind of watch is the request's, never the interest's: the
    /// grant list, missing when listed, is watched by an `exists`, whose creation event is a
    /// data watch's (taken for the list's children watch, it fired nothing: seed
    /// 9747129607997597988).
    mutating func want(_ interest: Interest, armedBy request: NodeRequest?) {
        guard let watch = ArmedWatch(request) else { return }
        if interests[watch]?.contains(interest) != true { interests[watch, default: []].append(interest) }
    }
}

/// What members read from the group's own nodes.
public enum GroupNodes {
    /// The strategy the group node pins (`{"strategy": NAME, ...}`), if it names one that parses.
    public static func strategy(inGroupData data: [UInt8]) -> Strategy? {
        var name: String?
        var reader = JSONReader(data)
        do {
            try reader.object { reader, key throws(JSONReader.Failure) in
                if key == "strategy", !reader.null() { name = try reader.string() } else { try reader.skipValue() }
            }
            try reader.end()
        } catch {
            return nil
        }
        return name.flatMap { try? Strategy(parsing: $0) }
    }

    /// The partitions of the partition set's node (a JSON array of `TOPIC:ID` strings; empty
    /// data is the empty set, as kiel makes the node), or why it does not parse.
    public static func partitions(inSetData data: [UInt8]) -> Result<[Partition], PartitionSetMalformed> {
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .success([]) }
        var reader = JSONReader(data)
        let items: [String]
        do {
            items = try reader.strings()
            try reader.end()
        } catch {
            return .failure(PartitionSetMalformed(reason: "not a JSON list of strings: \(error)"))
        }
        var partitions: [Partition] = []
        partitions.reserveCapacity(items.count)
        for item in items {
            do throws(PartitionError) {
                partitions.append(try Partition(parsing: item))
            } catch {
                return .failure(PartitionSetMalformed(reason: "item \"\(item)\": \(error.reason)"))
            }
        }
        return .success(partitions)
    }
}

/// Why the partition set's node does not parse.
public struct PartitionSetMalformed: Error, Sendable, Equatable {
    public var reason: String
}
