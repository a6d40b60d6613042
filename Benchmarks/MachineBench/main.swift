// The member's machines alone (issue 21, item 6): no processes, no ZooKeeper, no network. A
// leader (`LeaderMachine`) and one follower (`FollowerMachine`) are driven through the events a
// real session would bring them, and the CPU time of their work per change is measured: the
// leader's events, its writes' encoding (`LeaderWrite.operations`), and the follower's decoding
// of the summary and its grant and its events. Not measured: the member document's JSON (in
// Allocator), the actor, the ZooKeeper client.
//
//   swift run -c release allocatord-machine-bench [--partitions P] [--members N] [--changes K]
//       [--strategy consistent|sticky|round-robin|range]
//
// One change is a member joining (its node appears) or leaving (its node goes); the changes
// alternate. Each runs to its end: revocations written, the members that lose partitions
// acknowledge, the grants written. It prints the CPU per change (p50, p90, max) of the leader
// and of the follower, and how many writes a change took.

import Allocation
import Coordination
import Glibc

struct Options {
    var partitions = 10_000
    var members = 20
    var changes = 100
    var strategy = PureStrategy.consistent

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let option = iterator.next() {
            guard let value = iterator.next() else { Self.usage("\(option) needs a value") }
            switch option {
            case "--partitions": partitions = Self.number(option, value)
            case "--members": members = Self.number(option, value)
            case "--changes": changes = Self.number(option, value)
            case "--strategy":
                guard case .pure(let pure)? = (try? Strategy(parsing: value))?.computation else { Self.usage("--strategy: a pure strategy") }
                strategy = pure
            default: Self.usage("unknown option \(option)")
            }
        }
    }

    static func number(_ option: String, _ value: String) -> Int {
        guard let number = Int(value), number > 0 else { usage("\(option): a positive number") }
        return number
    }

    static func usage(_ message: String) -> Never {
        print("allocatord-machine-bench: \(message)")
        exit(64)
    }
}

/// The process's CPU time, in nanoseconds.
func cpuTime() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// A group as ZooKeeper would hold it, and a leader and a follower driven over it.
struct Bench {
    let partitions: [Partition]
    var names: [String]
    var sessions: [String: Int64] = [:]
    var records: [String: MemberRecord] = [:]
    var grants: [String: GrantNodes.Node] = [:]
    var summary: (GroupSummary, Int32)?
    var membersChanges: Int32 = 0
    var leader: LeaderMachine
    var follower: FollowerMachine
    let followerName: String
    var strategy: Strategy
    var nextSession: Int64 = 1
    var leaderCPU: Int64 = 0
    var followerCPU: Int64 = 0
    var writes = 0
    var delivered = 0
    let start = ContinuousClock.now

    init(options: Options) {
        partitions = (0..<options.partitions).map { Partition(topic: "t\($0 % 10)", id: $0 / 10) }.sorted()
        names = (0..<options.members).map { "m" + String(String(1000 + $0).dropFirst()) }
        strategy = Strategy(options.strategy)
        leader = LeaderMachine(member: names[0], configuredStrategy: nil, sessionTimeout: .seconds(10))
        followerName = names[1]
        follower = FollowerMachine(member: followerName)
        for name in names { join(name) }
    }

    mutating func join(_ name: String) {
        sessions[name] = nextSession
        records[name] = MemberRecord()
        nextSession += 1
        membersChanges += 1
    }

    mutating func leave(_ name: String) {
        sessions[name] = nil
        records[name] = nil
        names.removeAll { $0 == name }
        membersChanges += 1
    }

    /// The leader's event, and everything it leads to, until nothing is left to do.
    mutating func lead(_ first: LeaderMachine.Event) {
        var queue = [first]
        while !queue.isEmpty {
            let event = queue.removeFirst()
            let before = cpuTime()
            let actions = leader.handle(event)
            leaderCPU += cpuTime() - before
            for action in actions { queue += perform(action) }
        }
    }

    /// What ZooKeeper answers to `action`.
    mutating func perform(_ action: LeaderMachine.Action) -> [LeaderMachine.Event] {
        switch action {
        case .readGroup: return [.groupRead(strategy)]
        case .readPartitions: return [.partitionsRead(partitions, PartitionSetState(bytes: partitions.count * 8))]
        case .listMembers: return [.membersListed(names, changes: membersChanges)]
        case .readMember(let name, _):
            return [.memberRead(name, sessions[name].map { PartyMember(name: name, session: $0, record: records[name]) })]
        case .listContenders: return [.contendersListed(Set(sessions.values))]
        case .readGrants: return [.grantsRead(GrantNodes(summary: summary?.0, summaryVersion: summary?.1, grants: grants))]
        case .listGrants: return [.grantsListed(Set(grants.keys))]
        case .write(let write): return written(write)
        case .planAfter: return [.roundDue]
        case .holdUnheld: return [.holdOver]
        case .linger(let session, _): return [.lingerOver(session: session)]
        case .runAllocator, .stepDown, .retryAfter, .reportIgnoredWeights, .extendRound: return []
        }
    }

    /// The write applied (its bytes made, as the daemon makes them), then the follower told,
    /// then every awaited member's acknowledgement.
    mutating func written(_ write: LeaderWrite) -> [LeaderMachine.Event] {
        writes += 1
        let before = cpuTime()
        let operations = write.operations(in: GroupPaths(group: "/kiel/groups/bench"), contender: "c")
        leaderCPU += cpuTime() - before
        var versions = LeaderWrite.Versions(summary: (summary?.1).map { $0 + 1 } ?? 0, grants: [:])
        var grantData: [UInt8]?
        var summaryData: [UInt8] = []
        for operation in operations {
            switch operation {
            case .set(let path, let data, _), .create(let path, let data):
                if path.hasSuffix("/assignments") { summaryData = data }
                if path.hasSuffix("/" + followerName) { grantData = data }
            default: break
            }
        }
        for (change, _) in write.grants {
            switch change {
            case .create(let member, let grant), .set(let member, let grant):
                let version = grants[member].map { $0.version + 1 } ?? 0
                grants[member] = GrantNodes.Node(grant: grant, version: version)
                versions.grants[member] = version
            case .delete(let member):
                grants[member] = nil
            }
        }
        summary = (write.summary, versions.summary)
        follow(summary: summaryData, grant: grantData)
        var events: [LeaderMachine.Event] = [.written(versions)]
        for (member, epoch) in write.summary.awaited.sorted(by: { $0.key < $1.key }) where records[member] != nil {
            records[member]!.ackedEpoch = epoch
            events.append(.memberChanged(member))
        }
        return events
    }

    /// The follower reads the summary (and its grant, when the summary names it changed),
    /// publishes, and acknowledges once that is delivered.
    mutating func follow(summary data: [UInt8], grant: [UInt8]?) {
        let before = cpuTime()
        let now = ContinuousClock.now
        var queue: [FollowerMachine.Event] = [.heard(at: now), .summaryChanged]
        while !queue.isEmpty {
            let event = queue.removeFirst()
            for action in follower.handle(event, now: now) {
                switch action {
                case .readSummary: queue.append(.summaryRead(try? GroupSummary(decoding: data, changesOf: followerName)))
                case .readGrant: queue.append(.grantRead(grant.flatMap { try? Grant(decoding: $0) }))
                case .publish:
                    delivered += 1
                    queue.append(.delivered(count: delivered))
                case .acknowledge(let record): queue.append(.acknowledged(epoch: record.ackedEpoch))
                case .join: queue.append(.joined())
                default: break
                }
            }
        }
        followerCPU += cpuTime() - before
    }
}

let options = Options(CommandLine.arguments)
var bench = Bench(options: options)
// The follower's session and join; the leader's election and first allocation.
_ = bench.follower.handle(.sessionStarted(session: bench.sessions[bench.followerName]!, timeout: .seconds(10)), now: .now)
_ = bench.follower.handle(.joined(), now: .now)
bench.lead(.elected)

var leaderPerChange: [Int64] = [], followerPerChange: [Int64] = [], writesPerChange: [Int] = []
for change in 0..<options.changes {
    let (leaderBefore, followerBefore, writesBefore) = (bench.leaderCPU, bench.followerCPU, bench.writes)
    if change % 2 == 0 {
        bench.names.append("x")
        bench.names.sort()
        bench.join("x")
    } else {
        bench.leave("x")
    }
    bench.lead(.membersChanged)
    leaderPerChange.append(bench.leaderCPU - leaderBefore)
    followerPerChange.append(bench.followerCPU - followerBefore)
    writesPerChange.append(bench.writes - writesBefore)
}

func milliseconds(_ nanoseconds: Int64) -> String {
    "\((Double(nanoseconds) / 1e3).rounded() / 1e3)"
}

func summary(_ values: [Int64]) -> String {
    let sorted = values.sorted()
    func at(_ fraction: Double) -> Int64 { sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))] }
    return "p50 \(milliseconds(at(0.5))) ms, p90 \(milliseconds(at(0.9))) ms, max \(milliseconds(sorted.last ?? 0)) ms"
}

print("""
    machines alone: P = \(options.partitions), N = \(options.members) (+1 joining and leaving), strategy \(options.strategy), \(options.changes) changes
      leader CPU per change:   \(summary(leaderPerChange))
      follower CPU per change: \(summary(followerPerChange))
      writes per change: \(writesPerChange.sorted()[writesPerChange.count / 2]) (p50), epoch \(bench.leader.epoch)
    """)
