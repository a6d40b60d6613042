import Allocation
import ControlProtocol
import Coordination
import ExecAllocation
import Foundation
import Logging
import Recipes
import ZooKeeper

/// What the machine asks, carried out: requests over the C client, the group's preparation,
/// the allocator program, publications, the timer; and what it reports, logged.
extension Member {
    /// Hands `event` to the machine, and carries out what it asks.
    func handle(_ event: MemberMachine.Event) {
        let now = ContinuousClock.now
        if let latest = client?.status.lastHeardFromServer, latest != heard {
            heard = latest
            perform(machine.handle(.follower(.heard(at: latest)), now: now))
        }
        perform(machine.handle(event, now: now))
        let awaited = machine.follower.summary?.awaited ?? [:]
        if awaited.count != awaitedSince.count || !awaited.keys.allSatisfy({ awaitedSince[$0] != nil }) {
            awaitedSince = awaited.keys.reduce(into: [:]) { since, name in since[name] = awaitedSince[name] ?? now }
        }
        armTimer()
    }

    func perform(_ actions: [MemberMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let tag, let request):
                if isConnected { execute(tag, request) } else { held.append((tag, request)) }
            case .publish(let publication):
                publish(publication)
            case .prepareGroup(let tag):
                prepareGroup(tag)
            case .pinSettings(let tag):
                pinSettings(tag)
            case .seedIfFresh:
                guard let setup = groupSetup() else { continue }
                spawn { _ in await setup.seedIfFresh() }
            case .runAllocator(let strategy, let members, let partitions):
                runAllocator(strategy, members, partitions)
            case .fail(.nameTaken(let path, let owner)):
                inputs?.yield(.failed(PartyError.nameTaken(member: configuration.member, path: path, ownerSession: owner)))
            case .report(let report):
                log(report)
            }
        }
    }

    // MARK: Requests

    /// Sends `request`; its answer, and later the watch it set, go to the machine in the
    /// server's order (both are handed on from the client's thread).
    func execute(_ tag: MemberMachine.RequestTag, _ request: NodeRequest) {
        guard let client, let inputs else { return }
        if case .close = request {
            logger.info("leaving the group")
            spawn { _ in await client.close() }
            return
        }
        let path = request.path ?? ""
        let children = if case .getChildren = request { true } else { false }
        client.send(Self.operation(request)) { result, watch in
            inputs.yield(.machine(.replied(tag, Self.reply(result, to: request))))
            // A watch set before and not fired has its handler: every read of this client that
            // sets a watch on the group's nodes is the machine's (the partition set's lock, which
            // the commands take on this client, watches only its own nodes). One more handler
            // would hand the machine the event twice.
            guard let watch, watch.isNew else { return }
            watch.onFire { event in
                if event.kind != .sessionEnded {
                    inputs.yield(.machine(.watchFired(path: path, children: children, deleted: event.kind == .nodeDeleted)))
                }
            }
        }
    }

    static func operation(_ request: NodeRequest) -> ZooKeeperClient.Operation {
        switch request {
        case .create(let path, let data, let mode):
            let mode: CreateMode = switch mode {
            case .persistent: .persistent
            case .ephemeral: .ephemeral
            case .ephemeralSequential: .ephemeralSequential
            }
            return .create(path, data: data, mode: mode)
        case .delete(let path, let version): return .delete(path, version: version)
        case .setData(let path, let data, let version): return .setData(path, data: data, version: version)
        case .getData(let path, let watch): return .getData(path, watch: watch)
        case .exists(let path, let watch): return .exists(path, watch: watch)
        case .getChildren(let path, let watch): return .getChildren(path, watch: watch)
        case .multi(let operations):
            return .multi(operations.map { operation in
                switch operation {
                case .check(let path, let version): .check(path, version: version)
                case .create(let path, let data): .create(path, data: data)
                case .set(let path, let data, let version): .setData(path, data: data, version: version)
                case .delete(let path, let version): .delete(path, version: version)
                }
            })
        case .close: preconditionFailure("a close is not a request")
        }
    }

    static func reply(_ result: Result<ZooKeeperClient.Answer, ZooKeeperError>, to request: NodeRequest) -> NodeReply {
        switch result {
        case .success(let answer):
            if case .exists = request, case .stat(let value) = answer { return NodeReply(.success(.exists(value.map(stat)))) }
            return NodeReply(.success(response(answer)))
        case .failure(let error):
            return NodeReply(.failure(failure(error.code)), failedOperation: error.failedOperation)
        }
    }

    static func response(_ answer: ZooKeeperClient.Answer) -> NodeResponse {
        switch answer {
        case .created(let path, let made): .created(path, made: made)
        case .stat(let value): value.map { .written(stat($0)) } ?? .exists(nil)  // an `exists` is told apart above
        case .data(let node): .data(node.data, stat(node.stat))
        case .children(let children): .children(children.names, stat(children.stat))
        case .multi(let results):
            .multi(results.map { result in
                switch result {
                case .created(let path): .created(path)
                case .setData(let value): .written(stat(value))
                case .deleted: .deleted
                case .checked: .checked
                }
            })
        case .done: .deleted
        }
    }

    static func stat(_ stat: Stat) -> NodeStat {
        NodeStat(
            czxid: stat.czxid, version: stat.version, cversion: stat.cversion, ephemeralOwner: stat.ephemeralOwner,
            mzxid: stat.mzxid)
    }

    static func failure(_ code: ZooKeeperError.Code) -> NodeFailure {
        switch code {
        case .noNode: .noNode
        case .nodeExists: .nodeExists
        case .badVersion: .badVersion
        case .notEmpty: .notEmpty
        case .noChildrenForEphemerals: .noChildrenForEphemerals
        case .sessionExpired, .closing, .invalidState: .sessionExpired
        case _ where code.isConnectionProblem: .connectionLoss
        default: .other(code: code.rawValue)
        }
    }

    // MARK: Composite actions

    func groupSetup() -> GroupSetup? {
        client.map { GroupSetup(client: $0, configuration: configuration, paths: paths, logger: logger) }
    }

    /// Makes the group's nodes if missing and checks its settings: a failure no retry can
    /// help (the group's strategy or protocol is not this member's) ends membership.
    func prepareGroup(_ tag: MemberMachine.RequestTag) {
        guard let setup = groupSetup(), let inputs else { return }
        spawn { _ in
            do {
                _ = try await setup.prepare(seeding: false)
                inputs.yield(.machine(.groupPrepared(tag, failure: nil)))
            } catch let error as StrategyMismatch {
                inputs.yield(.failed(error))
            } catch let error as UnconfiguredExecStrategy {
                inputs.yield(.failed(error))
            } catch let error as ProtocolMismatch {
                inputs.yield(.failed(error))
            } catch {
                inputs.yield(.machine(.groupPrepared(tag, failure: "\(error)")))
            }
        }
    }

    /// The group node made anew (the group's nodes deleted behind the members' back): the
    /// leader pins the settings again, as the group's first member did.
    func pinSettings(_ tag: MemberMachine.RequestTag) {
        guard let setup = groupSetup(), let inputs else { return }
        logger.notice("the group's settings are gone; pinning them again")
        spawn { _ in
            let strategy = try? await setup.pinSettings()
            inputs.yield(.machine(.settingsPinned(tag, strategy)))
        }
    }

    func runAllocator(_ strategy: Strategy, _ members: [String], _ partitions: [Partition]) {
        guard let inputs else { return }
        let timeout = configuration.execTimeout
        spawn { _ in
            do {
                let allocation = try await strategy.allocate(members: members, partitions: partitions, execTimeout: timeout)
                inputs.yield(.machine(.leader(.allocated(allocation))))
            } catch {
                inputs.yield(.machine(.allocatorFailed("\(error)")))
            }
        }
    }

    // MARK: The timer

    /// Keeps one timer, at the machine's next deadline. Its task sleeps until `wakesAt`: a
    /// deadline that moves later (a lease renewal, at every publication) leaves it asleep, to
    /// sleep on once it wakes; only one that moves earlier starts another task. (A task made
    /// and cancelled per publication cost a follower two thread wake-ups each.)
    func armTimer() {
        let deadline = machine.nextDeadline
        if var timer, deadline.map({ $0 >= timer.wakesAt }) ?? true {
            timer.deadline = deadline
            self.timer = timer
            return
        }
        timer?.task.cancel()
        timer = deadline.map { deadline in
            (deadline, deadline, Task { [weak self] in
                var wakesAt = deadline
                while (try? await Task.sleep(until: wakesAt)) != nil, let next = await self?.timerWoke(at: wakesAt) {
                    wakesAt = next
                }
            })
        }
    }

    /// The timer's task woke at `wakesAt`: the machine's deadline is handed over if due. Returns
    /// when to wake next, or `nil` for the task to end (its deadline gone, handed over, or the
    /// task replaced).
    func timerWoke(at wakesAt: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard var timer, timer.wakesAt == wakesAt, !timer.task.isCancelled else { return nil }
        guard let deadline = timer.deadline, deadline > .now else {
            self.timer = nil
            if timer.deadline != nil { handle(.timersDue) }
            return nil
        }
        timer.wakesAt = deadline
        self.timer = timer
        return deadline
    }

    // MARK: Reports

    func log(_ report: MemberMachine.Report) {
        switch report {
        case .joined:
            logger.info("joined", metadata: ["strategy": "\(strategy?.name ?? "")"])
        case .joinFailed(let reason, let delay):
            logger.warning("could not join the group; preparing it and trying again in \(delay): \(reason)")
        case .memberNodeLost:
            logger.warning("this member's node was deleted or taken while its session lives; joining again")
        case .memberRecordUnreadable(let path):
            logger.warning("the member node \(path) holds no record (written by someone else?): the member counts as acknowledging nothing until it writes its record again")
        case .memberNodeRewritten(let path, let version):
            logger.error("this member's node \(path) was rewritten by someone else (version \(version)); its record is restored. An acknowledgement forged there may have let the leader grant what this member still published: guard the group with ACLs (--zk-auth)")
        case .acknowledgementFailed(let epoch, let failure):
            logger.warning("could not acknowledge epoch \(epoch), trying again: \(failure)")
        case .readFailed(let what, let failure):
            logger.warning("reading \(what) failed (\(failure)); the leader prepares the group and reads everything again")
        case .elected:
            logger.info("leading the group")
        case .steppedDown:
            logger.warning("no longer leading: the leader lock's node is gone")
        case .deletingSurplusContender(let name):
            logger.warning("deleting a surplus leader-lock node of this session: \(name)")
        case .passedOver(let name):
            logger.error("the leader lock holds \(name), which is not ephemeral: no member's contender; passed over (delete it)")
        case .lingering(let session, let duration):
            logger.warning("session \(SessionID.format(session)) lost its member node and its leader-lock node apart (deleted by hand?): it counts as alive for \(duration)")
        case .holdingUnheld(let duration):
            logger.warning("a grant was found lost (the group's nodes deleted behind the members' back?): nothing nobody is known to hold is granted for \(duration), while the lease of a member with no trace left may run")
        case .retryingReads(let delay):
            logger.warning("the leader's writes keep failing; reading everything again in \(delay)")
        case .ignoredWeights(let strategy, let members):
            logger.warning(
                "the group's strategy \(strategy) ignores weights; these members have a weight other than 1: \(members.joined(separator: ", ")) (consistent and sticky honour weights)")
        case .allocatorFailed(let error, let delay):
            logger.error("the allocator failed; keeping the grants as they are, trying again in \(delay): \(error)")
        case .partitionSetMalformed(let path, let reason):
            logger.error("the partition set at \(path) does not parse (\(reason)); keeping the last good one; fix it or run `allocatorctl repair`")
        case .leaving:
            break  // said as the session is closed
        case .releaseTimedOut(let partitions):
            forcedReleases += 1
            MemberMetrics.forcedReleases.increment()
            logger.warning("the consumer did not release in time; released anyway", metadata: [
                "partitions": "\(partitions.sorted().map(\.description).joined(separator: ","))",
                "forced_releases": "\(forcedReleases)",
            ])
        case .canonicalTwins(let path, let names):
            logger.error("\(MemberMachine.canonicalTwinsProblem(path: path, names: names))")
        case .summaryUnreadable(let path):
            logger.error("the group's summary at \(path) does not parse; keeping the last good one until the leader writes it again")
        case .grantUnreadable(let path):
            logger.error("this member's grant at \(path) does not parse; deleting it, so that the leader writes it again")
        case .wrote(let write):
            logger.info("granted", metadata: [
                "epoch": "\(write.summary.epoch)", "changes": "\(write.grants.count)",
                "awaited": "\(write.summary.awaited.keys.sorted(by: utf8Precedes))",
            ])
        case .writeFailed(let write, let operation, let failure):
            logger.notice("the leader's write failed: epoch \(write.summary.epoch), operation \(operation.map(String.init) ?? "?"): \(failure.map { "\($0)" } ?? "an unexpected reply")")
        }
    }
}
