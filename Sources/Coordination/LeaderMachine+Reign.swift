import Allocation

extension LeaderMachine {
    /// What the leader knows and does from its election until it no longer leads; a new reign
    /// knows nothing of the last one.
    struct Reign {
        typealias Action = LeaderMachine.Action
        typealias Event = LeaderMachine.Event

        /// Where the reign stands.
        private enum Phase {
            /// Reading everything after the election, a failed write or a refresh; `reads` still
            /// outstanding.
            case reading(reads: Int)
            /// Everything read: the leader plans after every change, once its `Work` is done.
            case leading(Work)
            /// Writes failed again and again: nothing is planned until `.retryDue`.
            case pausing

            var isLeading: Bool {
                if case .leading = self { true } else { false }
            }

            var isPausing: Bool {
                if case .pausing = self { true } else { false }
            }

            /// Whether the leader leads with nothing under way.
            var isIdle: Bool {
                if case .leading(.idle) = self { true } else { false }
            }
        }

        /// What a leader that has read everything has under way; nothing is planned meanwhile.
        private enum Work {
            /// Nothing: a change is planned for at once.
            case idle
            /// A write is in flight, with its grants as the plan indexed them over table number
            /// `table` (written after the table changed, they are indexed again).
            case writing(LeaderWrite, grants: [String: IndexedGrant], table: Int)
            /// A program's allocation is being computed, for these inputs.
            case allocating(members: [String], partitions: [Partition])
        }

        /// Whether partitions nobody is known to hold are held back. Once a grant is found lost
        /// (a live member that acknowledged has none, a grant node vanished or does not parse, or
        /// the summary says a leader was holding back), some member may have lost every node
        /// with it (the group's subtree deleted while it was cut off): no node shows its session,
        /// yet it publishes under its lease until that runs out, at most a session timeout after
        /// it last heard from the server, which was before the loss. And a member still in
        /// touch, whose nodes went and which cannot join again, learns of the loss only from a
        /// summary the leader writes. So for a session timeout (this leader's: a group's members
        /// are expected to share one) from its first write after the loss (or from finding
        /// nothing to write) nothing unheld is granted; once in a reign. (Counted from the loss,
        /// a leader that could not write meanwhile let the hold pass unannounced, then gave away
        /// what such a member still published: seed 18189037689542356488.)
        private enum Hold: Equatable {
            case none
            case holding
            case over
        }

        /// Where the acknowledgement round stands: when only acknowledgements came in since the
        /// last plan and some awaited members are still to come, the plan waits for them while
        /// they keep coming (`acknowledgementRound`, `acknowledgementRoundLimit`).
        private enum Round: Equatable {
            /// No round under way.
            case none
            /// A round's `.planAfter` is out: `.roundDue` will come.
            case pending
            /// `.roundDue` came: the next plan goes ahead, whoever is still to come.
            case due
        }

        private enum Listing: Hashable {
            case members
            case contenders
        }

        /// The machine's configuration, the same in every reign (see `LeaderMachine`).
        private let member: String
        private let configuredStrategy: Strategy?
        private let sessionTimeout: Duration
        private let mutations: Mutations

        /// A reign begins with `.elected`, which reads everything.
        private var phase = Phase.reading(reads: 0)
        private var hold = Hold.none
        /// A `.refresh` came while the reign was not idle: it reads everything once it is.
        private var refreshDue = false
        /// Holding, and the hold's session timeout not started (see `Hold`).
        private var holdUnannounced = false
        /// `holdUnannounced` when the write under way was planned: announced once it is written.
        private var holdInWrite = false
        private var strategy: Strategy?
        private(set) var lastGoodPartitions: [Partition]?
        private var partitionSet = PartitionSetState()
        private var memberNames: Set<String> = [] {
            didSet { sortedMemberNames = nil }
        }
        /// `memberNames` in UTF-8 order, sorted again only after they change.
        private var sortedMemberNames: [String]?
        private var members: [String: PartyMember] = [:]
        private var contenderSessions: Set<Int64> = []
        /// A watch on `members/` or on the leader lock fired and its listing is not back yet: the
        /// two lists may disagree only because one is older (see `observeSessions`).
        private var listingsDue: Set<Listing> = []
        /// Sessions last seen with one of their two nodes (member node, contender node) only.
        private var splitSessions: Set<Int64> = []
        /// Sessions whose nodes vanished apart, counted as alive until `.lingerOver`.
        private var lingeringSessions: Set<Int64> = []
        /// Lingering sessions whose linger has not started: their grant's revocation is not
        /// yet known to be in ZooKeeper. The session timeout starts once it is (written, or
        /// found there already), so that a member alive without its nodes has all of it to read
        /// the revocation and publish without it, or to let its lease run out. Counted from the
        /// look, a leader that could not write meanwhile let the linger pass unannounced, then
        /// gave the partitions away while their member, unable to join again, published them
        /// (seed 10299153750217839435).
        private var unannouncedLingers: Set<Int64> = []
        /// `unannouncedLingers` when the write under way was planned: announced once it is written.
        private var lingersInWrite: Set<Int64> = []
        /// Whether the reign has looked at the sessions once (`observeSessions`).
        private var sessionsSeen = false
        private(set) var nodes = GrantNodes()
        /// The partition set as a table (then any partition a grant holds outside it), and every
        /// grant of `nodes` that parses over it: what the planner takes. Kept in step with `nodes`
        /// and `lastGoodPartitions` wherever either changes.
        private var table = PartitionTable([])
        private var indexedGrants: [String: IndexedGrant] = [:]
        /// Counts the tables made: a write planned over an older one is indexed again.
        private var tableNumber = 0
        /// Grant nodes seen vanish behind the leader's back, until written again: member → session.
        private var lostGrants: [String: Int64] = [:]
        /// Writes that failed in a row (not fenced): the second and later read again after a pause.
        private var failedWrites = 0
        private(set) var awaited: [String: Int64] = [:]
        /// The last allocation a program computed, and its inputs.
        private var allocated: (members: [String], partitions: [Partition], allocation: Allocation)?
        /// The digest of the last target, computed once per target.
        private var lastDigest: (allocation: Allocation, digest: String)?
        /// Whether anything but an awaited member's acknowledgement came in since the last plan.
        private var changedSincePlan = true
        private var round = Round.none
        /// The strategy's last result and what it was computed from: the leader plans after every
        /// event (each read, each acknowledgement), the strategy runs again only when its inputs
        /// changed (at P = 10 000 it was most of a leader's CPU).
        private var lastTarget: (inputs: TargetInputs, allocation: Allocation)?
        /// Whether anything the plan depends on may have changed since the last plan: the leader
        /// hears of many events per change (every read, every acknowledgement) and plans only
        /// after those that can change something.
        private var planNeeded = true
        /// The `cversion` of `members/` at the last listing.
        private var membersChanges: Int32?
        /// The last `reportIgnoredWeights` asked for.
        private var ignoredWeights: (strategy: Strategy, members: [String])?
        /// `LeaderMachine.epochFloor`, as the machine last gave it.
        var epochFloor: Int64 = 0

        init(member: String, configuredStrategy: Strategy?, sessionTimeout: Duration, mutations: Mutations) {
            self.member = member
            self.configuredStrategy = configuredStrategy
            self.sessionTimeout = sessionTimeout
            self.mutations = mutations
        }
    }
}

extension LeaderMachine.Reign {
    /// The summary's epoch, or, when it does not parse (garbage written by hand), its node's
    /// version plus one: every epoch written into the node bumped its version, so the epochs go
    /// on above the node's own writes (the grants' and the records' epochs count too, in the
    /// planner). A member that still holds a higher one drops its share when it reads the lower
    /// summary (`FollowerMachine`).
    private var knownEpoch: Int64 {
        max(nodes.summary?.epoch ?? nodes.summaryVersion.map { Int64($0) + 1 } ?? 0, epochFloor)
    }

    /// Takes one event of the reign: `.elected` first, then any but `.elected`, `.deposed` and a
    /// fenced `.writeFailed` (the reign is over); returns what to do, in order.
    mutating func handle(_ event: Event) -> [Action] {
        let wasLeading = phase.isLeading, wasPausing = phase.isPausing
        var actions: [Action] = []
        var sessionsAsTheyWere = false
        var acknowledgementCame = false
        switch event {
        case .elected:
            actions = readEverything()
        case .refresh where phase.isIdle:
            actions = readEverything()
        case .refresh:
            // Asked while reading, writing, allocating or pausing: done once idle (dropped, a
            // summary of garbage was never written over while the leader had nothing new to
            // write, and a member that could not read it waited for good: seed 1161415612400380738).
            refreshDue = true
        case .roundDue:
            round = .due
            planNeeded = true
        default:
            if !isOnlyAcknowledgement(event) { changedSincePlan = true }
            if mayChangeThePlan(event) { planNeeded = true }
            sessionsAsTheyWere = isRereadOfTheSameSession(event)
            // An awaited member's node read, its acknowledgement not in before: is it now?
            var unacknowledged: (name: String, epoch: Int64)?
            if case .memberRead(let name, _) = event, let epoch = awaited[name], !hasAcknowledged(name, epoch) {
                unacknowledged = (name, epoch)
            }
            actions = take(event)
            acknowledgementCame = unacknowledged.map { hasAcknowledged($0.name, $0.epoch) } ?? false
        }
        if case .reading(let reads) = phase {
            let outstanding = reads - (event.isReadResult ? 1 : 0) + actions.filter(\.isRead).count
            phase = outstanding > 0 ? .reading(reads: outstanding) : .leading(.idle)
        }
        // Sessions are looked at again when the lists change, and when the leader comes to lead
        // (everything read) or to pause.
        let cameToLeadOrPause = (phase.isLeading && !wasLeading) || (phase.isPausing && !wasPausing)
        if phase.isLeading || phase.isPausing, (event.changesTheLists && !sessionsAsTheyWere) || cameToLeadOrPause {
            observeSessions()
        }
        if refreshDue, phase.isIdle {
            refreshDue = false
            return actions + readEverything()
        }
        if phase.isLeading { actions += planIfIdle(acknowledgementCame: acknowledgementCame) }
        return actions
    }

    private mutating func readEverything() -> [Action] {
        let reads: [Action] = [.readGroup, .readPartitions, .listMembers, .listContenders, .readGrants, .listGrants]
        phase = .reading(reads: 0)
        members = [:]
        memberNames = []
        membersChanges = nil
        awaited = [:]
        changedSincePlan = true
        planNeeded = true
        return reads
    }

    private mutating func take(_ event: Event) -> [Action] {
        switch event {
        case .groupRead(let read):
            strategy = read
        case .partitionsRead(let read, let state):
            if let read, read != lastGoodPartitions {
                lastGoodPartitions = read
                table = PartitionTable(read)
                tableNumber += 1
                indexGrants()
            }
            partitionSet = state
        case .membersListed(let names, let changes):
            listingsDue.remove(.members)
            let listed = Set(names)
            let added = listed.subtracting(memberNames), removed = memberNames.subtracting(listed)
            var reread = added
            if let changes, let known = membersChanges, changes - known > Int32(added.count + removed.count) {
                reread = listed
            }
            membersChanges = changes ?? membersChanges
            for name in removed {
                members[name] = nil
            }
            var actions: [Action] = []
            for name in reread.sorted(by: utf8Precedes) {
                members[name] = nil  // planned again once read
                actions.append(readMember(name))
            }
            memberNames = listed
            return actions
        case .memberRead(let name, let node):
            guard memberNames.contains(name) else { break }
            members[name] = node
            if node == nil { memberNames.remove(name) }
        case .memberChanged(let name):
            // Most likely an acknowledgement: read, and watched again by the read.
            guard memberNames.contains(name) else { break }
            return [readMember(name)]
        case .contendersListed(let sessions):
            listingsDue.remove(.contenders)
            contenderSessions = sessions
        case .grantsRead(let read):
            nodes = read
            indexGrants()
        case .grantsListed(let names):
            // A grant deleted behind the leader's back is gone from what it plans with (its
            // member's holdings are then unknown, see RebalancePlanner); one it did not write is
            // read.
            let known = Set(nodes.grants.keys)
            for name in known.subtracting(names) {
                if let session = nodes.grants[name]?.grant?.session { lostGrants[name] = session }
                nodes.grants[name] = nil
                indexedGrants[name] = nil
            }
            if !names.subtracting(known).isEmpty { return [.readGrants] }
        case .grantsChanged: return [.listGrants]
        case .written(let versions):
            if case .leading(.writing(let write, let plannedGrants, let plannedTable)) = phase {
                failedWrites = 0
                nodes.apply(write, versions: versions)
                for (change, _) in write.grants {
                    lostGrants[change.member] = nil
                    switch change {
                    case .create(let member, let grant), .set(let member, let grant):
                        if plannedTable == tableNumber, let planned = plannedGrants[member] {
                            indexedGrants[member] = planned
                        } else {
                            indexedGrants[member] = IndexedGrant(grant, table: &table)
                        }
                    case .delete(let member):
                        indexedGrants[member] = nil
                    }
                }
                phase = .leading(.idle)
                unannouncedLingers.subtract(lingersInWrite)
                defer { (lingersInWrite, holdInWrite) = ([], false) }
                return lingers(lingersInWrite) + announceHold(holdInWrite)
            }
        case .writeFailed:
            // (Not fenced: a fenced write ends the reign. Without a write in flight this is the
            // driver's "read everything again".)
            let wrote = if case .leading(.writing) = phase { true } else { false }
            failedWrites += wrote ? 1 : 0
            guard failedWrites > 1, wrote, !mutations.contains(.retryWithoutBackoff) else { return readEverything() }
            phase = .pausing
            let pause = Duration.milliseconds(100) * (1 << min(failedWrites - 2, 6))
            return [.retryAfter(min(pause, LeaderMachine.maximumRetryDelay))]
        case .retryDue:
            guard phase.isPausing else { return [] }
            return readEverything()
        case .holdOver:
            if hold == .holding, !holdUnannounced { hold = .over }
        case .allocated(let allocation):
            if case .leading(.allocating(let names, let partitions)) = phase {
                // A run started in an earlier reign of this session may end in this one, while
                // this one's runs: only an allocation of this reign's view is its own.
                if let allocation {
                    guard allocation.isAllocation(of: names, partitions) else { break }
                    allocated = (names, partitions, allocation)
                }
                phase = .leading(.idle)
            }
        case .groupChanged: return [.readGroup]
        case .partitionsChanged: return [.readPartitions]
        case .membersChanged:
            listingsDue.insert(.members)
            return [.listMembers]
        case .contendersChanged:
            listingsDue.insert(.contenders)
            return [.listContenders]
        case .lingerOver(let session):
            // Not for a linger that has not started: that timer was an earlier linger's.
            guard !unannouncedLingers.contains(session) else { break }
            lingeringSessions.remove(session)
        case .elected, .deposed, .refresh, .roundDue: break
        }
        return []
    }

    /// Reads `name`'s node, and watches it unless it is the leader's own: whose
    /// acknowledgements its member tells it as they are written (`MemberMachine.acknowledged`).
    /// So every listed member's node is watched from the read that found it on, and again by
    /// the read after its watch fired: when the leader comes to wait for an acknowledgement,
    /// the watch is armed already. A member writes its node only to acknowledge what the leader
    /// awaits (and its session's first grant), so the watch fires for what the leader waits
    /// for. (Armed only while awaiting, it cost a read after each revocation as well: 5 packets
    /// an acknowledgement instead of 3.)
    private func readMember(_ name: String) -> Action {
        .readMember(name, watch: name != member)
    }

    // MARK: Planning

    /// Plans when nothing is under way, and writes what the plan changes. `acknowledgementCame`:
    /// the event just handled brought an awaited member's acknowledgement.
    private mutating func planIfIdle(acknowledgementCame: Bool) -> [Action] {
        guard planNeeded, phase.isIdle, let partitions = lastGoodPartitions, let strategy else {
            return []
        }
        let names = sortedMemberNames ?? memberNames.sorted(by: utf8Precedes)
        sortedMemberNames = names
        guard everyMemberRead else { return [] }  // reads under way
        // Only acknowledgements since the last plan, and some members still to come: wait
        // for the round (one write for all of them) while they keep coming.
        if !changedSincePlan, round != .due, awaited.contains(where: { hasAcknowledged($0.key, $0.value) }),
           awaited.contains(where: { !hasAcknowledged($0.key, $0.value) }) {
            guard round != .pending else { return acknowledgementCame ? [.extendRound] : [] }
            round = .pending
            return [.planAfter(LeaderMachine.acknowledgementRound)]
        }
        changedSincePlan = false
        if round == .due { round = .none }
        planNeeded = false

        var actions: [Action] = []
        let allocation: Allocation
        switch strategy.computation {
        case .pure(let pure):
            let weights = MemberWeights(names.compactMap { name in members[name]?.record.map { (name, $0.weight) } })
            if !pure.honoursWeights { actions += reportIgnoredWeights(strategy, weights: weights, names: names) }
            let inputs = TargetInputs(
                strategy: strategy, members: names, partitions: partitions, weights: weights,
                holdings: pure.usesCurrentHoldings ? indexedGrants.mapValues(\.held) : nil)
            if let lastTarget, lastTarget.inputs == inputs {
                allocation = lastTarget.allocation
            } else {
                allocation = pure.allocate(
                    members: names, table: table, weights: weights,
                    current: pure.usesCurrentHoldings ? currentHoldings() : CurrentHoldings())
                lastTarget = (inputs, allocation)
            }
        case .program:
            guard strategy == configuredStrategy else { return [] }  // never run a program ZooKeeper names
            if let allocated, allocated.members == names, allocated.partitions == partitions {
                allocation = allocated.allocation
            } else {
                phase = .leading(.allocating(members: names, partitions: partitions))
                return [.runAllocator(strategy, members: names, partitions: partitions)]
            }
        }
        let shares = allocation.indexSets(in: table)
        let target = Dictionary(uniqueKeysWithValues: zip(allocation.members, shares))
        // A grant node that does not parse (garbage written by hand): its live member's
        // holdings are unknown, as for a grant node lost; the node is written over, or deleted.
        let unreadable = nodes.grants.filter { $0.value.grant == nil }
        var lost = lostGrants
        for name in unreadable.keys { if let session = members[name]?.session { lost[name] = session } }
        if hold == .none, grantFoundLost(lost) {
            hold = .holding
            holdUnannounced = true
        }
        let input = RebalanceInput(
            epoch: knownEpoch, members: members, contenderSessions: contenderSessions, table: table,
            grants: indexedGrants, target: target, lostGrants: lost, holdUnheld: hold == .holding,
            lingeringSessions: sessionsCountedAlive, mutations: mutations)
        let rebalance = RebalancePlanner.plan(input)
        var writes = rebalance.writes
        for (index, change) in writes.enumerated() {
            if case .create(let name, let grant) = change, unreadable[name] != nil { writes[index] = .set(member: name, grant) }
        }
        for name in unreadable.keys.sorted(by: utf8Precedes) where rebalance.indexedGrants[name] == nil {
            writes.append(.delete(member: name))
        }
        awaited = rebalance.awaited
        var summary = GroupSummary(
            epoch: rebalance.epoch, leader: member, strategy: strategy.name, members: allocation.members,
            partitionCount: allocation.partitions.count, digest: digest(of: allocation, shares: shares),
            grants: rebalance.indexedGrants.mapValues(\.epoch), awaited: rebalance.awaited, partitionSet: partitionSet,
            holdsUnheld: hold == .holding)
        // Nothing to write if the summary would say what it says, its epoch and the last write's
        // grant changes aside (those are no change now, and comparing them names their partitions).
        var unchangedSummary = summary
        unchangedSummary.epoch = nodes.summary?.epoch ?? -1
        var lastSummary = nodes.summary
        lastSummary?.changes = [:]
        guard !writes.isEmpty || lastSummary != unchangedSummary else {
            // ZooKeeper says what the plan says: every lingering session's revocation is there,
            // and a summary after the loss that started a hold.
            defer { unannouncedLingers = [] }
            return actions + lingers(unannouncedLingers) + announceHold(holdUnannounced)
        }
        lingersInWrite = unannouncedLingers
        holdInWrite = holdUnannounced
        summary.changes = changes(by: writes, to: rebalance.indexedGrants)
        var write = LeaderWrite(
            summary: summary, summaryVersion: nodes.summaryVersion,
            grants: writes.map { ($0, nodes.grants[$0.member]?.version) })
        write.fenced = !mutations.contains(.writeWithoutFence)
        phase = .leading(.writing(write, grants: rebalance.indexedGrants, table: tableNumber))
        return actions + [.write(write)]
    }

    /// How each grant node `writes` sets over a grant of the same session changes, for the
    /// summary (`GrantChange`), within `GroupSummary.changesBudget`: its follower takes the new
    /// grant from there instead of reading the node.
    private func changes(by writes: [GrantWrite], to grants: [String: IndexedGrant]) -> [String: GrantChange] {
        var changes: [String: GrantChange] = [:]
        var budget = GroupSummary.changesBudget
        for case .set(let name, _) in writes {
            guard let old = indexedGrants[name], let version = nodes.grants[name]?.version, let new = grants[name],
                  let change = GrantChange(from: old, version: version, to: new, table: table), change.size <= budget
            else { continue }
            budget -= change.size
            changes[name] = change
        }
        return changes
    }

    /// What each member may hold now, by its grant node: its `partitions` and its `releasing`.
    /// Both count as held for `sticky`: a partition being released is still where it was
    /// until its member acknowledges, so the target stays the same through a plan's revoke
    /// and grant steps, and a change during a plan may give it back to its holder at no cost.
    /// A grant of an earlier session of the member counts as the member's (the planner frees
    /// it by I3 before anything moves).
    private func currentHoldings() -> CurrentHoldings {
        CurrentHoldings(indexedGrants.map { ($0.key, $0.value.held) }, table: table)
    }

    /// Indexes every grant of `nodes` over `table` again.
    private mutating func indexGrants() {
        indexedGrants = [:]
        for (name, node) in nodes.grants {
            if let grant = node.grant { indexedGrants[name] = IndexedGrant(grant, table: &table) }
        }
    }

    /// `reportIgnoredWeights` if some of `names` have a weight other than 1 and that was not
    /// reported last.
    private mutating func reportIgnoredWeights(_ strategy: Strategy, weights: MemberWeights, names: [String]) -> [Action] {
        let weighted = names.filter { weights[$0] != 1 }
        guard !weighted.isEmpty else {
            ignoredWeights = nil
            return []
        }
        if let ignoredWeights, ignoredWeights.strategy == strategy, ignoredWeights.members == weighted { return [] }
        ignoredWeights = (strategy, weighted)
        return [.reportIgnoredWeights(strategy, members: weighted)]
    }
}

extension LeaderMachine.Reign {
    /// Whether `event` is only news of a member's acknowledgement (its node's watch firing, or
    /// the node read again with the same session, weight and readability), or a write's outcome; anything
    /// else is a change to plan for at once.
    fileprivate func isOnlyAcknowledgement(_ event: Event) -> Bool {
        switch event {
        case .memberChanged, .written, .grantsChanged: true
        case .grantsListed(let names): names == Set(nodes.grants.keys)
        case .memberRead(let name, let node):
            if let node, let known = members[name], known.session == node.session,
               known.record?.weight == node.record?.weight, known.recordUnreadable == node.recordUnreadable {
                true
            } else {
                false
            }
        default: false
        }
    }

    /// Whether `event` may change what a plan makes: not a member node's watch firing (its
    /// read follows), a member node read again unchanged (an awaited member's read always
    /// counts: the periodic look at awaited members is the safety net of a plan under way),
    /// the contenders listed unchanged, or a write's outcome (what changed while it was under
    /// way is planned for by its own event).
    fileprivate func mayChangeThePlan(_ event: Event) -> Bool {
        switch event {
        case .memberChanged, .written: false
        case .memberRead(let name, let node): members[name] != node || !memberNames.contains(name) || awaited[name] != nil
        case .contendersListed(let sessions): sessions != contenderSessions
        case .grantsListed(let names): names != Set(nodes.grants.keys)
        case .grantsChanged: false
        default: true
        }
    }

    /// Where each grant's session stands, once the lists are current (no watch of either has
    /// fired without its listing back, every member node listed is read): a session seen with
    /// one node only is split; a split session whose last node vanishes lingers, counted as
    /// alive until a session timeout after its grant's revocation is in ZooKeeper
    /// (`unannouncedLingers`; I3: a session's nodes vanish together when it ends, in one
    /// transaction, whose notifications all come before the reply to any listing they cause,
    /// so a clean leave or an expiry is never taken for two deletions apart).
    fileprivate mutating func observeSessions() {
        guard listsAreCurrent else { return }
        let memberSessions = Set(members.values.map(\.session))
        let seen = memberSessions.union(contenderSessions)
        for session in seen where session != 0 {
            // Seen again: alive, lingering no more (a linger kept would stop the next one, and
            // its timer end it early).
            lingeringSessions.remove(session)
            unannouncedLingers.remove(session)
            if memberSessions.contains(session) != contenderSessions.contains(session) {
                splitSessions.insert(session)
            } else {
                splitSessions.remove(session)
            }
        }
        let granted = Set(nodes.grants.values.compactMap { $0.grant?.session })
        if !sessionsSeen {
            // A reign's first look: how the nodes of a session that has none went, before this
            // leader watched, nobody knows: together (the session ended) or apart, by hand,
            // while it lives and publishes. Each that may hold anything lingers.
            sessionsSeen = true
            let holding = Set(nodes.grants.values.compactMap { $0.grant.flatMap { $0.holdsAnything ? $0.session : nil } })
            for session in holding.subtracting(seen).subtracting(lingeringSessions) {
                lingeringSessions.insert(session)
                unannouncedLingers.insert(session)
                planNeeded = true
            }
        }
        for session in splitSessions.subtracting(seen) {
            splitSessions.remove(session)
            guard granted.contains(session), !lingeringSessions.contains(session) else { continue }
            lingeringSessions.insert(session)
            unannouncedLingers.insert(session)
            // A plan announces it (by its write, or at once if there is nothing to write).
            planNeeded = true
        }
    }

    /// Starts the hold's session timeout if `due` (`holdUnannounced`).
    private mutating func announceHold(_ due: Bool) -> [Action] {
        guard due, holdUnannounced else { return [] }
        holdUnannounced = false
        return [.holdUnheld(for: sessionTimeout)]
    }

    /// Starts the linger of each of `sessions` (`unannouncedLingers`).
    private func lingers(_ sessions: Set<Int64>) -> [Action] {
        sessions.sorted().map { .linger(session: $0, for: sessionTimeout) }
    }

    /// Whether `event` is a member node read again with the session it had (an
    /// acknowledgement, most likely): nothing a look at the sessions depends on changes, not even
    /// whether the lists are current (the node was read before). At N = 1 000 the look after
    /// every acknowledgement was a quarter of the leader's work.
    fileprivate func isRereadOfTheSameSession(_ event: Event) -> Bool {
        guard case .memberRead(let name, let node?) = event, let known = members[name] else { return false }
        return known.session == node.session && memberNames.contains(name)
    }

    /// Whether no watch of `members/` or of the lock fired without its listing back, and every
    /// member node listed is read: only then is a session judged by its nodes.
    private var listsAreCurrent: Bool {
        listingsDue.isEmpty && everyMemberRead
    }

    /// Whether every member node listed has been read. `members` only ever holds names of
    /// `memberNames` (a name leaves both at once), so counting them is enough: this is asked
    /// after every acknowledgement, and a look at each name cost the leader N hashes each time.
    private var everyMemberRead: Bool {
        assert(members.keys.allSatisfy(memberNames.contains), "a member node kept that is not listed")
        return members.count == memberNames.count
    }

    /// The sessions the plan counts as alive besides those with a node: the lingering ones; and
    /// until the sessions are looked at with the lists current (`observeSessions`), every
    /// session granted anything, so that none is judged over on a list older than the other.
    private var sessionsCountedAlive: Set<Int64> {
        guard !sessionsSeen || !listsAreCurrent else { return lingeringSessions }
        return lingeringSessions.union(nodes.grants.values.compactMap { $0.grant?.session })
    }

    /// Whether a grant was found lost: a live member that has acknowledged a grant has none, a
    /// grant node vanished or does not parse (`lost`), a grant says its holdings are unknown,
    /// the summary is gone from a group that had members before, or the summary says its leader
    /// was holding unheld partitions back.
    fileprivate func grantFoundLost(_ lost: [String: Int64]) -> Bool {
        // No summary, yet members came and went before (`members/` changed more often than it
        // has children): the group's state is gone, not yet made.
        let summaryLost = nodes.summaryVersion == nil && (membersChanges ?? 0) > Int32(memberNames.count)
        // The summary names a grant no node holds: deleted before this leader looked (a new
        // reign saw neither it nor its member's nodes, and took what it held for held by
        // nobody while its member, in touch but unable to join again, still published it:
        // seed 18189037689542356488).
        let namedAndGone = nodes.summary?.grants.keys.contains { nodes.grants[$0] == nil } == true
        // A summary that does not parse may have said a leader was holding back (seed
        // 13552190174171450753: the hold of a reign fenced early, its summary then garbage; the
        // next reign gave away at once what a cut-off member still published).
        let summaryUnreadable = nodes.summaryVersion != nil && nodes.summary == nil
        return summaryLost || namedAndGone || summaryUnreadable || !lost.isEmpty || nodes.summary?.holdsUnheld == true
            || nodes.grants.values.contains { $0.grant?.unknownHoldings == true }
            || members.values.contains { node in
                ((node.record?.ackedEpoch ?? 0) > 0 || node.recordUnreadable) && nodes.grants[node.name] == nil
            }
    }

    /// Whether `member`'s node, as last read, acknowledges `epoch` (a node gone or of another
    /// session counts as news for the planner, not as a member still to come).
    fileprivate func hasAcknowledged(_ member: String, _ epoch: Int64) -> Bool {
        guard let node = members[member], let record = node.record else { return true }
        return record.ackedEpoch >= epoch
    }

    /// `allocation.digest`, computed again only for a new target.
    fileprivate mutating func digest(of allocation: Allocation, shares: [PartitionIndexSet]) -> String {
        if let lastDigest, lastDigest.allocation == allocation { return lastDigest.digest }
        let digest = allocation.digest(in: table, shares: shares)
        lastDigest = (allocation, digest)
        return digest
    }
}

/// What a pure strategy's result depends on.
private struct TargetInputs: Equatable {
    var strategy: Strategy
    var members: [String]
    var partitions: [Partition]
    var weights: MemberWeights
    /// Each member's current holdings, for a strategy that uses them (`sticky`).
    var holdings: [String: PartitionIndexSet]?
}

extension LeaderMachine.Action {
    /// Whether the action is a read whose result the takeover waits for.
    fileprivate var isRead: Bool {
        switch self {
        case .readGroup, .readPartitions, .listMembers, .listContenders, .readGrants, .listGrants, .readMember: true
        default: false
        }
    }
}

extension LeaderMachine.Event {
    /// Whether the event may change what the leader knows of sessions' nodes (the member and
    /// contender lists, a member node, a grant): only then are sessions looked at again.
    fileprivate var changesTheLists: Bool {
        switch self {
        case .membersListed, .contendersListed, .memberRead, .grantsRead, .grantsListed, .written: true
        default: false
        }
    }

    fileprivate var isReadResult: Bool {
        switch self {
        case .groupRead, .partitionsRead, .membersListed, .contendersListed, .grantsRead, .grantsListed, .memberRead: true
        default: false
        }
    }
}
