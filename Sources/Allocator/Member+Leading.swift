import Allocation
import ControlProtocol
import ExecAllocation
import Coordination
import Foundation
import Logging
import Recipes
import ZooKeeper

/// The leader's I/O: what `LeaderMachine` asks to read and write, and its results back in
/// request order; the debounce of `--rebalance-delay`.
extension Member {
    func lookAgainAtAwaited() {
        for name in leader.awaitedMembers.keys.sorted(by: utf8Precedes) { lead(.memberChanged(name)) }
    }

    func lead(_ event: LeaderMachine.Event) {
        for action in leader.handle(event) {
            switch action {
            case .readGroup: readGroup()
            case .readPartitions: readPartitions()
            case .listMembers: listMembers()
            case .readMember(let name, let watch): readMember(name, watch: watch)
            case .listContenders: listContenders()
            case .readGrants: readGrants()
            case .listGrants: listGrants()
            case .write(let write): self.write(write)
            case .runAllocator(let strategy, let members, let partitions): runAllocator(strategy, members, partitions)
            case .planAfter(let delay):
                after(delay, .leader(.roundDue))
            case .retryAfter(let delay):
                logger.warning("the leader's writes keep failing; reading everything again in \(delay)")
                after(delay, .leader(.retryDue))
            case .linger(let session, let duration):
                logger.warning("session \(SessionID.format(session)) lost its member node and its leader-lock node apart (deleted by hand?): it counts as alive for \(duration)")
                after(duration, .leader(.lingerOver(session: session)))
            case .holdUnheld(let duration):
                logger.warning("a grant was found lost (the group's nodes deleted behind the members' back?): nothing nobody is known to hold is granted for \(duration), while the lease of a member with no trace left may run")
                after(duration, .leader(.holdOver))
            case .reportIgnoredWeights(let strategy, let members):
                logger.warning(
                    "the group's strategy \(strategy) ignores weights; these members have a weight other than 1: \(members.joined(separator: ", ")) (consistent and sticky honour weights)")
            case .stepDown:
                logger.warning("no longer leading: the leader lock's node is gone")
                elect(.contenderGone)
            }
        }
    }

    /// Sends `input` once `delay` has passed, as a task of the session (a timer a machine asked for).
    func after(_ delay: Duration, _ input: Input) {
        spawn { member in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            await member.send(input)
        }
    }

    /// A change of members or partitions reaches the leader after the configured quiet time
    /// (spec §12): `MIN` ms after the last change, never more than `MAX` after the first.
    func debounced(_ input: Input) {
        guard case .leader(let event) = input else { return }
        let quiet = configuration.rebalanceDelayMin
        guard quiet > .zero else { return lead(event) }
        let now = ContinuousClock.now
        let first = debounce?.first ?? now
        var events = debounce?.events ?? []
        if !events.contains(event) { events.append(event) }
        debounce?.timer.cancel()
        let due = min(now + quiet, first + max(configuration.rebalanceDelayMax, quiet))
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(until: due)) != nil else { return }
            await self?.debounceElapsed()
        }
        debounce = (first, timer, events)
    }

    func debounceElapsed() {
        let events = debounce?.events ?? []
        debounce = nil
        for event in events { lead(event) }
    }

    func readGroup() {
        let path = paths.group
        let logger = self.logger
        let setup = client.map { GroupSetup(client: $0, configuration: configuration, paths: paths, logger: logger) }
        read(label: "group", forLeader: true) { client in
            let (node, watch) = try await client.retrying { try await client.getDataWatching(path) }
            if node.data.isEmpty, let setup {
                // The group node made anew (the group's nodes deleted behind the members'
                // back): the leader pins the settings again, as the group's first member did,
                // and plans; the summary it writes tells deleted members to join again.
                logger.notice("the group's settings are gone; pinning them again")
                return ([.leader(.groupRead(try await setup.pinSettings()))], watch, .leader(.groupChanged))
            }
            let settings = try? GroupSettings(data: node.data, path: path)
            return ([.leader(.groupRead(settings?.strategy))], watch, .leader(.groupChanged))
        }
    }

    func readPartitions() {
        guard let client else { return }
        let set = GroupSetup.partitionSet(client, path: paths.partitions)
        let logger = self.logger
        let setup = GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
        read(label: "partitions", forLeader: true) { _ in
            let (snapshot, watch) = try await set.readWatching()
            if snapshot.version == 0, snapshot.size <= 2 { await setup.seedIfFresh() }
            switch snapshot.contents {
            case .valid(let items):
                let partitions = items.compactMap { try? Partition(parsing: $0) }.sorted()
                return ([.leader(.partitionsRead(partitions, PartitionSetState(bytes: snapshot.size)))], watch, .leader(.partitionsChanged))
            case .malformed(let reason):
                logger.error("the partition set at \(set.path) does not parse (\(reason)); keeping the last good one; fix it or run `allocatorctl repair`")
                return ([.leader(.partitionsRead(nil, PartitionSetState(bytes: snapshot.size, error: reason)))], watch, .leader(.partitionsChanged))
            }
        }
    }

    func listMembers() {
        let path = paths.members
        read(label: "members", forLeader: true) { client in
            let (children, watch) = try await client.retrying { try await client.childrenWatching(path) }
            return ([.leader(.membersListed(children.names, changes: children.stat.cversion))], watch, .leader(.membersChanged))
        }
    }

    func readMember(_ name: String, watch: Bool) {
        let path = paths.member(name)
        read(label: "member \(name)", forLeader: true) { client in
            do {
                if watch {
                    let (node, nodeWatch) = try await client.retrying { try await client.getDataWatching(path) }
                    return ([.leader(.memberRead(name, Self.partyMember(name, node)))], nodeWatch, .leader(.memberChanged(name)))
                }
                let node = try await client.retrying { try await client.getData(path) }
                return ([.leader(.memberRead(name, Self.partyMember(name, node)))], nil, nil)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return ([.leader(.memberRead(name, nil))], nil, nil)
            }
        }
    }

    static func partyMember(_ name: String, _ node: NodeData) -> PartyMember {
        PartyMember(name: name, session: node.stat.ephemeralOwner, record: MemberRecord(decoding: node.data))
    }

    func listContenders() {
        let path = paths.leaderLock
        read(label: "contenders", forLeader: true) { client in
            let (children, watch) = try await client.retrying { try await client.childrenWatching(path) }
            return ([.leader(.contendersListed(Set(children.names.compactMap(ContenderName.session))))], watch, .leader(.contendersChanged))
        }
    }

    func readGrants() {
        let paths = self.paths
        read(label: "grants", forLeader: true) { client in
            let nodes = try await client.retrying { try await GrantReader(client: client, paths: paths).read() }
            return ([.leader(.grantsRead(nodes))], nil, nil)
        }
    }

    func listGrants() {
        let path = paths.assignments
        read(label: "grant list", forLeader: true) { client in
            // Not made yet (a new group: the first write makes it): watched for its creation.
            let (names, watch) = try await Self.watchingCreation(client, path) {
                let (children, watch) = try await client.childrenWatching(path)
                return (children.names, watch)
            }
            return ([.leader(.grantsListed(Set(names ?? [])))], watch, .leader(.grantsChanged))
        }
    }

    func write(_ write: LeaderWrite) {
        guard let client, let contender = election.contender else {
            lead(.writeFailed(fenced: true))
            return
        }
        let operations = write.operations(in: paths, contender: contender).map(MultiOperation.init)
        let number = requests.start()
        let logger = self.logger
        spawn { member in
            var results: [Input]
            do {
                let outcome = try await client.multi(operations)
                var versions = LeaderWrite.Versions(summary: 0, grants: [:])
                if case .setData(let stat) = outcome[LeaderWrite.summaryIndex] { versions.summary = stat.version }
                for (index, (change, _)) in write.grants.enumerated() {
                    if case .setData(let stat) = outcome[LeaderWrite.firstGrantIndex + index] { versions.grants[change.member] = stat.version }
                }
                logger.info("granted", metadata: [
                    "epoch": "\(write.summary.epoch)", "changes": "\(write.grants.count)",
                    "awaited": "\(write.summary.awaited.keys.sorted(by: utf8Precedes))",
                ])
                results = [.leader(.written(versions))]
            } catch let error as ZooKeeperError {
                let fenced = error.failedOperation == LeaderWrite.fenceIndex
                logger.notice("the leader's write failed: \(error)")
                results = [.leader(.writeFailed(fenced: fenced))]
            } catch {
                results = [.leader(.writeFailed(fenced: false))]
            }
            await member.send(.completed(number, results))
        }
    }

    func runAllocator(_ strategy: Strategy, _ members: [String], _ partitions: [Partition]) {
        let timeout = configuration.execTimeout
        let retry = allocatorRetry
        spawn { member in
            do {
                let allocation = try await strategy.allocate(members: members, partitions: partitions, execTimeout: timeout)
                await member.allocatorSucceeded()
                await member.send(.leader(.allocated(allocation)))
            } catch {
                let delay = await member.allocatorFailed("\(error)", after: retry)
                try? await Task.sleep(for: delay)
                await member.send(.leader(.allocated(nil)))
            }
        }
    }

    func allocatorSucceeded() {
        if allocatorRetry > .zero { lastError = nil }
        allocatorRetry = .zero
    }

    /// Records the allocator's failure; returns how long to wait before trying again (1 s,
    /// doubling up to 30 s): the failure may have been passing.
    func allocatorFailed(_ error: String, after previous: Duration) -> Duration {
        allocatorRetry = min(max(previous * 2, .seconds(1)), .seconds(30))
        lastError = error
        logger.error("the allocator failed; keeping the grants as they are, trying again in \(allocatorRetry): \(error)")
        return allocatorRetry
    }

    /// A read of the leader failed other than by the connection (a node of the group deleted
    /// behind its back): it reads everything again a second later.
    func leaderReadFailed() {
        guard leader.isLeading, !leaderRetryPending, let client else { return }
        leaderRetryPending = true
        // A read fails for good when the group's nodes are gone (deleted behind the members'
        // back): the leader makes them again, as a member does before it joins, then reads.
        let setup = GroupSetup(client: client, configuration: configuration, paths: paths, logger: logger)
        spawn { member in
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            _ = try? await setup.prepare(seeding: false)
            await member.retryLeaderReads()
        }
    }

    func retryLeaderReads() {
        leaderRetryPending = false
        lead(.writeFailed(fenced: false))
    }
}
