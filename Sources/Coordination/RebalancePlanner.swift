import Allocation

/// What the leader knows of one member node, `members/NAME`.
public struct PartyMember: Sendable, Equatable {
    public var name: String
    /// The session that owns the node (its `ephemeralOwner`).
    public var session: Int64
    /// allocatord's record in the node; `nil` for a kiel member (or a node whose data is not
    /// allocatord's), which is in the strategy's input but is never granted anything nor
    /// awaited.
    public var record: MemberRecord?
    /// The node holds neither a record nor nothing (written over by someone else): `record`
    /// then acknowledges nothing, and what its member holds is unknown until it writes its
    /// record again.
    public var recordUnreadable: Bool

    public init(name: String, session: Int64, record: MemberRecord?, recordUnreadable: Bool = false) {
        self.name = name
        self.session = session
        self.record = record
        self.recordUnreadable = recordUnreadable
    }
}

/// Everything one planning step looks at. Partitions are indices of `table`.
public struct RebalanceInput: Sendable {
    /// The group's epoch as last written.
    public var epoch: Int64
    /// The member nodes present, by name.
    public var members: [String: PartyMember]
    /// The sessions that own a contender node of the leader lock. With the member nodes, they
    /// tell whether a session may still be alive (I3).
    public var contenderSessions: Set<Int64>
    /// What the indices of `grants` and `target` stand for.
    public var table: PartitionTable
    /// The grant nodes, by member name.
    public var grants: [String: IndexedGrant]
    /// The strategy's result for the members and the partition set: member → partitions.
    public var target: [String: PartitionIndexSet]
    /// Grant nodes the leader saw vanish behind its back: member → the session of the grant.
    /// Such a member holds what it was granted although its record may not say so yet (the
    /// leader reads a member's acknowledgements only while it awaits it).
    public var lostGrants: [String: Int64]
    /// Sessions with no node that may be alive all the same (I3): their member node and
    /// contender node vanished apart, not long ago, or the leader has not yet seen how.
    public var lingeringSessions: Set<Int64>
    /// Nothing unheld is granted (the leader found a grant lost, and waits out the lease of a
    /// member it may have no trace of; see `LeaderMachine`).
    public var holdUnheld: Bool
    /// `[]` but in the simulation's mutation checks.
    public var mutations: Mutations

    public init(
        epoch: Int64, members: [String: PartyMember], contenderSessions: Set<Int64>, table: PartitionTable,
        grants: [String: IndexedGrant], target: [String: PartitionIndexSet], lostGrants: [String: Int64] = [:],
        holdUnheld: Bool = false, lingeringSessions: Set<Int64> = [], mutations: Mutations = []
    ) {
        self.epoch = epoch
        self.members = members
        self.contenderSessions = contenderSessions
        self.table = table
        self.grants = grants
        self.target = target
        self.lostGrants = lostGrants
        self.holdUnheld = holdUnheld
        self.lingeringSessions = lingeringSessions
        self.mutations = mutations
    }

    /// The same with partitions by name (tests, tools): the table is made of the partitions
    /// `target` and `grants` name.
    public init(
        epoch: Int64, members: [String: PartyMember], contenderSessions: Set<Int64>, grants: [String: Grant],
        target: [String: Set<Partition>], lostGrants: [String: Int64] = [:], holdUnheld: Bool = false,
        lingeringSessions: Set<Int64> = [], mutations: Mutations = []
    ) {
        var table = PartitionTable(target.values.flatMap { $0 })
        let indexedGrants = grants.mapValues { IndexedGrant($0, table: &table) }
        self.init(
            epoch: epoch, members: members, contenderSessions: contenderSessions, table: table, grants: indexedGrants,
            target: target.mapValues { table.intern($0) }, lostGrants: lostGrants, holdUnheld: holdUnheld,
            lingeringSessions: lingeringSessions, mutations: mutations)
    }

    /// Whether `session` may still be alive: a session's ephemeral nodes (its member node and
    /// its contender node) vanish together, in one transaction, when it ends; one of them
    /// gone alone (an operator, a kiel consumer of the same name) proves nothing, nor both
    /// gone apart, for a session timeout (I3).
    public func sessionMayBeAlive(_ session: Int64) -> Bool {
        sessionMayBeAlive(session, memberSessions: Set(members.values.map(\.session)))
    }

    /// `sessionMayBeAlive` with the member nodes' sessions at hand.
    func sessionMayBeAlive(_ session: Int64, memberSessions: Set<Int64>) -> Bool {
        contenderSessions.contains(session) || lingeringSessions.contains(session) || memberSessions.contains(session)
    }

    /// Sessions that own a contender node but neither a member node nor one of `grants`: a
    /// member whose grant and then member node were deleted while its session lives (it joins
    /// again as soon as it notices), or one between its contender and its member node. What
    /// such a session may still publish is unknown. Session 0 is no session (a name made by
    /// hand).
    func unrecordedSessions(_ grants: [String: IndexedGrant], memberSessions: Set<Int64>) -> Set<Int64> {
        contenderSessions.subtracting(memberSessions).subtracting(grants.values.map(\.session)).subtracting([0])
    }
}

/// One change of the grant nodes.
public enum GrantWrite: Sendable, Equatable {
    case create(member: String, Grant)
    case set(member: String, Grant)
    case delete(member: String)

    public var member: String {
        switch self {
        case .create(let member, _), .set(let member, _), .delete(let member): member
        }
    }
}

/// The outcome of one planning step: the grants as they should stand, and the writes that
/// make them so (all in one fenced `multi`, with the epoch's bump). Partitions are indices of
/// `table`.
public struct Rebalance: Sendable {
    /// The epoch of the writes; every grant written carries it.
    public var epoch: Int64
    /// What the indices stand for.
    public var table: PartitionTable
    /// Every grant after the writes, by member.
    public var indexedGrants: [String: IndexedGrant]
    /// The members whose grant nodes the writes create, set or delete, in member order; empty
    /// when the grants already stand as they should.
    public var written: [(member: String, change: GrantChange)]
    /// Members that must acknowledge before what they release may go to others, or whose node
    /// must get its record back: member → the epoch of its grant.
    public var awaited: [String: Int64]

    /// How a grant node changes.
    public enum GrantChange: Sendable, Equatable {
        case create
        case set
        case delete
    }

    /// Every grant after the writes, by member, with partitions by name.
    public var grants: [String: Grant] { indexedGrants.mapValues { Grant($0, table: table) } }

    /// The writes, with partitions by name.
    public var writes: [GrantWrite] {
        written.map { member, change in
            switch change {
            case .create: .create(member: member, Grant(indexedGrants[member]!, table: table))
            case .set: .set(member: member, Grant(indexedGrants[member]!, table: table))
            case .delete: .delete(member: member)
            }
        }
    }
}

/// The leader's planning (spec §14): from the grants as they stand, the member nodes and the
/// strategy's target, the next grants. Pure: no I/O, no clock. Applied again after every
/// change and every acknowledgement, it converges on the target in two steps (revoke, then
/// grant) and never breaks the invariants:
///
/// - I1: a partition is in at most one grant (`partitions` or `releasing`).
/// - I3: a partition enters a grant only when no other grant holds it: what a member loses goes
///   to its `releasing` first, and leaves it only once the member has acknowledged the epoch of
///   that grant (it has published the shrunken grant) or its session is over.
///
/// A grant node lost behind the leader's back (deleted by hand, the group subtree removed)
/// while its member lives is not proof of anything either: such a member (one that has
/// acknowledged a grant in this session but has none now) gets an empty grant marked
/// `unknownHoldings`, and nothing unheld is granted to anyone until it acknowledges. The same
/// holds while a live contender session has neither a member node nor a grant (both deleted
/// behind its back): nothing unheld is granted until it has joined again, or its session ends.
public enum RebalancePlanner {
    public static func plan(_ input: RebalanceInput) -> Rebalance {
        let epoch = nextEpoch(input)
        var grants = input.grants
        var written = Set<String>()
        var deleted = Set<String>()

        // Grants of sessions that are over: their leases are over too (I3).
        let memberSessions = Set(input.members.values.map(\.session))
        for (member, grant) in input.grants where !input.sessionMayBeAlive(grant.session, memberSessions: memberSessions) {
            grants[member] = nil
            deleted.insert(member)
        }
        // Releases that are acknowledged end. The grant keeps its epoch if nothing else
        // changes in it: what its member publishes is the same, so it need not read it again
        // nor acknowledge it (the summary's `grants` does not name it as changed).
        var releasesEnded = Set<String>()
        for (member, grant) in grants where grant.hasUnacknowledgedHoldings {
            guard let node = input.members[member], node.session == grant.session,
                  let record = node.record, record.ackedEpoch >= grant.epoch || input.mutations.contains(.grantWithoutAcknowledgement)
            else { continue }
            grants[member]!.releasing = PartitionIndexSet()
            grants[member]!.unknownHoldings = false
            releasesEnded.insert(member)
        }
        // Names sorted rather than nodes: a node is a large value to move.
        let eligible = input.members.keys.sorted(by: utf8Precedes).compactMap { name -> PartyMember? in
            guard let node = input.members[name], node.record != nil,
                  grants[name].map({ $0.session == node.session }) ?? true else { return nil }
            return node
        }
        let eligibleNames = Set(eligible.map(\.name))

        // Revoke: each grant keeps only what the strategy gives its (eligible) grantee.
        for (member, grant) in grants {
            let keep = eligibleNames.contains(member) ? grant.partitions.intersection(input.target[member] ?? PartitionIndexSet()) : PartitionIndexSet()
            guard keep != grant.partitions else { continue }
            grants[member]!.releasing.formUnion(grant.partitions.subtracting(keep))
            grants[member]!.partitions = keep
            written.insert(member)
        }
        // Members whose grant node is gone although they have acknowledged one in this session
        // (or whose record cannot say), or whose grant of this session the leader saw vanish.
        for node in eligible where grants[node.name] == nil
            && ((node.record?.ackedEpoch ?? 0) > 0 || node.recordUnreadable || input.lostGrants[node.name] == node.session) {
            grants[node.name] = IndexedGrant(epoch: epoch, session: node.session, unknownHoldings: true)
            written.insert(node.name)
        }
        // Grant what no other grant holds; while any member's holdings are unknown, nothing
        // unheld (it may be what that member still publishes). `heldTwice`: in two grants (only
        // after tampering), so held elsewhere whichever grant asks.
        var held = PartitionIndexSet(), heldTwice = PartitionIndexSet()
        for grant in grants.values {
            heldTwice.formUnion(held.intersection(grant.held))
            held.formUnion(grant.held)
        }
        let unknownPending = input.holdUnheld || grants.values.contains { $0.unknownHoldings }
            || !input.unrecordedSessions(grants, memberSessions: memberSessions).isEmpty
        for node in eligible {
            var grant = grants[node.name] ?? IndexedGrant(epoch: epoch, session: node.session)
            if grants[node.name] == nil { written.insert(node.name) }
            // What it is releasing comes back unless another grant holds it too; what nobody
            // holds, unless some holdings are unknown.
            let wanted = (input.target[node.name] ?? PartitionIndexSet()).subtracting(grant.partitions)
            var regained = wanted.intersection(grant.releasing).subtracting(heldTwice)
            if !unknownPending { regained.formUnion(wanted.subtracting(held)) }
            if !regained.isEmpty {
                grant.releasing.subtract(regained)
                grant.partitions.formUnion(regained)
                held.formUnion(regained)
                written.insert(node.name)
            }
            grants[node.name] = grant
        }

        var changes: [(member: String, change: Rebalance.GrantChange)] = []
        for member in written.union(releasesEnded).union(deleted).sorted(by: utf8Precedes) {
            if grants[member] != nil, written.contains(member) || releasesEnded.contains(member) {
                if written.contains(member) { grants[member]!.epoch = epoch }
                changes.append((member, input.grants[member] == nil ? .create : .set))
            } else if deleted.contains(member) {
                changes.append((member, .delete))
            }
        }
        // Awaited: who releases something or whose holdings are unknown; and a member whose
        // node holds no record (written over by someone else), which acknowledges only what it
        // is awaited for: its acknowledgement, or its look at its node, writes the record back.
        var awaited: [String: Int64] = [:]
        for (member, grant) in grants where grant.hasUnacknowledgedHoldings
            || input.members[member].map({ $0.recordUnreadable && $0.session == grant.session }) == true {
            awaited[member] = grant.epoch
        }
        return Rebalance(epoch: epoch, table: input.table, indexedGrants: grants, written: changes, awaited: awaited)
    }

    /// One past every epoch seen anywhere: the group's, the grants', the acknowledgements'. Epochs
    /// only grow, even when the `assignments` node was lost, so an old acknowledgement never
    /// passes for a new one.
    static func nextEpoch(_ input: RebalanceInput) -> Int64 {
        var epoch = input.epoch
        for grant in input.grants.values { epoch = max(epoch, grant.epoch) }
        for node in input.members.values { epoch = max(epoch, node.record?.ackedEpoch ?? 0) }
        return epoch + 1
    }
}

/// A grant with its partitions as indices of a `PartitionTable`: what the leader plans with.
public struct IndexedGrant: Sendable, Equatable {
    /// As `Grant.epoch`.
    public var epoch: Int64
    /// As `Grant.session`.
    public var session: Int64
    public var partitions: PartitionIndexSet
    public var releasing: PartitionIndexSet
    /// As `Grant.unknownHoldings`.
    public var unknownHoldings: Bool

    public init(
        epoch: Int64, session: Int64, partitions: PartitionIndexSet = PartitionIndexSet(),
        releasing: PartitionIndexSet = PartitionIndexSet(), unknownHoldings: Bool = false
    ) {
        self.epoch = epoch
        self.session = session
        self.partitions = partitions
        self.releasing = releasing
        self.unknownHoldings = unknownHoldings
    }

    /// `grant` over `table`, interning any partition the table lacks.
    public init(_ grant: Grant, table: inout PartitionTable) {
        self.init(
            epoch: grant.epoch, session: grant.session, partitions: table.intern(grant.partitions),
            releasing: table.intern(grant.releasing), unknownHoldings: grant.unknownHoldings)
    }

    /// As `Grant.held`.
    public var held: PartitionIndexSet { partitions.union(releasing) }

    /// As `Grant.hasUnacknowledgedHoldings`.
    public var hasUnacknowledgedHoldings: Bool { !releasing.isEmpty || unknownHoldings }
}
