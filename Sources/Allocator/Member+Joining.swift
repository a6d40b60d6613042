import Allocation
import Coordination
import Foundation
import Logging
import Recipes
import ZooKeeper

/// Joining the group and the leader lock: the contender node, the member node, what to do
/// when either is deleted behind the member's back.
extension Member {
    func join(_ record: MemberRecord) {
        guard let client, let session = client.status.session else { return }
        let data = nodeData(record)
        let needsContender = contender == nil
        contenderNonce += 1
        let prefix = ContenderName.prefix(session: session.id, nonce: contenderNonce)
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let paths = self.paths
        let conflictWait = session.timeout * 3 / 2
        // Joining again in the same session: the node was deleted behind the member's back,
        // perhaps with the whole group (its settings too), so the group is prepared again.
        let setup = joinedInSession ? GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger) : nil
        spawn { member in
            do {
                if let setup { _ = try await setup.prepare(seeding: false) }
                if needsContender {
                    let created = try await client.retrying {
                        try await client.create(paths.contender(prefix), data: Array(party.member.utf8), mode: .ephemeralSequential)
                    }
                    await member.contenderCreated(String(created.split(separator: "/").last!))
                }
                try await party.join(data: data, conflictWait: conflictWait)
                guard let stat = try await party.ownNode() else {
                    // Deleted (or taken) again right after the join: once more. (The follower
                    // still counts this join as under way, so it is this join that goes on:
                    // telling the follower the node is gone would ask for a join it thinks
                    // is running, and none would.)
                    await member.joinAgain(record)
                    return
                }
                await member.joined(nodeVersion: stat.version)
            } catch {
                await member.joinFailed(record, error)
            }
        }
    }

    /// A join (or the group's preparation for one) failed: for good if no retry can help (the
    /// name is another session's, the group's strategy or protocol is not this member's), else
    /// it is tried again.
    func joinFailed(_ record: MemberRecord, _ error: any Error) {
        switch error {
        case is PartyError, is StrategyMismatch, is UnconfiguredExecStrategy, is ProtocolMismatch: send(.failed(error))
        default: retryJoin(record, after: error)
        }
    }

    /// Joining failed for a reason that may pass (the group's nodes deleted behind the
    /// members' back, an ACL refusing creates for a while): prepares the group again and joins
    /// again, after 1 s, doubling up to 10 s, for as long as the session lives.
    func retryJoin(_ record: MemberRecord, after error: any Error) {
        joinRetry = min(max(joinRetry * 2, .seconds(1)), .seconds(10))
        lastError = "joining the group: \(error)"
        logger.warning("could not join the group; preparing it and trying again in \(joinRetry): \(error)")
        guard let client else { return }
        let delay = joinRetry
        let setup = GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
        spawn { member in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            do {
                _ = try await setup.prepare(seeding: false)
                await member.joinAgain(record)
            } catch {
                await member.joinFailed(record, error)
            }
        }
    }

    func joinAgain(_ record: MemberRecord) {
        join(follower.record.ackedEpoch > record.ackedEpoch ? follower.record : record)
    }

    func joined(nodeVersion: Int32) {
        memberNodeVersion = nodeVersion
        joinedInSession = true
        if joinRetry > .zero {
            joinRetry = .zero
            lastError = nil
        }
        logger.info("joined", metadata: ["strategy": "\(strategy?.name ?? "")"])
        follow(.joined)
    }

    func contenderCreated(_ name: String) {
        contender = name
        checkLock()
    }

    /// Tells the follower if the member node is gone, or another session's (a kiel consumer
    /// takes names over), while this session lives.
    func checkMemberNode() {
        guard let client else { return }
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let logger = self.logger
        spawn { member in
            let node: Stat?
            do {
                node = try await party.ownNode()
            } catch {
                // A failed look (the connection dropped) proves nothing: the next summary that
                // leaves this member out asks again.
                await member.send(.follower(.memberNodeFound))
                return
            }
            guard let stat = node else {
                logger.warning("this member's node was deleted or taken while its session lives; joining again")
                await member.send(.follower(.memberNodeDeleted))
                return
            }
            await member.memberNodeSeen(version: stat.version)
        }
    }

    func memberNodeSeen(version: Int32) {
        memberNodeVersion = max(memberNodeVersion, version)
        follow(.memberNodeFound)
    }

    func checkLock() {
        guard let client, let contender else { return }
        let lock = paths.leaderLock
        let paths = self.paths
        spawn { member in
            do {
                let names = try await client.retrying { try await client.children(lock) }.names
                guard names.contains(contender) else {
                    await member.contenderLost()
                    return
                }
                let ordered = ContenderName.ordered(names)
                let index = ordered.firstIndex(of: contender)!
                if index == 0 {
                    await member.elected()
                    return
                }
                let (stat, watch) = try await client.retrying { try await client.existsWatching(paths.contender(ordered[index - 1])) }
                guard stat != nil else { return await member.send(.checkLock) }
                if let event = try? await watch.fired(), event.kind != .sessionEnded { await member.send(.checkLock) }
            } catch {
                // The lock's node is gone (the group deleted behind our back): contend again.
                await member.debug("checking the leader lock failed: \(error)")
                await member.contenderLost()
            }
        }
    }

    func elected() {
        guard !leader.isLeading else { return }
        logger.info("leading the group")
        lead(.elected)
    }

    /// Contends again after a second, the lock's node made again if it is gone.
    func contendLater() {
        guard let client else { return }
        let lock = paths.leaderLock
        spawn { member in
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            try? await client.retrying { try await client.ensurePath(lock) }
            await member.createContender()
        }
    }

    /// This session's contender node is gone (deleted by hand): contend again.
    func contenderLost() {
        logger.warning("this member's leader-lock node was deleted; contending again")
        contender = nil
        if leader.isLeading { lead(.writeFailed(fenced: true)) } else { createContender() }
    }

    func createContender() {
        guard let client, let session = client.status.session, contender == nil else { return }
        contenderNonce += 1
        let path = paths.contender(ContenderName.prefix(session: session.id, nonce: contenderNonce))
        let name = Array(configuration.member.utf8)
        spawn { member in
            do {
                let created = try await client.retrying { try await client.create(path, data: name, mode: .ephemeralSequential) }
                await member.contenderCreated(String(created.split(separator: "/").last!))
            } catch {
                await member.debug("contending failed: \(error)")
                await member.contendLater()
            }
        }
    }
}
