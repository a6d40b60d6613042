import Allocation

/// One member over one ZooKeeper connection, as a machine: the election's, the follower's and
/// the leader's machines, and what turns their actions into requests and the replies and
/// watches back into their events: the purpose of every request under way, who waits on
/// which watch, the reading of all grants, what a lost reply means, and the timers they ask for.
///
/// Its executor sends each `.send` request and hands back its reply (`.replied`, in the order
/// the requests were sent, as ZooKeeper answers) and every watch that fires (`.watchFired`,
/// in the server's order, before the replies sent after it); it calls `.timersDue` at
/// `nextDeadline`, delivers publications, and tells of the connection and the session. The
/// simulation is one executor, over its simulated server.
public struct MemberMachine {
    /// A request's number, from 0 up, never reused.
    public typealias RequestTag = Int

    /// What happened.
    public enum Event {
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
        /// A watch fired on `path`.
        case watchFired(path: String)
        /// `nextDeadline` has come.
        case timersDue
        /// Straight to the follower: a publication delivered, the consumer's release, a stop.
        case follower(FollowerMachine.Event)
        /// Straight to the leader: the allocator's answer.
        case leader(LeaderMachine.Event)
    }

    /// What to do.
    public enum Action {
        case send(RequestTag, NodeRequest)
        /// Publishes the member's document.
        case publish(Publication)
        /// Runs the group's allocator program; its answer comes back as `.leader(.allocated)`.
        case runAllocator(Strategy, members: [String], partitions: [Partition])
        /// Something an operator should hear of.
        case report(Report)
    }

    /// What an operator should hear of.
    public enum Report {
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
        case ignoredWeights(Strategy, members: [String])
        case leaving
        case releaseTimedOut(Set<Partition>)
        /// The group's summary does not parse.
        case summaryUnreadable
        case wrote(LeaderWrite)
        case writeFailed(LeaderWrite, failedOperation: Int?, NodeFailure?)
    }

    public let member: String
    public let paths: GroupPaths
    public private(set) var follower: FollowerMachine
    public private(set) var leader: LeaderMachine
    /// This session's part in the leader election.
    public private(set) var election: ElectionMachine
    public private(set) var session: Int64?
    public private(set) var connected = false

    // Timers.
    /// The next `.tick` the follower asked for.
    private var wake: ContinuousClock.Instant?
    /// When the leader's acknowledgement round is due (its `.planAfter`).
    private var roundDue: ContinuousClock.Instant?
    /// When the leader reads everything again after failed writes (its `.retryAfter`).
    private var retryDue: ContinuousClock.Instant?
    /// When the leader's hold on unheld partitions ends (its `.holdUnheld`).
    private var holdOver: ContinuousClock.Instant?
    /// When each lingering session stops counting as alive (the leader's `.linger`).
    private var lingerOver: [(session: Int64, at: ContinuousClock.Instant)] = []
    /// When to try again to create a member node held by another session.
    private var retryJoin: (at: ContinuousClock.Instant, record: MemberRecord)?
    /// When the election's `.retry` is due.
    private var electionRetry: ContinuousClock.Instant?

    // Requests.
    private var nextTag: RequestTag = 0
    private var pending: [RequestTag: (purpose: Purpose, request: NodeRequest, sentAt: ContinuousClock.Instant)] = [:]
    /// Who waits for a watch on each path, in the order they asked.
    private var interests: [String: [Interest]] = [:]
    /// The `readGrants` under way, by number: a second may start before the first is done.
    private var grantsRead: [Int: GrantReading] = [:]
    private var grantReads = 0

    /// The actions of the event being handled, in order.
    private var actions: [Action] = []
    private var now = ContinuousClock.Instant.now

    private enum Purpose {
        case electionCreate, electionList, electionWatch(String), electionDelete, electionLock
        case createMember(MemberRecord)
        case checkMemberOwner(MemberRecord)
        case checkOwnMember
        case readGrant, readSummary, existsSummary
        case acknowledge(Int64)
        case leaderGroup, leaderPartitions, leaderMembers, leaderMember(String), leaderContenders
        case leaderSummary(Int), leaderGrantList(Int), leaderGrant(Int, String), leaderGrantNames, leaderGrantNamesExists
        case leaderWrite(LeaderWrite)
        case close
    }

    private enum Interest: Hashable {
        case leaderGroup, leaderPartitions, leaderMembers, leaderContenders, leaderMember(String), leaderGrants
        case predecessor, summary
    }

    /// A `readGrants` under way: the summary node, the list, and the grant nodes still to come.
    private struct GrantReading {
        var summary: (GroupSummary?, Int32?)?
        var remaining: Set<String>?
        var nodes: [String: GrantNodes.Node] = [:]
    }

    public init(
        member: String, paths: GroupPaths, weight: Int = 1, handover: FollowerMachine.Handover = .daemon,
        configuredStrategy: Strategy? = nil, sessionTimeout: Duration, mutations: Mutations = []
    ) {
        self.member = member
        self.paths = paths
        follower = FollowerMachine(member: member, weight: weight, handover: handover, mutations: mutations)
        leader = LeaderMachine(member: member, configuredStrategy: configuredStrategy, sessionTimeout: sessionTimeout, mutations: mutations)
        election = ElectionMachine(mutations: mutations)
    }

    /// When `.timersDue` should come next, if ever.
    public var nextDeadline: ContinuousClock.Instant? {
        guard session != nil else { return nil }
        return ([wake, roundDue, retryDue, holdOver, retryJoin?.at, electionRetry] + lingerOver.map(\.at)).compactMap { $0 }.min()
    }

    public mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        self.now = now
        switch event {
        case .sessionStarted(let id, let timeout):
            session = id
            connected = true
            forgetRequests()
            retryJoin = nil
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
            forgetRequests()
            elect(.sessionEnded)
            lead(.deposed)
            follow(.sessionEnded)
        case .replied(let tag, let reply):
            guard let (purpose, request, sentAt) = pending.removeValue(forKey: tag) else { break }
            if reply.isLost {
                lostReply(purpose)
            } else {
                follow(.heard(at: sentAt))
                handle(reply, to: request, purpose)
            }
        case .watchFired(let path):
            for interest in interests.removeValue(forKey: path) ?? [] { fire(interest) }
        case .timersDue:
            fireDueTimers()
        case .follower(let event):
            follow(event)
        case .leader(let event):
            lead(event)
        }
        defer { actions = [] }
        return actions
    }

    private mutating func forgetRequests() {
        electionRetry = nil
        pending = [:]
        interests = [:]
        grantsRead = [:]
    }

    // MARK: Replies and watches

    /// A request that got no answer (connection loss, or the session ended): the machines learn
    /// of the connection or the session itself; only what must be tried again is.
    private mutating func lostReply(_ purpose: Purpose) {
        switch purpose {
        case .leaderWrite:
            lead(.writeFailed(fenced: false))
        case .acknowledge:
            // Not known to be written: the follower writes it again after the next grant read.
            follow(.memberNodeDeleted)
        case .createMember(let record), .checkMemberOwner(let record):
            retryJoin = (now + .milliseconds(50), record)
        case .electionCreate:
            // Applied or not: the machine lists the lock to find out.
            elect(.createOutcomeUnknown)
        case .electionList: send(.getChildren(paths.leaderLock, watch: false), .electionList)
        case .electionWatch(let path): send(.exists(path, watch: true), .electionWatch(path))
        case .electionDelete: break
        case .electionLock: send(.create(paths.leaderLock, data: [], .persistent), .electionLock)
        case .readGrant: send(.getData(paths.grant(member), watch: false), .readGrant)
        case .readSummary, .existsSummary: send(.getData(paths.assignments, watch: true), .readSummary)
        case .leaderGroup, .leaderPartitions, .leaderMembers, .leaderMember, .leaderContenders, .leaderSummary,
             .leaderGrantList, .leaderGrant, .leaderGrantNames, .leaderGrantNamesExists:
            // Read everything again, as after a failed write.
            if leader.isLeading { lead(.writeFailed(fenced: false)) }
        case .checkOwnMember: follow(.memberNodeFound)  // the next summary that leaves it out asks again
        case .close: break
        }
    }

    private mutating func handle(_ reply: NodeReply, to request: NodeRequest, _ purpose: Purpose) {
        let result = reply.result
        switch purpose {
        case .close, .electionDelete:
            break
        case .electionCreate:
            if case .success(.created(let path)) = result {
                elect(.created(name: String(path.split(separator: "/").last!)))
            } else {
                elect(.createFailed)
            }
        case .electionList:
            switch result {
            case .success(.children(let names, _)): elect(.listed(names))
            case .failure(.noNode): elect(.listFailed)
            default: break
            }
        case .electionWatch(let path):
            guard case .success(.exists(let stat)) = result else { return }
            if stat != nil { want(.predecessor, on: path) }
            elect(.predecessorFound(owner: stat?.ephemeralOwner))
        case .electionLock:
            elect(.retryDue)
        case .createMember(let record):
            switch result {
            case .success:
                follow(.joined)
            case .failure(.nodeExists):
                send(.getData(paths.member(member), watch: false), .checkMemberOwner(record))
            default:
                retryJoin = (now + .milliseconds(50), record)
            }
        case .checkMemberOwner(let record):
            if case .success(.data(_, let stat)) = result, stat.ephemeralOwner == session {
                // Ours (an earlier join of this session): its data stays.
                follow(.joined)
            } else {
                retryJoin = (now + .milliseconds(100), record)  // held by another session: wait
            }
        case .checkOwnMember:
            switch result {
            case .success(.exists(let stat?)) where stat.ephemeralOwner == session: follow(.memberNodeFound)
            case .success: follow(.memberNodeDeleted)
            default: follow(.memberNodeFound)  // the look failed: proves nothing
            }
        case .readGrant:
            if case .success(.data(let data, _)) = result {
                follow(.grantRead(try? Grant(decoding: data)))
            } else {
                follow(.grantRead(nil))
            }
        case .readSummary:
            switch result {
            case .success(.data(let data, let stat)):
                want(.summary, on: paths.assignments)
                if let summary = try? GroupSummary(decoding: data) {
                    follow(.summaryRead(summary, made: stat.czxid))
                } else {
                    actions.append(.report(.summaryUnreadable))
                    follow(.summaryUnreadable)
                    lead(.refresh)
                }
            default:
                send(.exists(paths.assignments, watch: true), .existsSummary)
            }
        case .existsSummary:
            if case .success(.exists(nil)) = result {
                want(.summary, on: paths.assignments)
            } else {
                send(.getData(paths.assignments, watch: true), .readSummary)
            }
        case .acknowledge(let epoch):
            switch result {
            case .success: follow(.acknowledged(epoch: epoch))
            default: follow(.memberNodeDeleted)
            }
        case .leaderGroup:
            want(.leaderGroup, on: paths.group)
            if case .success(.data(let data, _)) = result {
                lead(.groupRead(GroupNodes.strategy(inGroupData: data)))
            } else {
                lead(.groupRead(nil))
            }
        case .leaderPartitions:
            want(.leaderPartitions, on: paths.partitions)
            if case .success(.data(let data, _)) = result {
                lead(.partitionsRead(GroupNodes.partitions(inSetData: data), PartitionSetState(bytes: data.count)))
            } else {
                lead(.partitionsRead([], PartitionSetState()))
            }
        case .leaderMembers:
            want(.leaderMembers, on: paths.members)
            if case .success(.children(let names, let stat)) = result { lead(.membersListed(names, changes: stat.cversion)) }
        case .leaderMember(let name):
            if case .success(.data(let data, let stat)) = result {
                if case .getData(_, true) = request { want(.leaderMember(name), on: paths.member(name)) }
                lead(.memberRead(name, PartyMember(name: name, session: stat.ephemeralOwner, record: MemberRecord(decoding: data))))
            } else {
                lead(.memberRead(name, nil))
            }
        case .leaderContenders:
            want(.leaderContenders, on: paths.leaderLock)
            if case .success(.children(let names, _)) = result {
                lead(.contendersListed(Set(names.compactMap(ContenderName.session))))
            }
        case .leaderGrantNames:
            if case .success(.children(let names, _)) = result {
                want(.leaderGrants, on: paths.assignments)
                lead(.grantsListed(Set(names)))
            } else {
                // Not made yet: watched for its creation.
                send(.exists(paths.assignments, watch: true), .leaderGrantNamesExists)
            }
        case .leaderGrantNamesExists:
            if case .success(.exists(nil)) = result {
                want(.leaderGrants, on: paths.assignments)
                lead(.grantsListed([]))
            } else {
                send(.getChildren(paths.assignments, watch: true), .leaderGrantNames)
            }
        case .leaderSummary(let read):
            guard var reading = grantsRead[read] else { return }
            if case .success(.data(let data, let stat)) = result {
                reading.summary = (try? GroupSummary(decoding: data), stat.version)
            } else {
                reading.summary = (nil, nil)
            }
            grantsRead[read] = reading
            finishGrantsRead(read)
        case .leaderGrantList(let read):
            guard var reading = grantsRead[read] else { return }
            let names = if case .success(.children(let names, _)) = result { names } else { [String]() }
            reading.remaining = Set(names)
            grantsRead[read] = reading
            for name in names { send(.getData(paths.grant(name), watch: false), .leaderGrant(read, name)) }
            finishGrantsRead(read)
        case .leaderGrant(let read, let name):
            guard var reading = grantsRead[read] else { return }
            reading.remaining?.remove(name)
            if case .success(.data(let data, let stat)) = result {
                reading.nodes[name] = GrantNodes.Node(grant: try? Grant(decoding: data), version: stat.version)
            }
            grantsRead[read] = reading
            finishGrantsRead(read)
        case .leaderWrite(let write):
            switch result {
            case .success(.multi(let results)):
                var versions = LeaderWrite.Versions(summary: 0, grants: [:])
                if case .written(let stat) = results[LeaderWrite.summaryIndex] { versions.summary = stat.version }
                for (index, (change, _)) in write.grants.enumerated() {
                    switch results[LeaderWrite.firstGrantIndex + index] {
                    case .written(let stat): versions.grants[change.member] = stat.version
                    case .created: versions.grants[change.member] = 0
                    default: break
                    }
                }
                actions.append(.report(.wrote(write)))
                lead(.written(versions))
            default:
                let failure: NodeFailure? = if case .failure(let failure) = result { failure } else { nil }
                actions.append(.report(.writeFailed(write, failedOperation: reply.failedOperation, failure)))
                lead(.writeFailed(fenced: reply.failedOperation == LeaderWrite.fenceIndex))
            }
        }
    }

    private mutating func want(_ interest: Interest, on path: String) {
        if interests[path]?.contains(interest) != true { interests[path, default: []].append(interest) }
    }

    private mutating func finishGrantsRead(_ read: Int) {
        guard let reading = grantsRead[read], let summary = reading.summary, let remaining = reading.remaining, remaining.isEmpty else { return }
        grantsRead[read] = nil
        lead(.grantsRead(GrantNodes(summary: summary.0, summaryVersion: summary.1, grants: reading.nodes)))
    }

    private mutating func fire(_ interest: Interest) {
        switch interest {
        case .leaderGroup: lead(.groupChanged)
        case .leaderPartitions: lead(.partitionsChanged)
        case .leaderMembers: lead(.membersChanged)
        case .leaderContenders: lead(.contendersChanged)
        case .leaderGrants: lead(.grantsChanged)
        case .leaderMember(let name): lead(.memberChanged(name))
        case .predecessor: elect(.predecessorChanged)
        case .summary: follow(.summaryChanged)
        }
    }

    // MARK: Timers

    /// Every timer that is due, in a fixed order.
    private mutating func fireDueTimers() {
        guard session != nil else { return }
        if let wake, now >= wake {
            self.wake = nil
            follow(.tick)
        }
        if let due = roundDue, now >= due {
            roundDue = nil
            lead(.roundDue)
        }
        if let due = retryDue, now >= due {
            retryDue = nil
            lead(.retryDue)
        }
        if let due = holdOver, now >= due {
            holdOver = nil
            lead(.holdOver)
        }
        while let index = lingerOver.firstIndex(where: { now >= $0.at }) {
            let session = lingerOver.remove(at: index).session
            lead(.lingerOver(session: session))
        }
        if let retry = retryJoin, now >= retry.at {
            retryJoin = nil
            send(.create(paths.member(member), data: retry.record.encoded, .ephemeral), .createMember(retry.record))
        }
        if let retry = electionRetry, now >= retry {
            electionRetry = nil
            // The lock's node made again if it is gone.
            send(.create(paths.leaderLock, data: [], .persistent), .electionLock)
        }
    }

    // MARK: Driving the machines

    private mutating func follow(_ event: FollowerMachine.Event) {
        for action in follower.handle(event, now: now) {
            switch action {
            case .join(let record):
                send(.create(paths.member(member), data: record.encoded, .ephemeral), .createMember(record))
            case .readGrant: send(.getData(paths.grant(member), watch: false), .readGrant)
            case .readSummary: send(.getData(paths.assignments, watch: true), .readSummary)
            case .publish(let publication): actions.append(.publish(publication))
            case .acknowledge(let record):
                send(.setData(paths.member(member), data: record.encoded, version: -1), .acknowledge(record.ackedEpoch))
            case .checkMemberNode: send(.exists(paths.member(member), watch: false), .checkOwnMember)
            case .wake(let at): wake = at
            case .leave:
                actions.append(.report(.leaving))
                send(.close, .close)
            case .releaseTimedOut(let partitions):
                actions.append(.report(.releaseTimedOut(partitions)))
            }
        }
    }

    private mutating func lead(_ event: LeaderMachine.Event) {
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
                roundDue = now + delay
            case .retryAfter(let delay):
                retryDue = now + delay
            case .linger(let session, let duration):
                actions.append(.report(.lingering(session: session, for: duration)))
                lingerOver.append((session, now + duration))
            case .holdUnheld(let duration):
                actions.append(.report(.holdingUnheld(for: duration)))
                holdOver = now + duration
            case .reportIgnoredWeights(let strategy, let members):
                actions.append(.report(.ignoredWeights(strategy, members: members)))
            case .stepDown:
                actions.append(.report(.steppedDown))
                elect(.contenderGone)
            }
        }
    }

    private mutating func elect(_ event: ElectionMachine.Event) {
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
                send(.exists(path, watch: true), .electionWatch(path))
            case .elected:
                actions.append(.report(.elected))
                lead(.elected)
            case .retry(let delay): electionRetry = now + delay
            case .passOver(let node): actions.append(.report(.passedOver(node)))
            }
        }
    }

    private mutating func send(_ request: NodeRequest, _ purpose: Purpose) {
        guard session != nil else { return }
        let tag = nextTag
        nextTag += 1
        pending[tag] = (purpose, request, now)
        actions.append(.send(tag, request))
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

    /// The partitions of the partition set's node (a JSON array of `TOPIC:ID` strings), or
    /// `nil` if it does not parse.
    public static func partitions(inSetData data: [UInt8]) -> [Partition]? {
        var reader = JSONReader(data)
        guard let items = try? reader.strings(), (try? reader.end()) != nil else { return nil }
        return try? items.map { try Partition(parsing: $0) }
    }
}
