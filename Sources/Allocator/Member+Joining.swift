import Allocation
import Coordination
import Foundation
import Logging
import Recipes
import ZooKeeper

/// Joining the group: the member node, and what to do when it is deleted behind the member's
/// back.
extension Member {
    func join(_ record: MemberRecord) {
        guard let client, let session = client.status.session else { return }
        let data = nodeData(record)
        let party = Party(client: client, path: paths.members, member: configuration.member)
        let paths = self.paths
        let conflictWait = session.timeout * 3 / 2
        // Joining again in the same session: the node was deleted behind the member's back,
        // perhaps with the whole group (its settings too), so the group is prepared again.
        let setup = joinedInSession ? GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger) : nil
        spawn { member in
            do {
                if let setup { _ = try await setup.prepare(seeding: false) }
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
}
