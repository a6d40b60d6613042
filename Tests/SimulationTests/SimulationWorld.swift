import TestSupport
import Allocation
import Coordination
import FoundationEssentials

/// The znodes of one group in the simulation (spec §3, §14), and how its data is read.
struct SimulatedLayout {
    let paths = GroupPaths(group: "/kiel/groups/g")
    var group: String { paths.group }
    var members: String { paths.members }
    var partitions: String { paths.partitions }
    var leaderLock: String { paths.leaderLock }
    var assignments: String { paths.assignments }
    func member(_ name: String) -> String { paths.member(name) }
    func grant(_ name: String) -> String { paths.grant(name) }

    static func encode(_ partitions: [Partition]) -> [UInt8] {
        var output: [UInt8] = []
        JSONText.appendArray(partitions.sorted().map(\.description), to: &output)
        return output
    }
}

/// A violation of what protocol 2 promises, with what the checker saw.
struct SimulationFailure: Error, CustomStringConvertible {
    let description: String
}

/// N allocatord processes and a simulated ZooKeeper in one process, every choice drawn from one
/// seeded generator: which message is delivered next, when time moves, and which fault comes
/// (kills, restarts, pauses, lost connections, graceful stops, joins, writes of the partition
/// set, member nodes deleted by hand, the group's subtree deleted). After every step it checks
/// I1 (on the grant nodes), I2 (each live member's file within its grant) and the lease
/// promise (no partition in two files whose leases are both valid); `settle()` then checks
/// liveness.
struct SimulationWorld {
    var zk = SimulatedZooKeeper()
    var random: SplitMix64
    let layout = SimulatedLayout()
    let origin = ContinuousClock.now
    let timeout: Int64 = 1000
    var members: [SimulatedMember] = []
    /// Each member name's file: the publication delivered last, by whichever incarnation.
    var files: [String: (publication: Publication, incarnation: Int)] = [:]
    var partitionSet: [Partition]
    var trace: [String] = []
    /// Whether the trace is printed as it comes (`SIMULATION_TRACE`, and between the server's
    /// lines with `SIMULATION_SERVER_TRACE`): the whole story of a failing seed, not only its end.
    let printsTrace = Environment.value("SIMULATION_TRACE") != nil || Environment.value("SIMULATION_SERVER_TRACE") != nil
    /// The 64-bit FNV-1a hash of every line of the trace, the ones dropped included: two runs
    /// of one seed that differ anywhere differ here (`ReplayTests`).
    private(set) var traceDigest: UInt64 = 0xcbf2_9ce4_8422_2325
    var steps = 0
    /// Faults drawn (off while settling).
    var faults = true
    var faultCount = 0
    private var checkedZxid: Int64 = -1
    private let names = ["a", "b", "c", "d", "e"]
    /// The group's strategy, the members' weights and who hands over (spec §15), drawn from the
    /// seed (by a generator of their own, so the schedule's draws stay as they were):
    /// `consistent` or `sticky`, with equal weights or weights 1 to 3, the daemon or a consumer
    /// that releases after a while (or never: the release timeout does).
    let strategy: PureStrategy
    let weights: MemberWeights
    let handover: FollowerMachine.Handover
    /// Whether the group's strategy is an allocator program (`exec:`, a quarter of the drawn
    /// schedules), every member configured with it. The program computes `consistent` (weights
    /// aside) in up to 800 ms; while faults come, one run in ten fails and one in twenty hangs
    /// until the daemon's exec timeout, `execTimeout` (`SimulatedMember.runProgram`).
    let program: Bool
    /// `--rebalance-delay` (a quarter of the drawn schedules): the leader takes a change 20 ms
    /// after the last one, at most 150 ms after the first.
    let rebalanceDelay: (min: Duration, max: Duration)
    /// `--full-read-interval`: 2 s in a quarter of the drawn schedules (the daemon's 5 minutes
    /// never come in a schedule's simulated seconds otherwise).
    let fullReadInterval: Duration
    /// What the allocator program does, drawn by a generator of its own.
    var programRandom: SplitMix64
    static let execTimeout: Int64 = 1000
    /// The mechanisms switched off, for a mutation check (`MutationTests`); none otherwise.
    let mutations: Mutations
    /// The faults added in session 10 (a stalled server, one refusing writes, garbage in the
    /// nodes members read), drawn from a generator of their own so that the schedules of the
    /// other faults stay as they were; off to replay a seed found before them.
    let extraFaults: Bool
    var extraRandom: SplitMix64
    /// The nodes an operator's `deleteall` has still to delete, in order.
    private var operatorDeletions: [String] = []
    /// When the clients of a stalled server give up their connections (two thirds of a session
    /// timeout without an answer, as the C client does).
    private var stallDisconnectAt: Int64?
    /// At most this many writes (creates, deletes, sets, transactions) of one member in any
    /// second of simulated time: every retry backs off.
    static let writesPerSecond = 40

    /// A group's strategy, weights and handover, when a test chooses them rather than the seed.
    typealias Shape = (strategy: PureStrategy, weights: MemberWeights, handover: FollowerMachine.Handover)

    /// `drawsOptions`: the allocator program, the rebalance delay and the short full read drawn
    /// from the seed (with a `shape` given, or off, none: the tests that follow the usual path).
    init(
        seed: UInt64, partitions: Int = 12, mutations: Mutations = [], extraFaults: Bool = true, shape: Shape? = nil,
        drawsOptions: Bool = true
    ) {
        self.mutations = mutations
        self.extraFaults = extraFaults
        extraRandom = SplitMix64(seed: seed ^ 0xE87A_FA17_5EED_0010)
        random = SplitMix64(seed: seed)
        var variant = SplitMix64(seed: seed ^ 0x5713_C4F0_0D5E_ED13)
        let drawn: Shape = (
            variant.next() % 2 == 0 ? .consistent : .sticky,
            variant.next() % 2 == 0 ? MemberWeights() : MemberWeights([("b", 2), ("c", 3), ("e", 2)]),
            variant.next() % 2 == 0 ? .daemon : .consumer(releaseTimeout: .milliseconds(1500)))
        (strategy, weights, handover) = shape ?? drawn
        let options = shape == nil && drawsOptions
        program = options && variant.next() % 4 == 0
        rebalanceDelay = options && variant.next() % 4 == 0 ? (.milliseconds(20), .milliseconds(150)) : (.zero, .zero)
        fullReadInterval = options && variant.next() % 4 == 0 ? .seconds(2) : .seconds(300)
        programRandom = SplitMix64(seed: seed ^ 0x9806_7A11_0CA7_0125)
        partitionSet = (0..<partitions).map { Partition(topic: "t", id: $0) }
        if Environment.value("SIMULATION_SERVER_TRACE") != nil { zk.trace = { print("    \($0)") } }
        let setup = zk.openSession(timeout: 60_000)
        for path in ["/kiel", "/kiel/groups", layout.group, layout.members, layout.leaderLock] {
            _ = zk.send(.create(path, [], .persistent), from: setup)
        }
        _ = zk.send(.setData(layout.group, groupSettings, version: -1), from: setup)
        _ = zk.send(.create(layout.partitions, SimulatedLayout.encode(partitionSet), .persistent), from: setup)
        _ = zk.send(.close, from: setup)
        while zk.pendingDeliveries.contains(where: { $0.session == setup }) {
            let delivery = zk.pendingDeliveries.first { $0.session == setup }!
            if delivery.direction == .toServer { zk.deliverToServer(setup) } else { _ = zk.deliverToClient(setup) }
        }
    }

    /// The group's strategy as its node pins it.
    var groupStrategy: Strategy { program ? .exec(path: "/sim/allocator") : Strategy(strategy) }

    /// The group node's data: its strategy pinned, protocol 2.
    var groupSettings: [UInt8] { Array(#"{"strategy":"\#(groupStrategy.name)","protocol":2}"#.utf8) }

    /// Stops member `index` gracefully (SIGTERM): it publishes `stopped` and leaves the group.
    mutating func stop(_ index: Int) {
        var member = members[index]
        member.follow(.stop, &self)
        members[index] = member
    }

    /// Steps until `done`, at most `limit` steps.
    mutating func step(until done: (SimulationWorld) -> Bool, atMost limit: Int) throws {
        var steps = 0
        while !done(self), steps < limit {
            try step()
            steps += 1
        }
    }

    func instant(_ milliseconds: Int64) -> ContinuousClock.Instant { origin + .milliseconds(milliseconds) }

    func milliseconds(_ instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = origin.duration(to: instant).components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    mutating func log(_ line: String) {
        let stamped = "[\(zk.now) ms] \(line)"
        for byte in stamped.utf8 { traceDigest = (traceDigest ^ UInt64(byte)) &* 0x100_0000_01b3 }
        trace.append(stamped)
        if printsTrace { print("  \(stamped)") }
        if trace.count > 400 { trace.removeFirst(100) }
    }

    // MARK: Steps

    /// Starts a member process (a new incarnation if the name was used before).
    mutating func start(_ name: String) {
        let incarnation = members.filter { $0.name == name }.count
        let settings = MemberMachine.Settings(
            weight: weights[name], handover: handover, configuredStrategy: program ? groupStrategy : nil,
            rebalanceDelay: rebalanceDelay, fullReadInterval: fullReadInterval)
        var member = SimulatedMember(
            name: name, incarnation: incarnation, layout: layout, timeout: timeout, settings: settings, mutations: mutations)
        log("start \(member.label)")
        member.startSession(&self)
        members.append(member)
    }

    /// One step: a delivery, a publication reaching its file, time moving, or a fault.
    mutating func step() throws {
        steps += 1
        if faults, extraFaults, extraRandom.next() % 1000 < 2 { injectExtraFault() }
        if !operatorDeletions.isEmpty, random.next() % 4 == 0 { deleteNextOfSubtree() }
        let roll = random.next() % 1000
        switch roll {
        case 0..<600: deliverMessage()
        case 600..<800: deliverPublication()
        case 800..<995: advanceTime(by: Int64(1 + random.next() % 10))
        default: if faults { injectFault() } else { advanceTime(by: 5) }
        }
        try check()
    }

    private mutating func deliverMessage() {
        let deliveries = zk.pendingDeliveries.filter { delivery in
            guard delivery.direction == .toClient else { return true }
            return members.contains { $0.session == delivery.session && $0.isLive && !$0.paused }
                || !members.contains { $0.session == delivery.session && $0.isLive }
        }
        guard !deliveries.isEmpty else { return advanceTime(by: 5) }
        let delivery = deliveries[Int(random.next() % UInt64(deliveries.count))]
        if delivery.direction == .toServer {
            zk.deliverToServer(delivery.session)
            return
        }
        let message = zk.deliverToClient(delivery.session)
        guard let index = members.firstIndex(where: { $0.session == delivery.session && $0.isLive }) else { return }
        var member = members[index]
        member.receive(message, &self)
        members[index] = member
    }

    private mutating func deliverPublication() {
        let ready = members.indices.filter { members[$0].isLive && !members[$0].paused && !members[$0].outbox.isEmpty }
        guard !ready.isEmpty else { return }
        let index = ready[Int(random.next() % UInt64(ready.count))]
        var member = members[index]
        if let publication = member.deliverPublication(&self) {
            files[member.name] = (publication, member.incarnation)
            // The consumer reads the file: what is revoking it releases after a while, or never
            // (one time in ten), and then the release timeout frees it.
            if !publication.revoking.isEmpty, member.releaseAt == nil, random.next() % 10 != 0 {
                member.releaseAt = (zk.now + Int64(random.next() % 400), publication.epoch)
            }
        }
        members[index] = member
    }

    mutating func advanceTime(by milliseconds: Int64) {
        zk.advanceTime(to: zk.now + milliseconds)
        if let at = stallDisconnectAt, zk.now >= at {
            stallDisconnectAt = nil
            for member in members where member.isLive && zk.isStalled {
                guard let session = member.session, zk.connection(of: session) == .connected else { continue }
                log("\(member.label)'s client gives up its connection to the stalled server")
                zk.loseConnection(session, applied: 0)
            }
        }
        // The client library reconnects by itself, once the network lets it.
        for index in members.indices where members[index].isLive && !members[index].paused {
            guard let session = members[index].session, zk.connection(of: session) == .disconnected,
                  zk.now >= members[index].cutOffUntil
            else { continue }
            zk.reconnect(session)
        }
        for index in members.indices {
            var member = members[index]
            member.advance(&self)
            members[index] = member
        }
    }

    private mutating func injectFault() {
        let live = members.indices.filter { members[$0].isLive }
        // Half the faults strike the leader, if there is one: its faults are the hard ones.
        let leader = live.first { members[$0].leader.isLeading }
        let pick = live.isEmpty ? nil : (leader != nil && random.next() % 2 == 0) ? leader : live[Int(random.next() % UInt64(live.count))]
        switch random.next() % 12 {
        case 0:
            let absent = names.filter { name in !members.contains { $0.name == name && $0.isLive } }
            if let name = absent.first, live.count < 5 { start(name) }
        case 1:
            guard let pick else { return }
            log("kill -9 \(members[pick].label)")
            members[pick].running = false
            if let session = members[pick].session { zk.loseConnection(session, using: &random) }
        case 2:
            guard let pick else { return }
            members[pick].paused.toggle()
            log("\(members[pick].paused ? "pause" : "resume") \(members[pick].label)")
        case 3:
            // The connection drops: back at once, or cut off for up to twice the session timeout.
            guard let pick, let session = members[pick].session, zk.connection(of: session) == .connected else { return }
            let cutOff = random.next() % 2 == 0 ? 0 : Int64(random.next() % UInt64(2 * timeout))
            members[pick].cutOffUntil = zk.now + cutOff
            log("connection lost \(members[pick].label) for \(cutOff) ms")
            zk.loseConnection(session, using: &random)
        case 4:
            guard let pick else { return }
            log("SIGTERM \(members[pick].label)")
            stop(pick)
        case 5:
            // The partition set changes (an operator's add or remove).
            guard !zk.isStalled else { return }
            let partition = Partition(topic: "t", id: Int(random.next() % 16))
            if let index = partitionSet.firstIndex(of: partition) {
                partitionSet.remove(at: index)
            } else {
                partitionSet.append(partition)
            }
            writeAsOperator(.setData(layout.partitions, SimulatedLayout.encode(partitionSet), version: -1))
        case 6:
            // An operator (or a kiel consumer of the same name) deletes a live member's node.
            guard let pick else { return }
            log("operator deletes the node of \(members[pick].name)")
            writeAsOperator(.delete(layout.member(members[pick].name), version: -1))
        case 7:
            // An operator deletes the leader's contender node: another member leads while the
            // old leader still thinks it does, until its next write fails.
            let contenders = ContenderName.ordered(zk.children(of: layout.leaderLock))
            guard let first = contenders.first else { return }
            log("operator deletes the contender \(first)")
            writeAsOperator(.delete(layout.paths.contender(first), version: -1))
        case 8:
            // A persistent node named like the lowest contender (an operator's mistake, or an
            // attacker with write access): it never vanishes with a session, so it must be
            // passed over, or nobody leads once the leader goes.
            let fake = layout.leaderLock + "/00000000000000000000000000000000__lock__0000000000"
            guard zk.node(fake) == nil else { return }
            log("operator creates the persistent node \(fake)")
            writeAsOperator(.create(fake, [], .persistent))
        case 9:
            // A member is cut off, and meanwhile an operator deletes the group's state: every
            // grant and the summary, every contender and every member node (what deleting the
            // group's subtree does to what the members learn from); or, half the time, the
            // whole subtree as `deleteall` does, one node at a time, the members acting between
            // the deletions, the group's persistent nodes too: the members make them again, pin
            // the settings and seed the partition set. The cut-off member's lease still runs,
            // and nothing in ZooKeeper shows its session.
            guard let pick, let session = members[pick].session, zk.connection(of: session) == .connected else { return }
            let cutOff = Int64(random.next() % UInt64(2 * timeout))
            let subtree = random.next() % 2 == 0
            members[pick].cutOffUntil = zk.now + cutOff
            log("connection lost \(members[pick].label) for \(cutOff) ms; operator deletes the group's \(subtree ? "subtree" : "state")")
            zk.loseConnection(session, using: &random)
            if subtree {
                operatorDeletions = subtreeDepthFirst(layout.group)
                return
            }
            for member in zk.children(of: layout.assignments) { writeAsOperator(.delete(layout.grant(member), version: -1)) }
            writeAsOperator(.delete(layout.assignments, version: -1))
            for name in zk.children(of: layout.leaderLock) { writeAsOperator(.delete(layout.paths.contender(name), version: -1)) }
            for name in zk.children(of: layout.members) { writeAsOperator(.delete(layout.member(name), version: -1)) }
        default:
            // An operator deletes a grant node.
            let granted = zk.children(of: layout.assignments)
            guard !granted.isEmpty else { return }
            let member = granted[Int(random.next() % UInt64(granted.count))]
            log("operator deletes the grant of \(member)")
            writeAsOperator(.delete(layout.grant(member), version: -1))
        }
        faultCount += 1
    }

    /// `path` and every node below it, each after the nodes below it (the order `deleteall`
    /// deletes them in).
    private func subtreeDepthFirst(_ path: String) -> [String] {
        zk.children(of: path).flatMap { subtreeDepthFirst(path + "/" + $0) } + [path]
    }

    /// The next of an operator's `deleteall`: a node made below it meanwhile fails its
    /// parent's deletion (`notEmpty`), and the deletion goes on with the rest.
    private mutating func deleteNextOfSubtree() {
        let path = operatorDeletions.removeFirst()
        log("operator deletes \(path)")
        writeAsOperator(.delete(path, version: -1))
    }

    /// The faults of `extraFaults`: a stalled server, one refusing writes, garbage written by
    /// hand in a node members read. A well-formed forgery of what only
    /// the leader or a member writes is not among them: nothing can tell it from the real
    /// thing, and ACLs are the defence (docs/faults.md).
    private mutating func injectExtraFault() {
        guard !zk.isStalled else { return }
        let live = members.filter(\.isLive)
        let garbage: [UInt8] = switch extraRandom.next() % 5 {
        case 0: Array(#"{"epoch":"garbage""#.utf8)
        case 1: Array("[]".utf8)
        case 2: Array(#"{"epoch":12,"session":7,"partitions":{"t":["x"]}}"#.utf8)
        case 3: Array("null".utf8)
        default: [UInt8](repeating: UInt8(ascii: "x"), count: 200_000)
        }
        switch extraRandom.next() % 8 {
        case 0:
            let until = zk.now + timeout / 4 + Int64(extraRandom.next() % UInt64(2 * timeout))
            log("the server stalls until \(until) ms")
            zk.stall(until: until)
            stallDisconnectAt = zk.now + timeout * 2 / 3
        case 1:
            let until = zk.now + Int64(extraRandom.next() % UInt64(2 * timeout))
            log("the server refuses writes until \(until) ms")
            zk.refuseWrites(until: until)
        case 2:
            let granted = zk.children(of: layout.assignments)
            guard !granted.isEmpty else { return }
            let member = granted[Int(extraRandom.next() % UInt64(granted.count))]
            log("operator writes \(garbage.count) bytes of garbage into the grant of \(member)")
            writeAsOperator(.setData(layout.grant(member), garbage, version: -1))
        case 3:
            guard zk.node(layout.assignments) != nil else { return }
            log("operator writes \(garbage.count) bytes of garbage into the summary")
            writeAsOperator(.setData(layout.assignments, garbage, version: -1))
        case 4, 5:
            // Garbage only: a record of the right shape (an older acknowledgement, say) is a
            // forgery nothing can tell from a member's own; with its grant deleted too, the leader
            // takes it for a member that holds nothing (seed 13885179745603816302, which made this
            // case one of garbage).
            guard !live.isEmpty else { return }
            let name = live[Int(extraRandom.next() % UInt64(live.count))].name
            guard zk.node(layout.member(name)) != nil else { return }
            log("operator writes \(garbage.count) bytes of garbage into the node of \(name)")
            writeAsOperator(.setData(layout.member(name), garbage, version: -1))
        case 6:
            log("operator writes \(garbage.count) bytes of garbage into the group node")
            writeAsOperator(.setData(layout.group, garbage, version: -1))
        default:
            log("operator writes \(garbage.count) bytes of garbage into the partition set")
            writeAsOperator(.setData(layout.partitions, garbage, version: -1))
        }
        faultCount += 1
    }

    /// Once faults stop, the server is back to normal and an operator repairs what only an
    /// operator may (the group's settings, the partition set), as `allocatorctl repair` does.
    private mutating func endFaults() {
        faults = false
        zk.stall(until: zk.now)
        zk.refuseWrites(until: zk.now)
        stallDisconnectAt = nil
        while !operatorDeletions.isEmpty { deleteNextOfSubtree() }
        if GroupNodes.strategy(inGroupData: zk.node(layout.group)?.data ?? []) == nil {
            log("operator repairs the group node")
            writeAsOperator(.setData(layout.group, groupSettings, version: -1))
        }
        let written = try? GroupNodes.partitions(inSetData: zk.node(layout.partitions)?.data ?? []).get()
        if written.map(Set.init) != Set(partitionSet) {
            log("operator repairs the partition set")
            writeAsOperator(.setData(layout.partitions, SimulatedLayout.encode(partitionSet), version: -1))
        }
    }

    /// A write by another client, applied at once (not while the server is stalled).
    mutating func writeAsOperator(_ request: SimulatedZooKeeper.Request) {
        guard !zk.isStalled else { return log("(the server is stalled: not applied)") }
        let session = zk.openSession(timeout: 60_000)
        _ = zk.send(request, from: session)
        zk.deliverToServer(session)
        _ = zk.send(.close, from: session)
        zk.deliverToServer(session)
        while zk.pendingDeliveries.contains(where: { $0.session == session && $0.direction == .toClient }) {
            _ = zk.deliverToClient(session)
        }
    }

    // MARK: Checks

    /// I1, I2 and the lease promise, now.
    func check() throws {
        let now = zk.now
        // The lease promise: no partition in two files whose leases are both valid (what is
        // revoking is still the member's: its consumer may be working on it).
        var holder: [Partition: String] = [:]
        for (name, file) in files.sorted(by: { $0.key < $1.key }) {
            guard let lease = file.publication.lease, milliseconds(lease) > now else { continue }
            for partition in file.publication.held {
                if let other = holder[partition] {
                    throw SimulationFailure(description: "lease promise broken: \(partition) published by \(other) and \(name) with valid leases at \(now) ms")
                }
                holder[partition] = name
            }
        }
        // Every retry backs off: no storm of writes from one member.
        for member in members where member.isLive {
            let writes = member.writesInLastSecond(now: now)
            guard writes.count > Self.writesPerSecond else { continue }
            let list = writes.map { "\($0.at) ms: \(SimulatedMember.describe($0.request))" }.joined(separator: "\n")
            throw SimulationFailure(description: "\(member.label) wrote \(writes.count) times within a second: a retry without backoff\n\(list)")
        }
        // I1: no partition in two grants.
        var granted: [Partition: String] = [:]
        var grants: [String: Grant] = [:]
        for member in zk.children(of: layout.assignments) {
            guard let node = zk.node(layout.grant(member)), let grant = try? Grant(decoding: node.data) else { continue }
            grants[member] = grant
            for partition in grant.held {
                if let other = granted[partition] {
                    throw SimulationFailure(description: "I1 broken: \(partition) in the grants of \(other) and \(member)")
                }
                granted[partition] = member
            }
        }
        // I2: a live member's file holds only what its session's grant holds (a grant whose
        // holdings are unknown, after its node was lost, may hold anything unheld).
        for member in members where member.isLive {
            guard let session = member.session, zk.isAlive(session),
                  let file = files[member.name], file.incarnation == member.incarnation,
                  let lease = file.publication.lease, milliseconds(lease) > now,
                  let grant = grants[member.name], grant.session == session, !grant.unknownHoldings
            else { continue }
            let outside = file.publication.held.subtracting(grant.held)
            if !outside.isEmpty {
                throw SimulationFailure(description: "I2 broken: \(member.label) publishes \(outside.sorted()) outside its grant")
            }
        }
    }

    /// With faults off and every connection back, the group converges: every live member
    /// active on one epoch, its file up to date, the partitions split among them as the
    /// strategy says, nobody awaited. Returns how long it took (simulated ms).
    mutating func settle(within limit: Int64) throws -> Int64 {
        endFaults()
        // A group whose members all ended settles on nothing: one is started again.
        if liveMembers.isEmpty { start(names[members.count % names.count]) }
        for index in members.indices where members[index].paused { members[index].paused = false }
        for index in members.indices { members[index].cutOffUntil = 0 }
        let started = zk.now
        while zk.now - started < limit {
            for _ in 0..<20 { try step() }
            if isSettled { return zk.now - started }
        }
        throw SimulationFailure(description: "not settled within \(limit) ms: \(settledReport)")
    }

    private var liveMembers: [SimulatedMember] { members.filter { $0.isLive && !$0.follower.hasStopped } }

    var isSettled: Bool { settledReport.isEmpty }

    var settledReport: String {
        let live = liveMembers
        guard !live.isEmpty else { return "" }
        // sticky: its own result is a fixed point, so a settled group's grants are what sticky
        // gives them (and so within the quotas). A grant node an operator deleted is noticed by
        // the leader only at its next change or periodic full read (5 minutes): until then its
        // member holds what its file says, and nobody else is granted it. So is one an
        // operator filled with garbage (the leader reads it only when it writes it again).
        var holdings = grantList
        let granted = Set(holdings.map(\.member))
        for member in live where !granted.contains(member.name) {
            if let file = files[member.name], file.incarnation == member.incarnation {
                holdings.append((member.name, Array(file.publication.partitions)))
            }
        }
        let current = CurrentHoldings(holdings)
        let expected = program
            ? PureStrategy.consistent.allocate(members: live.map(\.name), partitions: partitionSet)
            : strategy.allocate(
                members: live.map(\.name), partitions: partitionSet, weights: weights,
                current: strategy == .sticky ? current : CurrentHoldings())
        var problems: [String] = []
        var epochs = Set<Int64>()
        for member in live {
            guard let file = files[member.name], file.incarnation == member.incarnation, member.outbox.isEmpty else {
                problems.append("\(member.label) has undelivered publications")
                continue
            }
            epochs.insert(file.publication.epoch)
            if file.publication.state != .active { problems.append("\(member.label) is \(file.publication.state)") }
            // A share has a lease still running; an empty one has none (spec §8): a member the
            // strategy gives nothing (more weight than partitions) is settled too.
            if !file.publication.held.isEmpty, file.publication.lease.map({ milliseconds($0) <= zk.now }) ?? true {
                problems.append("\(member.label)'s lease is over")
            }
            if file.publication.partitions != Set(expected.partitions(of: member.name)) {
                problems.append("\(member.label) holds \(file.publication.partitions.sorted()) not \(expected.partitions(of: member.name))")
            }
            if !member.leader.awaitedMembers.isEmpty { problems.append("\(member.label) awaits \(member.leader.awaitedMembers)") }
        }
        if epochs.count > 1 { problems.append("epochs \(epochs.sorted())") }
        return problems.joined(separator: "; ")
    }
}

extension SimulationWorld {
    /// What the grant nodes hold (`partitions` and `releasing`), by member.
    var grantList: [(member: String, partitions: [Partition])] {
        zk.children(of: layout.assignments).compactMap { member in
            zk.node(layout.grant(member)).flatMap { try? Grant(decoding: $0.data) }.map { (member, Array($0.held)) }
        }
    }

    /// The group's epoch in ZooKeeper.
    var epoch: Int64 {
        zk.node(layout.assignments).flatMap { try? GroupSummary(decoding: $0.data) }?.epoch ?? 0
    }
}
