import Allocation
import Coordination

/// One allocatord process in the simulation: the follower's and the leader's state machines,
/// driven over a simulated ZooKeeper session the way the daemon's actor drives them over a
/// real one (join, leader lock, reads and watches, acknowledgements, fenced writes), and a
/// publisher that delivers publications to "the file" one step at a time.
struct SimulatedMember {
    typealias ZK = SimulatedZooKeeper

    let name: String
    let incarnation: Int
    let layout: SimulatedLayout
    let timeout: Int64
    var follower: FollowerMachine
    var leader: LeaderMachine
    var session: ZK.SessionID?
    var connected = false
    /// This session's part in the leader election: the daemon's own machine.
    var election: ElectionMachine
    var running = true
    var paused = false
    /// The network lets the client reconnect from this moment on.
    var cutOffUntil: Int64 = 0
    /// Stopped gracefully: the session is closed.
    var exited = false
    /// Publications made and not yet delivered to the file, in order.
    var outbox: [Publication] = []
    var deliveredCount = 0
    /// The next `.tick` the follower asked for (simulated milliseconds).
    var wake: Int64?
    /// When the leader's acknowledgement round is due (its `.planAfter`).
    var roundDueAt: Int64?
    /// When the leader reads everything again after failed writes (its `.retryAfter`).
    var retryDueAt: Int64?
    /// When the leader's hold on unheld partitions ends (its `.holdUnheld`).
    var holdOverAt: Int64?
    /// When each lingering session stops counting as alive (the leader's `.linger`).
    var lingerOverAt: [(session: Int64, at: Int64)] = []
    /// When to try again to create a member node held by another session.
    var retryJoinAt: (at: Int64, record: MemberRecord)?
    var lastPing: Int64 = 0
    /// When the consumer says `release EPOCH` (consumer handover).
    var releaseAt: (at: Int64, epoch: Int64)?
    private var pending: [ZK.RequestID: (purpose: Purpose, sentAt: Int64)] = [:]
    /// Who waits for a watch on each path, in the order they asked (deterministic).
    private var interests: [String: [Interest]] = [:]
    /// The `readGrants` under way, by number: a second may start before the first is done.
    private var grantsRead: [Int: GrantReading] = [:]
    private var grantReads = 0
    /// When the election's `.retry` is due.
    private var electionRetryAt: Int64?

    private enum Purpose {
        case ping
        case electionCreate, electionList, electionWatch(String), electionDelete(String), electionLock
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

    init(
        name: String, incarnation: Int, layout: SimulatedLayout, timeout: Int64, weight: Int = 1,
        handover: FollowerMachine.Handover = .daemon, mutations: Mutations = []
    ) {
        self.name = name
        self.incarnation = incarnation
        self.layout = layout
        self.timeout = timeout
        follower = FollowerMachine(member: name, weight: weight, handover: handover, mutations: mutations)
        leader = LeaderMachine(member: name, configuredStrategy: nil, sessionTimeout: .milliseconds(timeout), mutations: mutations)
        election = ElectionMachine(mutations: mutations)
    }

    var isLive: Bool { running && !exited }

    /// A grant's change as the trace shows it, its partitions in order (a `Set`'s own
    /// description follows the process's hash seed, and the trace's digest must not).
    static func describe(_ change: GrantWrite) -> String {
        switch change {
        case .create(let member, let grant), .set(let member, let grant):
            "\(member): epoch \(grant.epoch) session \(grant.session) \(grant.partitions.sorted()) releasing \(grant.releasing.sorted())"
                + (grant.unknownHoldings ? " holdings unknown" : "")
        case .delete(let member): "delete \(member)"
        }
    }

    // MARK: Sessions

    /// Opens a new session and tells the follower.
    mutating func startSession(_ world: inout SimulationWorld) {
        let id = world.zk.openSession(timeout: timeout)
        session = id
        connected = true
        electionRetryAt = nil
        pending = [:]
        interests = [:]
        grantsRead = [:]
        retryJoinAt = nil
        lastPing = world.zk.now
        world.log("\(label) session s\(id)")
        elect(.sessionStarted(session: id), &world)
        follow(.sessionStarted(session: id, timeout: .milliseconds(timeout)), &world)
    }

    var label: String { "\(name)#\(incarnation)" }

    // MARK: Messages from ZooKeeper

    mutating func receive(_ message: ZK.Message, _ world: inout SimulationWorld) {
        switch message {
        case .reply(let reply):
            guard let (purpose, sentAt) = pending.removeValue(forKey: reply.id) else { return }
            if case .failure(let code) = reply.result, code == .connectionLoss || code == .sessionExpired {
                lostReply(purpose, world: &world)
                return
            }
            follow(.heard(at: world.instant(sentAt)), &world)
            handle(reply, purpose, &world)
        case .event(let event):
            for interest in interests.removeValue(forKey: event.path) ?? [] { fire(interest, event, &world) }
        case .disconnected:
            connected = false
            follow(.disconnected, &world)
        case .reconnected:
            connected = true
            follow(.reconnected, &world)
        case .sessionEnded:
            world.log("\(label) session s\(session ?? 0) ended")
            session = nil
            connected = false
            electionRetryAt = nil
            pending = [:]
            interests = [:]
            grantsRead = [:]
            elect(.sessionEnded, &world)
            lead(.deposed, &world)
            follow(.sessionEnded, &world)
            if !exited, !follower.hasStopped { startSession(&world) } else { exited = true }
        }
    }

    /// A request that got no answer (connection loss, or the session ended): the state machines
    /// learn of the connection or the session itself; only what must be tried again is.
    private mutating func lostReply(_ purpose: Purpose, world: inout SimulationWorld) {
        switch purpose {
        case .leaderWrite:
            lead(.writeFailed(fenced: false), &world)
        case .acknowledge:
            // Not known to be written: the follower writes it again after the next grant read.
            follow(.memberNodeDeleted, &world)
        case .createMember(let record), .checkMemberOwner(let record):
            retryJoinAt = (world.zk.now + 50, record)
        case .electionCreate:
            // Applied or not: the machine lists the lock to find out (sent once reconnected).
            elect(.createOutcomeUnknown, &world)
        case .electionList: send(.getChildren(layout.leaderLock, watch: false), .electionList, &world)
        case .electionWatch(let path): send(.exists(path, watch: true), .electionWatch(path), &world)
        case .electionDelete(let path): send(.delete(path, version: -1), .electionDelete(path), &world)
        case .electionLock: send(.create(layout.leaderLock, [], .persistent), .electionLock, &world)
        case .readGrant: send(.getData(layout.grant(name), watch: false), .readGrant, &world)
        case .readSummary, .existsSummary: send(.getData(layout.assignments, watch: true), .readSummary, &world)
        case .leaderGroup, .leaderPartitions, .leaderMembers, .leaderMember, .leaderContenders, .leaderSummary,
             .leaderGrantList, .leaderGrant, .leaderGrantNames, .leaderGrantNamesExists:
            // Read everything again, as after a failed write.
            if leader.isLeading { lead(.writeFailed(fenced: false), &world) }
        case .checkOwnMember: follow(.memberNodeFound, &world)  // the next summary that leaves it out asks again
        case .ping, .close: break
        }
    }

    private mutating func handle(_ reply: ZK.Reply, _ purpose: Purpose, _ world: inout SimulationWorld) {
        let result = reply.result
        switch purpose {
        case .ping, .close:
            break
        case .electionCreate:
            if case .success(.created(let path)) = result {
                elect(.created(name: String(path.split(separator: "/").last!)), &world)
            } else {
                elect(.createFailed, &world)
            }
        case .electionList:
            switch result {
            case .success(.children(let names, _)): elect(.listed(names), &world)
            case .failure(.noNode): elect(.listFailed, &world)
            default: break
            }
        case .electionWatch(let path):
            guard case .success(.exists(let stat)) = result else { return }
            if stat != nil { want(.predecessor, on: path) }
            elect(.predecessorFound(owner: stat?.ephemeralOwner), &world)
        case .electionDelete:
            break
        case .electionLock:
            elect(.retryDue, &world)
        case .createMember(let record):
            switch result {
            case .success:
                follow(.joined, &world)
            case .failure(.nodeExists):
                send(.getData(layout.member(name), watch: false), .checkMemberOwner(record), &world)
            default:
                retryJoinAt = (world.zk.now + 50, record)
            }
        case .checkMemberOwner(let record):
            if case .success(.data(_, let stat)) = result, stat.ephemeralOwner == session {
                // Ours (an earlier join of this session): its data stays, as the daemon's Party.
                follow(.joined, &world)
            } else {
                retryJoinAt = (world.zk.now + 100, record)  // held by another session: wait
            }
        case .checkOwnMember:
            switch result {
            case .success(.exists(let stat?)) where stat.ephemeralOwner == session: follow(.memberNodeFound, &world)
            case .success: follow(.memberNodeDeleted, &world)
            default: follow(.memberNodeFound, &world)  // the look failed: proves nothing
            }
        case .readGrant:
            if case .success(.data(let data, _)) = result {
                follow(.grantRead(try? Grant(decoding: data)), &world)
            } else {
                follow(.grantRead(nil), &world)
            }
        case .readSummary:
            switch result {
            case .success(.data(let data, let stat)):
                want(.summary, on: layout.assignments)
                if let summary = try? GroupSummary(decoding: data) {
                    follow(.summaryRead(summary, made: stat.czxid), &world)
                } else {
                    world.log("\(label): the summary does not parse")
                    follow(.summaryUnreadable, &world)
                    lead(.refresh, &world)
                }
            default:
                send(.exists(layout.assignments, watch: true), .existsSummary, &world)
            }
        case .existsSummary:
            if case .success(.exists(nil)) = result {
                want(.summary, on: layout.assignments)
            } else {
                send(.getData(layout.assignments, watch: true), .readSummary, &world)
            }
        case .acknowledge(let epoch):
            switch result {
            case .success: follow(.acknowledged(epoch: epoch), &world)
            default: follow(.memberNodeDeleted, &world)
            }
        case .leaderGroup:
            want(.leaderGroup, on: layout.group)
            if case .success(.data(let data, _)) = result {
                lead(.groupRead(SimulatedLayout.strategy(in: data)), &world)
            } else {
                lead(.groupRead(nil), &world)
            }
        case .leaderPartitions:
            want(.leaderPartitions, on: layout.partitions)
            if case .success(.data(let data, _)) = result {
                lead(.partitionsRead(SimulatedLayout.partitions(in: data), PartitionSetState(bytes: data.count)), &world)
            } else {
                lead(.partitionsRead([], PartitionSetState()), &world)
            }
        case .leaderMembers:
            want(.leaderMembers, on: layout.members)
            if case .success(.children(let names, let stat)) = result { lead(.membersListed(names, changes: stat.cversion), &world) }
        case .leaderMember(let member):
            if case .success(.data(let data, let stat)) = result {
                if case .getData(_, true) = reply.request { want(.leaderMember(member), on: layout.member(member)) }
                let node = PartyMember(name: member, session: stat.ephemeralOwner, record: MemberRecord(decoding: data))
                lead(.memberRead(member, node), &world)
            } else {
                lead(.memberRead(member, nil), &world)
            }
        case .leaderContenders:
            want(.leaderContenders, on: layout.leaderLock)
            if case .success(.children(let names, _)) = result {
                lead(.contendersListed(Set(names.compactMap(ContenderName.session))), &world)
            }
        case .leaderGrantNames:
            if case .success(.children(let names, _)) = result {
                want(.leaderGrants, on: layout.assignments)
                lead(.grantsListed(Set(names)), &world)
            } else {
                // Not made yet: watched for its creation, as the daemon does.
                send(.exists(layout.assignments, watch: true), .leaderGrantNamesExists, &world)
            }
        case .leaderGrantNamesExists:
            if case .success(.exists(nil)) = result {
                want(.leaderGrants, on: layout.assignments)
                lead(.grantsListed([]), &world)
            } else {
                send(.getChildren(layout.assignments, watch: true), .leaderGrantNames, &world)
            }
        case .leaderSummary(let read):
            guard var reading = grantsRead[read] else { return }
            if case .success(.data(let data, let stat)) = result {
                reading.summary = (try? GroupSummary(decoding: data), stat.version)
            } else {
                reading.summary = (nil, nil)
            }
            grantsRead[read] = reading
            finishGrantsRead(read, &world)
        case .leaderGrantList(let read):
            guard var reading = grantsRead[read] else { return }
            let names = if case .success(.children(let names, _)) = result { names } else { [String]() }
            reading.remaining = Set(names)
            grantsRead[read] = reading
            for member in names { send(.getData(layout.grant(member), watch: false), .leaderGrant(read, member), &world) }
            finishGrantsRead(read, &world)
        case .leaderGrant(let read, let member):
            guard var reading = grantsRead[read] else { return }
            reading.remaining?.remove(member)
            if case .success(.data(let data, let stat)) = result {
                reading.nodes[member] = GrantNodes.Node(grant: try? Grant(decoding: data), version: stat.version)
            }
            grantsRead[read] = reading
            finishGrantsRead(read, &world)
        case .leaderWrite(let write):
            switch result {
            case .success(.multi(let results)):
                var versions = LeaderWrite.Versions(summary: 0, grants: [:])
                if case .setData(let stat) = results[LeaderWrite.summaryIndex] { versions.summary = stat.version }
                for (index, (change, _)) in write.grants.enumerated() {
                    let result = results[LeaderWrite.firstGrantIndex + index]
                    if case .setData(let stat) = result { versions.grants[change.member] = stat.version }
                    if case .created = result { versions.grants[change.member] = 0 }
                }
                world.log("\(label) wrote epoch \(write.summary.epoch): \(write.grants.map { Self.describe($0.0) }.joined(separator: "; "))")
                lead(.written(versions), &world)
            default:
                world.log("\(label) write of epoch \(write.summary.epoch) failed at op \(reply.failedOp ?? -1): \(result)")
                lead(.writeFailed(fenced: reply.failedOp == LeaderWrite.fenceIndex), &world)
            }
        }
    }

    private mutating func want(_ interest: Interest, on path: String) {
        if interests[path]?.contains(interest) != true { interests[path, default: []].append(interest) }
    }

    private mutating func finishGrantsRead(_ read: Int, _ world: inout SimulationWorld) {
        guard let reading = grantsRead[read], let summary = reading.summary, let remaining = reading.remaining, remaining.isEmpty else { return }
        grantsRead[read] = nil
        lead(.grantsRead(GrantNodes(summary: summary.0, summaryVersion: summary.1, grants: reading.nodes)), &world)
    }

    private mutating func fire(_ interest: Interest, _ event: ZK.WatchEvent, _ world: inout SimulationWorld) {
        switch interest {
        case .leaderGroup: lead(.groupChanged, &world)
        case .leaderPartitions: lead(.partitionsChanged, &world)
        case .leaderMembers: lead(.membersChanged, &world)
        case .leaderContenders: lead(.contendersChanged, &world)
        case .leaderGrants: lead(.grantsChanged, &world)
        case .leaderMember(let member): lead(.memberChanged(member), &world)
        case .predecessor: elect(.predecessorChanged, &world)
        case .summary: follow(.summaryChanged, &world)
        }
    }

    // MARK: Driving the machines

    mutating func follow(_ event: FollowerMachine.Event, _ world: inout SimulationWorld) {
        for action in follower.handle(event, now: world.instant(world.zk.now)) {
            switch action {
            case .join(let record):
                send(.create(layout.member(name), record.encoded, .ephemeral), .createMember(record), &world)
            case .readGrant: send(.getData(layout.grant(name), watch: false), .readGrant, &world)
            case .readSummary: send(.getData(layout.assignments, watch: true), .readSummary, &world)
            case .publish(let publication): outbox.append(publication)
            case .acknowledge(let record):
                send(.setData(layout.member(name), record.encoded, version: -1), .acknowledge(record.ackedEpoch), &world)
            case .checkMemberNode: send(.exists(layout.member(name), watch: false), .checkOwnMember, &world)
            case .wake(let at): wake = world.milliseconds(at)
            case .leave:
                world.log("\(label) leaves")
                send(.close, .close, &world)
            case .releaseTimedOut(let partitions):
                world.log("\(label): release timed out for \(partitions.sorted())")
            }
        }
    }

    mutating func lead(_ event: LeaderMachine.Event, _ world: inout SimulationWorld) {
        for action in leader.handle(event) {
            switch action {
            case .readGroup: send(.getData(layout.group, watch: true), .leaderGroup, &world)
            case .readPartitions: send(.getData(layout.partitions, watch: true), .leaderPartitions, &world)
            case .listMembers: send(.getChildren(layout.members, watch: true), .leaderMembers, &world)
            case .readMember(let member, let watch): send(.getData(layout.member(member), watch: watch), .leaderMember(member), &world)
            case .listContenders: send(.getChildren(layout.leaderLock, watch: true), .leaderContenders, &world)
            case .listGrants: send(.getChildren(layout.assignments, watch: true), .leaderGrantNames, &world)
            case .readGrants:
                grantReads += 1
                grantsRead[grantReads] = GrantReading()
                send(.getData(layout.assignments, watch: false), .leaderSummary(grantReads), &world)
                send(.getChildren(layout.assignments, watch: false), .leaderGrantList(grantReads), &world)
            case .write(let write):
                guard let contender = election.contender else {
                    lead(.writeFailed(fenced: true), &world)
                    continue
                }
                let ops: [ZK.Op] = write.operations(in: layout.paths, contender: contender).map { operation in
                    switch operation {
                    case .check(let path, let version): .check(path, version: version)
                    case .create(let path, let data): .create(path, data, .persistent)
                    case .set(let path, let data, let version): .setData(path, data, version: version)
                    case .delete(let path, let version): .delete(path, version: version)
                    }
                }
                send(.multi(ops), .leaderWrite(write), &world)
            case .runAllocator:
                lead(.allocated(nil), &world)
            case .planAfter(let delay):
                roundDueAt = world.zk.now + delay.milliseconds
            case .retryAfter(let delay):
                retryDueAt = world.zk.now + delay.milliseconds
            case .linger(let session, let duration):
                world.log("\(label) counts session s\(session) alive for \(duration.milliseconds) ms: its nodes vanished apart")
                lingerOverAt.append((session, world.zk.now + duration.milliseconds))
            case .holdUnheld(let duration):
                world.log("\(label) holds back what nobody holds for \(duration.milliseconds) ms")
                holdOverAt = world.zk.now + duration.milliseconds
            case .reportIgnoredWeights(let strategy, let members):
                world.log("\(label): \(strategy) ignores the weights of \(members)")
            case .stepDown:
                world.log("\(label) steps down")
                elect(.contenderGone, &world)
            }
        }
    }

    mutating func elect(_ event: ElectionMachine.Event, _ world: inout SimulationWorld) {
        for action in election.handle(event) {
            switch action {
            case .create(let prefix):
                send(.create(layout.leaderLock + "/" + prefix, Array(name.utf8), .ephemeralSequential), .electionCreate, &world)
            case .list: send(.getChildren(layout.leaderLock, watch: false), .electionList, &world)
            case .delete(let node):
                world.log("\(label) deletes its surplus contender \(node)")
                let path = layout.leaderLock + "/" + node
                send(.delete(path, version: -1), .electionDelete(path), &world)
            case .watch(let node):
                let path = layout.leaderLock + "/" + node
                send(.exists(path, watch: true), .electionWatch(path), &world)
            case .elected:
                world.log("\(label) leads")
                lead(.elected, &world)
            case .retry(let delay): electionRetryAt = world.zk.now + delay.milliseconds
            case .passOver(let node): world.log("\(label) passes over \(node), not ephemeral")
            }
        }
    }

    private mutating func send(_ request: ZK.Request, _ purpose: Purpose, _ world: inout SimulationWorld) {
        guard let session else { return }
        let id = world.zk.send(request, from: session)
        pending[id] = (purpose, world.zk.now)
    }

    // MARK: Time

    /// Pings, the follower's tick and a join to try again, when due.
    mutating func advance(_ world: inout SimulationWorld) {
        guard isLive, !paused, session != nil else { return }
        let now = world.zk.now
        if connected, now - lastPing >= timeout / 3 {
            lastPing = now
            send(.exists("/", watch: false), .ping, &world)
        }
        if let wake, now >= wake {
            self.wake = nil
            follow(.tick, &world)
        }
        if let release = releaseAt, now >= release.at {
            releaseAt = nil
            world.log("\(label)'s consumer releases epoch \(release.epoch)")
            follow(.released(epoch: release.epoch), &world)
        }
        if let due = roundDueAt, now >= due {
            roundDueAt = nil
            lead(.roundDue, &world)
        }
        if let due = retryDueAt, now >= due {
            retryDueAt = nil
            lead(.retryDue, &world)
        }
        if let due = holdOverAt, now >= due {
            holdOverAt = nil
            lead(.holdOver, &world)
        }
        while let index = lingerOverAt.firstIndex(where: { now >= $0.at }) {
            let session = lingerOverAt.remove(at: index).session
            lead(.lingerOver(session: session), &world)
        }
        if let retry = retryJoinAt, now >= retry.at {
            retryJoinAt = nil
            send(.create(layout.member(name), retry.record.encoded, .ephemeral), .createMember(retry.record), &world)
        }
        if let retry = electionRetryAt, now >= retry {
            electionRetryAt = nil
            // The lock's node made again if it is gone, as the daemon's ensurePath does.
            send(.create(layout.leaderLock, [], .persistent), .electionLock, &world)
        }
    }

    /// Delivers the oldest publication to the file; returns it.
    mutating func deliverPublication(_ world: inout SimulationWorld) -> Publication? {
        guard !outbox.isEmpty else { return nil }
        let publication = outbox.removeFirst()
        deliveredCount += 1
        follow(.delivered(count: deliveredCount), &world)
        return publication
    }
}

