/// What each reply and each watch means to the machines.
extension MemberMachine {
    /// A request that got no answer because the connection dropped: the machines learn of the
    /// connection itself; what must be known is asked again (the executor sends it once
    /// connected again).
    mutating func lostReply(_ tag: RequestTag, _ purpose: Purpose, _ request: NodeRequest?) {
        switch purpose {
        case .leaderWrite:
            // Reads lost with it are read again by the round this failure makes.
            leaderRereadFrom = nextTag
            lead(.writeFailed(fenced: false))
        case .electionCreate:
            // Applied or not: the machine lists the lock to find out.
            elect(.createOutcomeUnknown)
        case .leaderGroup, .leaderPartitions, .leaderMembers, .leaderMember, .leaderContenders, .leaderSummary,
             .leaderGrantList, .leaderGrant, .leaderGrantNames, .leaderGrantNamesExists, .createPartitions:
            // Read everything again, as after a failed write; once for all the reads a lost
            // connection took, not once for each (a re-read for each, with the connection lost
            // again, made every read of the next round ask for a round of its own: the leader's
            // requests grew sevenfold at each loss, seed 11453049691854484129).
            if leader.isLeading, tag >= leaderRereadFrom {
                leaderRereadFrom = nextTag
                lead(.writeFailed(fenced: false))
            }
        case .checkOwnMember: follow(.memberNodeFound)  // the next summary that leaves it out asks again
        case .leave, .lookBeforeLeaving: send(.close, .close)
        case .electionDelete, .prepareForJoin, .prepareForLeader, .prepareForElection, .pinSettings:
            break
        case .readSummary, .existsSummary:
            send(.getData(paths.assignments, watch: true), .readSummary)
        case .electionList, .electionWatch, .createMember, .findMemberHolder,
             .readGrant, .acknowledge, .readOwnRecord, .readAdoptedRecord, .restoreOwnRecord, .close, .deleteUnreadableGrant:
            // The same again: a create applied before the connection dropped is found by its
            // `nodeExists`, a conditional write applied by its `badVersion`.
            if let request { send(request, purpose) }
        }
    }

    mutating func handle(_ reply: NodeReply, to request: NodeRequest?, _ purpose: Purpose) {
        let result = reply.result
        switch purpose {
        case .lookBeforeLeaving:
            if case .success(.exists(let stat?)) = result, stat.ephemeralOwner == session {
                leave(deletingMemberNodeAt: stat.version)
            } else {
                leave(deletingMemberNodeAt: nil)
            }
        case .leave:
            // Done or not (the contender node gone, the grant changed meanwhile): the close
            // ends what is left.
            send(.close, .close)
        case .close, .electionDelete, .prepareForJoin, .prepareForLeader, .prepareForElection, .pinSettings, .deleteUnreadableGrant:
            break
        case .electionCreate:
            if case .success(.created(let path, _)) = result {
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
        case .electionWatch:
            guard case .success(.exists(let stat)) = result else { return }
            if stat != nil { want(.predecessor, armedBy: request) }
            elect(.predecessorFound(owner: stat?.ephemeralOwner))
        case .createMember:
            switch result {
            case .success(let response):
                let made: Int64 = if case .created(_, let made) = response { made } else { 0 }
                joined(version: 0, made: made)
            case .failure(.nodeExists):
                send(.exists(paths.member(member), watch: true), .findMemberHolder)
            case .failure(let failure):
                if joining != nil { joinFailed("creating \(paths.member(member)): \(failure)") }
            }
        case .findMemberHolder:
            guard joining != nil else { return }
            switch result {
            case .success(.exists(let stat?)) where stat.ephemeralOwner == session:
                // Ours: an earlier create whose reply was lost, or an earlier join of this
                // session. Its data stays: it is this session's own, and as new as anything
                // the session wrote into it since; unless someone else wrote garbage into it
                // (written since it was made: read, and written over if so). Adopted as it was,
                // the leader read no record in it and awaited the member for good (seed
                // 14771417775917702037).
                joined(version: stat.version, made: stat.czxid)
                if stat.version > 0 { send(.getData(paths.member(member), watch: false), .readAdoptedRecord) }
            case .success(.exists(let stat?)):
                // Another session's (this member's previous process, whose session has not yet
                // expired; or a kiel consumer of the same name): waited for, up to the deadline.
                guard let deadline = joining?.conflictDeadline, now < deadline else {
                    actions.append(.fail(.nameTaken(path: paths.member(member), ownerSession: stat.ephemeralOwner)))
                    return
                }
                want(.memberHolder, armedBy: request)
                timers.conflictCheck = deadline
            case .success:
                createMemberNode()  // gone meanwhile
            case .failure(let failure):
                joinFailed("looking at \(paths.member(member)): \(failure)")
            }
        case .checkOwnMember:
            switch result {
            case .success(.exists(let stat?)) where stat.ephemeralOwner == session:
                if stat.version > memberNodeVersion {
                    // Written since this member last wrote it (its own writes bump the version
                    // it expects before they are sent): by someone else. Its record is read,
                    // and written over unless it is this member's.
                    send(.getData(paths.member(member), watch: false), .readOwnRecord(follower.record))
                }
                follow(.memberNodeFound)
            case .success:
                actions.append(.report(.memberNodeLost))
                follow(.memberNodeDeleted)
            default: follow(.memberNodeFound)  // the look failed: proves nothing
            }
        case .readGrant:
            if case .success(.data(let data, let stat)) = result {
                let grant = try? Grant(decoding: data)
                if grant == nil {
                    // Garbage written by hand. The leader reads a grant node only when it writes
                    // it; deleted (only as it was read), it is a grant lost, which the leader
                    // sees at once and writes again.
                    actions.append(.report(.grantUnreadable(path: paths.grant(member))))
                    send(.delete(paths.grant(member), version: stat.version), .deleteUnreadableGrant)
                }
                follow(.grantRead(grant, version: stat.version))
            } else {
                follow(.grantRead(nil))
            }
        case .readSummary:
            switch result {
            case .success(.data(let data, let stat)):
                want(.summary, armedBy: request)
                if let summary = try? GroupSummary(decoding: data, changesOf: member) {
                    if lastError == unreadableSummary { lastError = nil }
                    follow(.summaryRead(summary, made: stat.czxid, modified: stat.mzxid))
                } else {
                    // Keeps the last good one; the leader (perhaps this member) writes it over
                    // once it has read everything again.
                    lastError = unreadableSummary
                    actions.append(.report(.summaryUnreadable(path: paths.assignments)))
                    follow(.summaryUnreadable)
                    lead(.refresh)
                }
            default:
                send(.exists(paths.assignments, watch: true), .existsSummary)
            }
        case .existsSummary:
            if case .success(.exists(nil)) = result {
                want(.summary, armedBy: request)
                follow(.summaryRead(nil))
            } else {
                send(.getData(paths.assignments, watch: true), .readSummary)
            }
        case .acknowledge(let record, let version):
            switch result {
            case .success(.written(let stat)):
                memberNodeVersion = stat.version
                acknowledged(record)
            case .failure(.badVersion):
                // Our own write that went through before the connection dropped, or someone
                // else's: the node tells.
                send(.getData(paths.member(member), watch: false), .readOwnRecord(record))
            case .failure(.noNode):
                follow(.memberNodeDeleted)
            case .failure(let failure):
                // Not written: the next write is made on condition of the same version.
                if memberNodeVersion == version + 1 { memberNodeVersion = version }
                actions.append(.report(.acknowledgementFailed(epoch: record.ackedEpoch, failure)))
                timers.acknowledgementRetry = (now + acknowledgementRetryDelay, record.ackedEpoch)
            case .success:
                acknowledged(record)
            }
        case .readOwnRecord(let record):
            switch result {
            case .success(.data(let data, let stat)) where stat.ephemeralOwner == session:
                if data == nodeData(record) {
                    memberNodeVersion = stat.version
                    acknowledged(record)
                } else {
                    send(.setData(paths.member(member), data: nodeData(record), version: stat.version),
                         .restoreOwnRecord(record, foreign: stat.version))
                }
            case .success, .failure(.noNode):
                follow(.memberNodeDeleted)
            case .failure(let failure):
                actions.append(.report(.acknowledgementFailed(epoch: record.ackedEpoch, failure)))
                timers.acknowledgementRetry = (now + acknowledgementRetryDelay, record.ackedEpoch)
            }
        case .readAdoptedRecord:
            guard case .success(.data(let data, let stat)) = result, stat.ephemeralOwner == session,
                  stat.version == memberNodeVersion, MemberRecord(decoding: data) == nil
            else { return }
            // What the member acknowledges now (the join's record may be older than that).
            let record = follower.record
            memberNodeVersion += 1
            send(.setData(paths.member(member), data: nodeData(record), version: stat.version),
                 .restoreOwnRecord(record, foreign: stat.version))
        case .restoreOwnRecord(let record, let foreign):
            switch result {
            case .success(.written(let stat)):
                memberNodeVersion = stat.version
                let path = paths.member(member)
                lastError = "this member's node \(path) was rewritten by someone else (version \(foreign)); restored"
                actions.append(.report(.memberNodeRewritten(path: path, version: foreign)))
                acknowledged(record)
            case .failure(.badVersion), .failure(.noNode):
                follow(.memberNodeDeleted)
            default:
                timers.acknowledgementRetry = (now + acknowledgementRetryDelay, record.ackedEpoch)
            }
        case .leaderGroup:
            want(.leaderGroup, armedBy: request)
            switch result {
            case .success(.data(let data, _)) where data.isEmpty:
                // The group node made anew (the group's nodes deleted behind the members'
                // back): the leader pins the settings again, as the group's first member did.
                guard session != nil else { return }
                actions.append(.pinSettings(take(.pinSettings, nil)))
            case .success(.data(let data, _)):
                lead(.groupRead(GroupNodes.strategy(inGroupData: data)))
            case .failure(let failure):
                actions.append(.report(.readFailed("the group node", failure)))
                lead(.groupRead(nil))
                leaderReadFailed()
            default:
                lead(.groupRead(nil))
            }
        case .leaderPartitions:
            want(.leaderPartitions, armedBy: request)
            switch result {
            case .success(.data(let data, let stat)):
                leaderReadBackoff = .zero
                if lastError?.hasPrefix(Self.partitionSetUnreadable) == true { lastError = nil }
                // Made by a member's preparation (empty) or a reader (`[]`), never written: the
                // group starts again as a new one would.
                if stat.version == 0, data.count <= 2 { actions.append(.seedIfFresh) }
                switch GroupNodes.partitions(inSetData: data) {
                case .success(let partitions):
                    lead(.partitionsRead(partitions.sorted(), PartitionSetState(bytes: data.count)))
                case .failure(let malformed):
                    actions.append(.report(.partitionSetMalformed(path: paths.partitions, reason: malformed.reason)))
                    lead(.partitionsRead(nil, PartitionSetState(bytes: data.count, error: malformed.reason)))
                }
            case .failure(.noNode):
                send(.create(paths.partitions, data: Array("[]".utf8), .persistent), .createPartitions)
            case .failure(let failure):
                // Not read (no right to, say): the leader keeps the set it knew and reads again;
                // taken for an empty set, as it was, it revoked every partition.
                partitionSetUnread(failure)
            default:
                leaderReadFailed()
            }
        case .createPartitions:
            switch result {
            case .success, .failure(.nodeExists):
                send(.getData(paths.partitions, watch: true), .leaderPartitions)
            case .failure(let failure):
                // The group node is gone too (its subtree deleted): the retry's preparation
                // makes the group's nodes again. Reading and creating at once went on for good,
                // two requests a round trip without a pause.
                partitionSetUnread(failure)
            }
        case .leaderMembers:
            want(.leaderMembers, armedBy: request)
            switch result {
            case .success(.children(let names, let stat)):
                // The leader sees its own node gone before any summary could tell its follower
                // (a leader that cannot write, say): it looks at once, and joins again if so, so
                // that its session is never taken for over while it still publishes.
                guard !hasCanonicalTwins(names, in: paths.members) else { break }
                if joinedInSession, joining == nil, !names.contains(member) {
                    send(.exists(paths.member(member), watch: false), .checkOwnMember)
                }
                lead(.membersListed(names, changes: stat.cversion))
            case .failure(let failure):
                actions.append(.report(.readFailed("the member list", failure)))
                leaderReadFailed()
            default: break
            }
        case .leaderMember(let name):
            if case .success(.data(let data, let stat)) = result {
                want(.leaderMember(name), armedBy: request)
                var record = MemberRecord(decoding: data)
                let unreadable = record == nil && !data.isEmpty
                if unreadable {
                    // Neither a kiel consumer's node (empty) nor a record: written over by someone
                    // else. The member counts as acknowledging nothing, what it holds unknown,
                    // until it writes its record again (its next acknowledgement finds the node
                    // changed and restores it).
                    // Every node but the leader's own is read with a watch, so the record written
                    // again is read (its weight with it); the leader's own its member tells it.
                    record = MemberRecord(ackedEpoch: 0)
                    actions.append(.report(.memberRecordUnreadable(path: paths.member(name))))
                }
                lead(.memberRead(name, PartyMember(name: name, session: stat.ephemeralOwner, record: record, recordUnreadable: unreadable)))
            } else {
                lead(.memberRead(name, nil))
            }
        case .leaderContenders:
            want(.leaderContenders, armedBy: request)
            switch result {
            case .success(.children(let names, _)): lead(.contendersListed(Set(names.compactMap(ContenderName.session))))
            case .failure(let failure):
                actions.append(.report(.readFailed("the leader lock", failure)))
                leaderReadFailed()
            default: break
            }
        case .leaderGrantNames:
            switch result {
            case .success(.children(let names, _)):
                want(.leaderGrants, armedBy: request)
                guard !hasCanonicalTwins(names, in: paths.assignments) else { break }
                lead(.grantsListed(Set(names)))
            case .failure(.noNode):
                // Not made yet (a new group: the first write makes it): watched for its creation.
                send(.exists(paths.assignments, watch: true), .leaderGrantNamesExists)
            case .failure(let failure):
                // Not listed (no right to): the `exists` above would succeed (ZooKeeper checks no
                // ACL for it) and list again at once, for good.
                actions.append(.report(.readFailed("the grant list", failure)))
                leaderReadFailed()
            default: break
            }
        case .leaderGrantNamesExists:
            if case .success(.exists(nil)) = result {
                want(.leaderGrants, armedBy: request)  // its creation: listed, and watched then
                lead(.grantsListed([]))
            } else {
                send(.getChildren(paths.assignments, watch: true), .leaderGrantNames)
            }
        case .leaderSummary(let read):
            guard var reading = grantsRead[read] else { return }
            switch result {
            case .success(.data(let data, let stat)): reading.summary = (try? GroupSummary(decoding: data), stat.version)
            case .failure(.noNode): reading.summary = (nil, nil)
            default: return grantsNotRead(read, "the summary", result)
            }
            grantsRead[read] = reading
            finishGrantsRead(read)
        case .leaderGrantList(let read):
            guard var reading = grantsRead[read] else { return }
            let names: [String]
            switch result {
            case .success(.children(let listed, _)): names = listed
            case .failure(.noNode): names = []
            default: return grantsNotRead(read, "the grant list", result)
            }
            reading.remaining = Set(names)
            grantsRead[read] = reading
            for name in names { send(.getData(paths.grant(name), watch: false), .leaderGrant(read, name)) }
            finishGrantsRead(read)
        case .leaderGrant(let read, let name):
            guard var reading = grantsRead[read] else { return }
            reading.remaining?.remove(name)
            switch result {
            case .success(.data(let data, let stat)):
                reading.nodes[name] = GrantNodes.Node(grant: try? Grant(decoding: data), version: stat.version)
            case .failure(.noNode): break  // deleted since it was listed
            default: return grantsNotRead(read, paths.grant(name), result)
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
                leaderReadBackoff = .zero
                lead(.written(versions))
                var summaryMade: Int64 = 0
                if case .written(let stat) = results[LeaderWrite.summaryIndex] { summaryMade = stat.czxid }
                followOwnWrite(write, summaryMade: summaryMade, versions: versions)
            default:
                let failure: NodeFailure? = if case .failure(let failure) = result { failure } else { nil }
                actions.append(.report(.writeFailed(write, failedOperation: reply.failedOperation, failure)))
                lead(.writeFailed(fenced: reply.failedOperation == LeaderWrite.fenceIndex))
            }
        }
    }

    /// This member's record is in its node: its follower is told, and, leading, so is its
    /// leader, as if it had read the node. A leader does not watch its own node (it knew the
    /// acknowledgement first: its watch, the notification and the read of it cost 5 packets a
    /// change); what it read of its own node before this reply is older (one session's
    /// requests are answered in order).
    mutating func acknowledged(_ record: MemberRecord) {
        follow(.acknowledged(epoch: record.ackedEpoch))
        guard leader.isLeading, let session else { return }
        lead(.memberRead(member, PartyMember(name: member, session: session, record: nodeRecord(record))))
    }

    /// The leader's own follower takes what the leader just wrote as read: the summary, and
    /// its own grant if the write changed it. It is what reading the nodes now would return
    /// (only a leader writes them, and this one's write was fenced), so the leader publishes
    /// and acknowledges at once, instead of after the two reads every follower makes, which
    /// queue behind the acknowledgements the leader reads: at N = 20 the leader was the last
    /// to acknowledge its own revocations. Its watch on the summary fires as any follower's,
    /// and the read that follows finds nothing new.
    mutating func followOwnWrite(_ write: LeaderWrite, summaryMade: Int64, versions: LeaderWrite.Versions) {
        var written = FollowerMachine.WrittenGrant.unchanged
        switch write.grants.first(where: { $0.0.member == member })?.0 {
        case .create(_, let grant), .set(_, let grant):
            written = .set(grant.byName, version: versions.grants[member] ?? -1)
        case .delete:
            written = .deleted
        case nil:
            break
        }
        follow(.written(write.summary, made: summaryMade, grant: written))
    }

    /// The leader could not read (or make) the partition set: it plans nothing new, says why
    /// in `status` until a read succeeds (or it leads no more), and reads everything again after
    /// a pause.
    mutating func partitionSetUnread(_ failure: NodeFailure) {
        lastError = Self.partitionSetUnreadable + "\(paths.partitions) (\(failure)); no rebalance until it can"
        actions.append(.report(.readFailed("the partition set", failure)))
        leaderReadFailed()
    }

    static let partitionSetUnreadable = "the leader cannot read the partition set "

    /// What `status.last_error` says while the summary does not parse.
    var unreadableSummary: String { "the group's summary at \(paths.assignments) does not parse; the leader writes it again" }

    /// A read of the grants that failed (no right to read them, say), taken for nothing read:
    /// taken for "none there", a new reign's one first look at the sessions saw no grant, and
    /// once they could be read, a grant of a session with no node went away at once instead of
    /// lingering. The reign reads everything again after a pause.
    mutating func grantsNotRead(_ read: Int, _ what: String, _ result: Result<NodeResponse, NodeFailure>) {
        grantsRead[read] = nil
        if case .failure(let failure) = result { actions.append(.report(.readFailed(what, failure))) }
        leaderReadFailed()
    }

    mutating func finishGrantsRead(_ read: Int) {
        guard let reading = grantsRead[read], let summary = reading.summary, let remaining = reading.remaining, remaining.isEmpty else { return }
        grantsRead[read] = nil
        lead(.grantsRead(GrantNodes(summary: summary.0, summaryVersion: summary.1, grants: reading.nodes)))
    }

    mutating func fire(_ interest: Interest, deleted: Bool) {
        switch interest {
        case .leaderGroup: lead(.groupChanged)
        case .leaderPartitions: leadDebounced(.partitionsChanged)
        case .leaderMembers: leadDebounced(.membersChanged)
        case .leaderContenders: lead(.contendersChanged)
        case .leaderGrants: lead(.grantsChanged)
        case .leaderMember(let name):
            // A member node deleted is for the members' listing to tell, with the contenders'
            // (read alone, the node gone while the session's contender node stays listed held
            // its partitions back for another epoch).
            if !deleted { lead(.memberChanged(name)) }
        case .predecessor: elect(.predecessorChanged)
        case .summary: follow(.summaryChanged)
        case .memberHolder:
            // The node another session held changed or went: try again.
            if joining != nil {
                timers.conflictCheck = nil
                createMemberNode()
            }
        }
    }
}
