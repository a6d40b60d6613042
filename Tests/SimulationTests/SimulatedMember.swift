import Allocation
import Coordination
import Glibc

/// One allocatord process in the simulation: the daemon's `MemberMachine` (the election's,
/// the follower's and the leader's machines and what turns their actions into requests),
/// executed over a simulated ZooKeeper session as the daemon executes it over a real one, and
/// a publisher that delivers publications to "the file" one step at a time.
struct SimulatedMember {
    typealias ZK = SimulatedZooKeeper

    let name: String
    let incarnation: Int
    let layout: SimulatedLayout
    let timeout: Int64
    private(set) var machine: MemberMachine
    var session: ZK.SessionID?
    var running = true
    var paused = false
    /// The network lets the client reconnect from this moment on.
    var cutOffUntil: Int64 = 0
    /// Stopped gracefully: the session is closed.
    var exited = false
    /// Membership became impossible (`.fail`): the daemon ends the session in its machine
    /// (`due`), waits for the `lost` that follows to be delivered, closes the session and exits.
    var exit: Exit?
    enum Exit { case due, awaitingDelivery }
    /// Publications made and not yet delivered to the file, in order.
    var outbox: [Publication] = []
    var deliveredCount = 0
    var lastPing: Int64 = 0
    /// When the consumer says `release EPOCH` (consumer handover).
    var releaseAt: (at: Int64, epoch: Int64)?
    /// The machine's requests under way, by the simulated server's request id.
    private var requests: [ZK.RequestID: MemberMachine.RequestTag] = [:]
    /// Pings under way (the client library's, not the machine's), and when each was sent.
    private var pings: [ZK.RequestID: Int64] = [:]
    /// The group's preparations under way (`GroupSetup`'s steps), by their request's id.
    private var setups: [ZK.RequestID: GroupSetupRun] = [:]
    /// The allocator program's runs under way (the daemon runs each in a task of the session),
    /// when each ends, and what it gives: an allocation, or why it failed.
    private var programRuns: [(at: Int64, result: Result<Allocation, ProgramFailure>)] = []
    /// The machine's writes of the last second, and when each was sent.
    private var recentWrites: [(at: Int64, request: NodeRequest)] = []

    /// The CPU time the machine took, in nanoseconds (`ScaleTests`).
    private(set) var machineNanoseconds: Int64 = 0

    /// The writes the machine sent in the second before `now`.
    func writesInLastSecond(now: Int64) -> [(at: Int64, request: NodeRequest)] { recentWrites.filter { $0.at > now - 1000 } }

    init(
        name: String, incarnation: Int, layout: SimulatedLayout, timeout: Int64, settings: MemberMachine.Settings,
        mutations: Mutations = []
    ) {
        self.name = name
        self.incarnation = incarnation
        self.layout = layout
        self.timeout = timeout
        machine = MemberMachine(
            member: name, paths: layout.paths, settings: settings, sessionTimeout: .milliseconds(timeout), mutations: mutations)
    }

    var follower: FollowerMachine { machine.follower }
    var leader: LeaderMachine { machine.leader }
    var election: ElectionMachine { machine.election }
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

    /// A write as the storm check shows it.
    static func describe(_ request: NodeRequest) -> String {
        switch request {
        case .create(let path, _, let mode): "create \(path) \(mode)"
        case .delete(let path, let version): "delete \(path) v\(version)"
        case .setData(let path, let data, let version): "set \(path) v\(version) \(String(decoding: data.prefix(60), as: UTF8.self))"
        case .multi(let operations): "multi of \(operations.count)"
        default: "\(request)"
        }
    }

    // MARK: Sessions

    /// Opens a new session and tells the machine.
    mutating func startSession(_ world: inout SimulationWorld) {
        let id = world.zk.openSession(timeout: timeout)
        session = id
        requests = [:]
        pings = [:]
        setups = [:]
        programRuns = []
        lastPing = world.zk.now
        world.log("\(label) session s\(id)")
        handle(.sessionStarted(session: id, timeout: .milliseconds(timeout)), &world)
    }

    var label: String { "\(name)#\(incarnation)" }

    // MARK: Messages from ZooKeeper

    mutating func receive(_ message: ZK.Message, _ world: inout SimulationWorld) {
        switch message {
        case .reply(let reply):
            if let sentAt = pings.removeValue(forKey: reply.id) {
                if case .success = reply.result { handle(.follower(.heard(at: world.instant(sentAt))), &world) }
            } else if let tag = requests.removeValue(forKey: reply.id) {
                handle(.replied(tag, Self.nodeReply(reply)), &world)
            } else if let run = setups.removeValue(forKey: reply.id) {
                continueSetup(run, after: reply.result, &world)
            }
        case .event(let event):
            // One event fires the client's watches of every kind it concerns (a deletion: both).
            let deleted = event.kind == .nodeDeleted
            if event.kind != .nodeChildrenChanged { handle(.watchFired(path: event.path, children: false, deleted: deleted), &world) }
            if event.kind == .nodeChildrenChanged || deleted {
                handle(.watchFired(path: event.path, children: true, deleted: deleted), &world)
            }
        case .disconnected:
            handle(.disconnected, &world)
        case .reconnected:
            handle(.reconnected, &world)
        case .sessionEnded:
            world.log("\(label) session s\(session ?? 0) ended")
            session = nil
            requests = [:]
            pings = [:]
            setups = [:]
            programRuns = []
            handle(.sessionEnded, &world)
            if exit != nil {
                running = false  // the daemon exits: no new session
            } else if !exited, !follower.hasStopped {
                startSession(&world)
            } else {
                exited = true
            }
        }
    }

    /// The consumer's or the operator's word to the follower (`release`, SIGTERM).
    mutating func follow(_ event: FollowerMachine.Event, _ world: inout SimulationWorld) {
        handle(.follower(event), &world)
    }

    // MARK: The executor

    private mutating func handle(_ event: MemberMachine.Event, _ world: inout SimulationWorld) {
        let before = Self.threadCPU()
        let actions = machine.handle(event, now: world.instant(world.zk.now))
        if Environment.value("SIMULATION_EVENTS") == name {
            // Every event this member's machines take, and what they ask (shortened).
            print("  [\(world.zk.now) ms] \(name)#\(incarnation) takes \(String(describing: event).prefix(300)) -> \(String(describing: actions).prefix(400))")
        }
        machineNanoseconds += Self.threadCPU() - before
        for action in actions {
            switch action {
            case .send(let tag, let request):
                guard let session else { continue }
                requests[send(request, from: session, &world)] = tag
            case .publish(let publication):
                outbox.append(publication)
            case .runAllocator(_, let members, let partitions):
                runProgram(members: members, partitions: partitions, &world)
            case .prepareGroup(let tag):
                startSetup(GroupSetupRun(job: .prepare(tag), step: .lookForMembers), &world)
            case .pinSettings(let tag):
                startSetup(GroupSetupRun(job: .pin(tag), step: .readSettings), &world)
            case .seedIfFresh:
                startSetup(GroupSetupRun(job: .seed, step: .readPartitionSet), &world)
            case .fail(let failure):
                // The daemon exits (and systemd starts it again; here a later fault may), once
                // the document that drops its share is out (`advance`).
                world.log("\(label) must exit: \(failure)")
                exit = .due
            case .report(let report):
                world.log(describe(report))
            }
        }
    }

    // MARK: The allocator program

    struct ProgramFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts a run of the group's allocator program (`SimulationWorld.program`): it computes
    /// `consistent` over `members` and `partitions`, in up to 800 ms; while faults come, one run
    /// in ten exits with an error and one in twenty never answers (the daemon's exec timeout
    /// ends it, after `SimulationWorld.execTimeout`).
    private mutating func runProgram(members: [String], partitions: [Partition], _ world: inout SimulationWorld) {
        let roll = world.faults ? world.programRandom.next() % 20 : 19
        var takes = Int64(world.programRandom.next() % 800)
        let result: Result<Allocation, ProgramFailure>
        switch roll {
        case 0:
            takes = SimulationWorld.execTimeout
            result = .failure(ProgramFailure(description: "timed out after \(takes) ms"))
        case 1, 2:
            result = .failure(ProgramFailure(description: "exited with status 1"))
        default:
            result = .success(PureStrategy.consistent.allocate(members: members, partitions: partitions))
        }
        let at = world.zk.now + takes
        programRuns.insert((at, result), at: programRuns.firstIndex { $0.at > at } ?? programRuns.endIndex)
    }

    /// Hands the machine every run of the program that has ended, in the order they ended.
    private mutating func endProgramRuns(_ world: inout SimulationWorld) {
        while let run = programRuns.first, run.at <= world.zk.now {
            programRuns.removeFirst()
            switch run.result {
            case .success(let allocation): handle(.leader(.allocated(allocation)), &world)
            case .failure(let failure): handle(.allocatorFailed(failure.description), &world)
            }
        }
    }

    // MARK: The group's preparation

    /// What the daemon's `GroupSetup` does for the machine, one request at a time over the
    /// simulated server as its `await`s do: `prepareGroup` makes every missing node of the
    /// group (the group node, `members`, the partition set, the leader lock), pins or checks the
    /// settings and seeds a fresh partition set; `pinSettings` and `seedIfFresh` are its parts.
    /// Every member is configured with the world's strategy, and seeds the world's partitions.
    private struct GroupSetupRun {
        enum Job { case prepare(MemberMachine.RequestTag), pin(MemberMachine.RequestTag), seed }
        enum Step {
            /// `exists(members)`: a group with its `members` node has the nodes above it.
            case lookForMembers
            /// Creating the first of `paths` (one already there will do), then the rest.
            case make([String])
            case readSettings
            case pinSettings(version: Int32)
            case readPartitionSet
            case seedPartitionSet
        }
        let job: Job
        var step: Step
    }

    private mutating func startSetup(_ run: GroupSetupRun, _ world: inout SimulationWorld) {
        guard let session else { return }
        let request: NodeRequest = switch run.step {
        case .lookForMembers: .exists(layout.members, watch: false)
        case .make(let paths): .create(paths[0], data: [], .persistent)
        case .readSettings: .getData(layout.group, watch: false)
        case .pinSettings(let version):
            .setData(layout.group, data: world.groupSettings, version: version)
        case .readPartitionSet: .getData(layout.partitions, watch: false)
        case .seedPartitionSet: .setData(layout.partitions, data: SimulatedLayout.encode(world.partitionSet), version: 0)
        }
        setups[send(request, from: session, &world)] = run
    }

    private mutating func continueSetup(_ run: GroupSetupRun, after result: Result<ZK.Response, ZK.Code>, _ world: inout SimulationWorld) {
        var run = run
        switch (run.step, result) {
        case (.lookForMembers, .success(.exists(let stat))):
            let below = [layout.partitions, layout.leaderLock]
            run.step = .make(stat != nil ? below : ["/kiel", "/kiel/groups", layout.group, layout.members] + below)
        case (.make(let paths), .success), (.make(let paths), .failure(.nodeExists)):
            run.step = paths.count > 1 ? .make(Array(paths.dropFirst())) : .readSettings
        case (.readSettings, .success(.data(let data, let stat))):
            if let strategy = GroupNodes.strategy(inGroupData: data) { return settingsSettled(run, strategy, &world) }
            guard data.isEmpty else { return setupFailed(run, "the group's settings do not parse", &world) }
            run.step = .pinSettings(version: stat.version)
        case (.pinSettings, .success):
            return settingsSettled(run, world.groupStrategy, &world)
        case (.pinSettings, .failure(.badVersion)):
            run.step = .readSettings
        case (.readPartitionSet, .success(.data(let data, let stat))):
            guard stat.version == 0, data.count <= 2 else { return setupDone(run, &world) }
            run.step = .seedPartitionSet
        case (.seedPartitionSet, _):
            // A seed that fails is logged, never fatal.
            return setupDone(run, &world)
        case (_, .failure(let code)):
            return setupFailed(run, "\(code)", &world)
        case (_, .success(let response)):
            return setupFailed(run, "an unexpected reply: \(response)", &world)
        }
        startSetup(run, &world)
    }

    /// The settings are pinned: a preparation goes on to the partition set.
    private mutating func settingsSettled(_ run: GroupSetupRun, _ strategy: Strategy, _ world: inout SimulationWorld) {
        guard case .pin(let tag) = run.job else { return startSetup(GroupSetupRun(job: run.job, step: .readPartitionSet), &world) }
        handle(.settingsPinned(tag, strategy), &world)
    }

    private mutating func setupDone(_ run: GroupSetupRun, _ world: inout SimulationWorld) {
        if case .prepare(let tag) = run.job { handle(.groupPrepared(tag, failure: nil), &world) }
    }

    private mutating func setupFailed(_ run: GroupSetupRun, _ failure: String, _ world: inout SimulationWorld) {
        switch run.job {
        case .prepare(let tag): handle(.groupPrepared(tag, failure: failure), &world)
        case .pin(let tag): handle(.settingsPinned(tag, nil), &world)
        case .seed: break
        }
    }

    /// Sends `request`, counted among the writes of the last second if it is one.
    private mutating func send(_ request: NodeRequest, from session: ZK.SessionID, _ world: inout SimulationWorld) -> ZK.RequestID {
        switch request {
        case .create, .delete, .setData, .multi:
            recentWrites.removeAll { $0.at <= world.zk.now - 1000 }
            recentWrites.append((world.zk.now, request))
        default: break
        }
        return world.zk.send(Self.request(request), from: session)
    }

    private func describe(_ report: MemberMachine.Report) -> String {
        switch report {
        case .joined: "\(label) joined"
        case .joinFailed(let reason, let delay): "\(label) could not join (\(reason)); again in \(delay.milliseconds) ms"
        case .memberNodeLost: "\(label) finds its member node gone"
        case .memberRecordUnreadable(let path): "\(label): \(path) holds no record"
        case .memberNodeRewritten(_, let version): "\(label) restores its member node, rewritten by someone else (version \(version))"
        case .acknowledgementFailed(let epoch, let failure): "\(label) could not acknowledge epoch \(epoch): \(failure)"
        case .readFailed(let what, let failure): "\(label) could not read \(what): \(failure)"
        case .retryingReads(let delay): "\(label) reads everything again in \(delay.milliseconds) ms"
        case .allocatorFailed(let error, _): "\(label): the allocator failed: \(error)"
        case .partitionSetMalformed(_, let reason): "\(label): the partition set does not parse: \(reason)"
        case .elected: "\(label) leads"
        case .steppedDown: "\(label) steps down"
        case .deletingSurplusContender(let node): "\(label) deletes its surplus contender \(node)"
        case .passedOver(let node): "\(label) passes over \(node), not ephemeral"
        case .lingering(let session, let duration):
            "\(label) counts session s\(session) alive for \(duration.milliseconds) ms: its nodes vanished apart"
        case .holdingUnheld(let duration): "\(label) holds back what nobody holds for \(duration.milliseconds) ms"
        case .ignoredWeights(let strategy, let members): "\(label): \(strategy) ignores the weights of \(members)"
        case .leaving: "\(label) leaves"
        case .releaseTimedOut(let partitions): "\(label): release timed out for \(partitions.sorted())"
        case .canonicalTwins(let path, let names): "\(label): \(path) lists canonical twins \(names); not taken"
        case .summaryUnreadable: "\(label): the summary does not parse"
        case .grantUnreadable: "\(label): its grant does not parse; deleted"
        case .wrote(let write):
            "\(label) wrote epoch \(write.summary.epoch): \(write.grants.map { Self.describe($0.0) }.joined(separator: "; "))"
        case .writeFailed(let write, let operation, let failure):
            "\(label) write of epoch \(write.summary.epoch) failed at op \(operation ?? -1): \(failure.map { "\($0)" } ?? "an unexpected reply")"
        }
    }

    /// This thread's CPU time, in nanoseconds.
    static func threadCPU() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    static func request(_ request: NodeRequest) -> ZK.Request {
        switch request {
        case .create(let path, let data, let mode): .create(path, data, createMode(mode))
        case .delete(let path, let version): .delete(path, version: version)
        case .setData(let path, let data, let version): .setData(path, data, version: version)
        case .getData(let path, let watch): .getData(path, watch: watch)
        case .exists(let path, let watch): .exists(path, watch: watch)
        case .getChildren(let path, let watch): .getChildren(path, watch: watch)
        case .multi(let operations):
            .multi(operations.map { operation in
                switch operation {
                case .check(let path, let version): .check(path, version: version)
                case .create(let path, let data): .create(path, data, .persistent)
                case .set(let path, let data, let version): .setData(path, data, version: version)
                case .delete(let path, let version): .delete(path, version: version)
                }
            })
        case .close: .close
        }
    }

    static func createMode(_ mode: NodeMode) -> ZK.CreateMode {
        switch mode {
        case .persistent: .persistent
        case .ephemeral: .ephemeral
        case .ephemeralSequential: .ephemeralSequential
        }
    }

    static func nodeReply(_ reply: ZK.Reply) -> NodeReply {
        NodeReply(reply.result.map(response).mapError(failure), failedOperation: reply.failedOp)
    }

    static func stat(_ stat: ZK.Stat) -> NodeStat {
        NodeStat(
            czxid: stat.czxid, version: stat.version, cversion: stat.cversion, ephemeralOwner: stat.ephemeralOwner,
            mzxid: stat.mzxid)
    }

    static func response(_ response: ZK.Response) -> NodeResponse {
        switch response {
        case .created(let path, let czxid): .created(path, made: czxid)
        case .deleted: .deleted
        case .stat(let value): .written(stat(value))
        case .data(let data, let value): .data(data, stat(value))
        case .exists(let value): .exists(value.map(stat))
        case .children(let names, let value): .children(names, stat(value))
        case .multi(let results):
            .multi(results.map { result in
                switch result {
                case .created(let path): .created(path)
                case .setData(let value): .written(stat(value))
                case .deleted: .deleted
                case .checked: .checked
                }
            })
        case .synced, .closed: .closed
        }
    }

    static func failure(_ code: ZK.Code) -> NodeFailure {
        switch code {
        case .noNode: .noNode
        case .nodeExists: .nodeExists
        case .badVersion: .badVersion
        case .notEmpty: .notEmpty
        case .noChildrenForEphemerals: .noChildrenForEphemerals
        case .connectionLoss: .connectionLoss
        case .sessionExpired: .sessionExpired
        case .notReadOnly: .other(code: -119)
        }
    }

    // MARK: Time

    /// Pings, the consumer's release and the machine's timers, when due.
    mutating func advance(_ world: inout SimulationWorld) {
        guard isLive, !paused, let session else { return }
        let now = world.zk.now
        // The client library keeps the session alive while an exit waits for its delivery.
        if machine.connected || exit != nil, now - lastPing >= timeout / 3 {
            lastPing = now
            pings[world.zk.send(.sync("/"), from: session)] = now
        }
        if let exit {
            // As `Member.run()` when membership is impossible: the session ended in the
            // machine (`lost` published), its delivery awaited, then the session closed.
            if exit == .due {
                self.exit = .awaitingDelivery
                handle(.sessionEnded, &world)
            }
            if outbox.isEmpty {
                world.log("\(label) exits")
                _ = world.zk.send(.close, from: session)
                running = false
            }
            return
        }
        endProgramRuns(&world)
        if let release = releaseAt, now >= release.at {
            releaseAt = nil
            world.log("\(label)'s consumer releases epoch \(release.epoch)")
            follow(.released(epoch: release.epoch), &world)
        }
        if let deadline = machine.nextDeadline, world.instant(now) >= deadline {
            handle(.timersDue, &world)
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
