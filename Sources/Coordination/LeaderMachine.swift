import Allocation

/// The leader's life in protocol 2 (spec §14), as a state machine: events in, actions out.
/// No I/O; the daemon's actor (or the simulation) performs the actions and reports back.
///
/// The story: elected (its contender node is the lowest of the leader lock), the leader reads
/// everything: the group's strategy, the partition set, the member nodes, the contender
/// nodes (whose names carry their sessions), the `assignments` node and every grant. Then, and
/// after every change it is told of, it plans (`RebalancePlanner`) and writes the outcome in
/// one `multi` that checks its own contender node (fencing: a leader whose session has ended
/// cannot write) and the versions of the nodes it read (a stale read fails instead of
/// overwriting). It watches the members, the partition set, the group node and the contenders,
/// and the member nodes of the members it awaits, whose acknowledgements let the plan go on.
public struct LeaderMachine: Sendable {
    /// What the machine asks its driver to do.
    public enum Action: Sendable, Equatable {
        /// Read the group node and watch it; report `.groupRead`, `.groupChanged`.
        case readGroup
        /// Read the partition set and watch it; report `.partitionsRead`, `.partitionsChanged`.
        case readPartitions
        /// List `members/` and watch it; report `.membersListed`, `.membersChanged`.
        case listMembers
        /// Read one member node (data and owner), watching it if `watch`; report `.memberRead`,
        /// and `.memberChanged` when the watch fires.
        case readMember(String, watch: Bool)
        /// List the leader lock's contenders and watch the list; report `.contendersListed`,
        /// `.contendersChanged`.
        case listContenders
        /// Read the `assignments` node and every grant node under it; report `.grantsRead`.
        case readGrants
        /// List the grant nodes (the children of `assignments`) and watch the list; report
        /// `.grantsListed`, `.grantsChanged`. A grant node deleted behind the leader's back
        /// (its member then waits for it in vain) is noticed at once, not at the next full read.
        case listGrants
        /// Perform the write as one fenced `multi`; report `.written` or `.writeFailed`.
        case write(LeaderWrite)
        /// Run the group's `exec:` program for these members and partitions; report `.allocated`.
        case runAllocator(Strategy, members: [String], partitions: [Partition])
        /// Report `.roundDue` after this long: an acknowledgement round begins (see
        /// `acknowledgementRound`).
        case planAfter(Duration)
        /// Another acknowledgement came in the round: report `.roundDue` `acknowledgementRound`
        /// from now instead, but not later than `acknowledgementRoundLimit` after it began.
        case extendRound
        /// This member no longer leads (the fence failed): contend again.
        case stepDown
        /// Report `.retryDue` after this long: writes failed again and again (a node the
        /// leader cannot make sense of, a server refusing), so it reads everything again
        /// after a pause that doubles, up to `maximumRetryDelay`, instead of at once.
        case retryAfter(Duration)
        /// Report `.holdOver` after this long: a grant was found lost (the group's nodes deleted
        /// behind the members' back?), so a member ZooKeeper may show no trace of (cut off while
        /// its nodes went) can still publish under its lease; nothing unheld is granted until
        /// then (log it).
        case holdUnheld(for: Duration)
        /// Report `.lingerOver(session)` after this long: the session's member node and
        /// contender node vanished apart (an operator, a kiel consumer of the same name), so it
        /// may be alive and its member publishing; until then it counts as alive (I3). Asked
        /// once the revocation of the session's grant is in ZooKeeper (written, or there).
        case linger(session: Int64, for: Duration)
        /// Log that the group's strategy ignores weights although these members have a weight
        /// other than 1 (`round-robin`, `range`); asked once for each strategy and set of
        /// such members.
        case reportIgnoredWeights(Strategy, members: [String])
    }

    /// What happened.
    public enum Event: Sendable, Equatable {
        case elected
        /// The group's strategy (`nil`: the group node names none or does not parse).
        case groupRead(Strategy?)
        case groupChanged
        /// The partition set; `nil` when it does not parse (the last good one is kept), with
        /// the node's size and why it does not parse.
        case partitionsRead([Partition]?, PartitionSetState)
        case partitionsChanged
        /// The names under `members/`, and that node's `cversion` (how many times its children
        /// changed) if known: more changes than names come and gone means a node was deleted
        /// and made again under the same name (a kiel consumer taking a name over), so every
        /// member node is read again.
        case membersListed([String], changes: Int32? = nil)
        case membersChanged
        /// A member node, or `nil` if it is gone.
        case memberRead(String, PartyMember?)
        case memberChanged(String)
        /// The sessions of the contender nodes.
        case contendersListed(Set<Int64>)
        case contendersChanged
        case grantsRead(GrantNodes)
        /// The names of the grant nodes.
        case grantsListed(Set<String>)
        case grantsChanged
        case written(LeaderWrite.Versions)
        /// The write failed: `fenced` when the leader's contender node is gone (it no longer
        /// leads), otherwise a node changed since it was read.
        case writeFailed(fenced: Bool)
        /// The `exec:` program's allocation, or `nil` when it failed.
        case allocated(Allocation?)
        /// This member no longer leads (its session ended).
        case deposed
        /// Read everything again (a periodic check that no lost watch leaves the leader stale).
        case refresh
        /// The time asked for by `.planAfter` has passed: plan with the acknowledgements in.
        case roundDue
        /// The time asked for by `.retryAfter` has passed: read everything again.
        case retryDue
        /// The time asked for by `.holdUnheld` has passed: what nobody holds may be granted.
        case holdOver
        /// The time asked for by `.linger` has passed: the session counts as over unless a node
        /// of it is back.
        case lingerOver(session: Int64)
    }

    /// How long the leader waits, once an acknowledgement is in, for the next of the other
    /// members it awaits before it writes what the acknowledgements free. The members that
    /// lose partitions in one plan all acknowledge the same epoch at about the same time:
    /// waiting for the round makes one write (and one notification of every follower) of them
    /// instead of one per member. The round goes on while acknowledgements keep coming, each
    /// within this long of the one before, up to `acknowledgementRoundLimit`: a hundred
    /// members on two busy cores acknowledge over hundreds of milliseconds, and a round that
    /// ended 50 ms after its first acknowledgement split a join in up to six epochs, each read
    /// by every member, which slowed the acknowledgements still to come. A member that does not
    /// acknowledge (paused, cut off) holds the others' partitions back this long after the last
    /// of theirs (at most the limit); its own, until it acknowledges or its session ends (spec
    /// §14, Liveness).
    public static let acknowledgementRound = Duration.milliseconds(50)

    /// The longest an acknowledgement round lasts, from its first acknowledgement.
    public static let acknowledgementRoundLimit = Duration.seconds(1)

    /// The longest pause between reads after writes that keep failing.
    public static let maximumRetryDelay = Duration.seconds(5)

    public let member: String
    /// The strategy this member's configuration names, if any: an `exec:` program runs only
    /// when it names the same one (spec §13).
    public let configuredStrategy: Strategy?
    /// This member's session timeout: how long unheld partitions are held back (see `Reign`).
    public let sessionTimeout: Duration
    private let mutations: Mutations

    /// Whether this member leads, and what it knows while it does.
    private enum State: Sendable {
        /// Not leading: nothing is kept but the configuration, and only `.elected` is heeded.
        case following
        /// Leading, from the election until the session ends (`.deposed`) or a write finds the
        /// contender node gone: what a leader that no longer leads knew is dropped with it.
        case leading(Reign)
    }

    private var state = State.following

    /// The highest epoch this member has seen (in a summary or a grant it read, or a write of
    /// its own): its next write goes past it even when the group's state no longer shows it (a
    /// summary of garbage, the grants deleted). An epoch written again with other contents
    /// (an empty grant for a member that still held an epoch-10 grant as its epoch 10) was
    /// taken by that member for the one it held, acknowledged, and its share published outside
    /// the grant (seed 4590316196913330379).
    public var epochFloor: Int64 = 0

    public init(member: String, configuredStrategy: Strategy?, sessionTimeout: Duration, mutations: Mutations = []) {
        self.member = member
        self.configuredStrategy = configuredStrategy
        self.sessionTimeout = sessionTimeout
        self.mutations = mutations
    }

    /// Whether this member leads now.
    public var isLeading: Bool {
        if case .leading = state { true } else { false }
    }

    /// The members the leader waits for, with the epoch each must acknowledge.
    public var awaitedMembers: [String: Int64] {
        guard case .leading(let reign) = state else { return [:] }
        return reign.awaited
    }

    /// The last partition set that parsed, while leading.
    public var partitions: [Partition]? {
        guard case .leading(let reign) = state else { return nil }
        return reign.lastGoodPartitions
    }

    /// This member's own grant, emptied, and its node's version: what a leader that stops
    /// writes (fenced) once its `stopped` document is out, before it leaves, so that the next
    /// leader finds nothing of its session to wait for (a session without nodes that holds
    /// anything lingers at a reign's first look). `nil` unless it leads and holds anything.
    public var ownGrantEmptied: (grant: Grant, version: Int32)? {
        guard case .leading(let reign) = state, let node = reign.nodes.grants[member], var grant = node.grant,
              grant.holdsAnything
        else { return nil }
        grant.partitions = []
        grant.releasing = []
        grant.unknownHoldings = false
        return (grant, node.version)
    }

    /// The epoch of the latest write.
    public var epoch: Int64 {
        guard case .leading(let reign) = state else { return 0 }
        return reign.nodes.summary?.epoch ?? 0
    }

    /// Takes one event; returns what to do, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        switch state {
        case .following:
            guard event == .elected else { return [] }
            var reign = Reign(
                member: member, configuredStrategy: configuredStrategy, sessionTimeout: sessionTimeout,
                mutations: mutations)
            reign.epochFloor = epochFloor
            let actions = reign.handle(event)
            state = .leading(reign)
            return actions
        case .leading(var reign):
            switch event {
            case .elected:
                return []
            case .deposed:
                state = .following
                return []
            case .writeFailed(fenced: true):
                state = .following
                return [.stepDown]
            default:
                // Out of `state` while it changes, the reign's storage is not shared: it is
                // changed in place, not copied.
                state = .following
                reign.epochFloor = epochFloor
                let actions = reign.handle(event)
                state = .leading(reign)
                return actions
            }
        }
    }
}

/// The `assignments` node and the grant nodes under it, with their versions.
public struct GrantNodes: Sendable, Equatable {
    /// One grant node: its grant (`nil` when its data does not parse) and its version.
    public struct Node: Sendable, Equatable {
        public var grant: Grant?
        public var version: Int32

        public init(grant: Grant?, version: Int32) {
            self.grant = grant
            self.version = version
        }
    }

    public var summary: GroupSummary?
    /// `nil` when the `assignments` node does not exist.
    public var summaryVersion: Int32?
    public var grants: [String: Node]

    public init(summary: GroupSummary? = nil, summaryVersion: Int32? = nil, grants: [String: Node] = [:]) {
        self.summary = summary
        self.summaryVersion = summaryVersion
        self.grants = grants
    }

    mutating func apply(_ write: LeaderWrite, versions: LeaderWrite.Versions) {
        summary = write.summary
        summaryVersion = versions.summary
        for (change, _) in write.grants {
            switch change {
            case .create(let member, let grant), .set(let member, let grant):
                grants[member] = Node(grant: grant, version: versions.grants[member] ?? 0)
            case .delete(let member):
                grants[member] = nil
            }
        }
    }
}

/// One fenced write of the leader: the `assignments` node (created when `summaryVersion` is
/// `nil`, else set at that version) and the grant nodes (each at the version read, if any), in
/// one `multi` with a check of the leader's contender node.
public struct LeaderWrite: Sendable, Equatable {
    public var summary: GroupSummary
    public var summaryVersion: Int32?
    public var grants: [(GrantWrite, version: Int32?)]
    /// Whether the `multi` checks the leader's contender node (always, but under
    /// `Mutations.writeWithoutFence`).
    public var fenced = true

    /// The versions the nodes have after the write.
    public struct Versions: Sendable, Equatable {
        public var summary: Int32
        public var grants: [String: Int32]

        public init(summary: Int32, grants: [String: Int32]) {
            self.summary = summary
            self.grants = grants
        }
    }

    public static func == (a: LeaderWrite, b: LeaderWrite) -> Bool {
        a.summary == b.summary && a.summaryVersion == b.summaryVersion && a.fenced == b.fenced
            && a.grants.map(\.0) == b.grants.map(\.0) && a.grants.map(\.version) == b.grants.map(\.version)
    }
}
