import Coordination
import Logging
import ZooKeeper

/// The election's I/O: what `ElectionMachine` asks of the leader lock, its results back
/// through the session's inputs.
extension Member {
    func elect(_ event: ElectionMachine.Event) {
        for action in election.handle(event) {
            switch action {
            case .create(let prefix): createContender(prefix)
            case .list: listLock()
            case .delete(let name):
                logger.warning("deleting a surplus leader-lock node of this session: \(name)")
                let path = paths.contender(name)
                run { client in
                    try? await client.retrying { try await client.delete(path) }
                    return nil
                }
            case .watch(let name): watchPredecessor(name)
            case .elected:
                logger.info("leading the group")
                lead(.elected)
            case .retry(let delay):
                let lock = paths.leaderLock
                run { client in
                    guard (try? await Task.sleep(for: delay)) != nil else { return nil }
                    try? await client.retrying { try await client.ensurePath(lock) }
                    return .retryDue
                }
            case .passOver(let name):
                lastError = "the leader lock holds \(name), which is not ephemeral (made by hand?): passed over; delete it"
                logger.error("the leader lock holds \(name), which is not ephemeral: no member's contender; passed over (delete it)")
            }
        }
    }

    /// Runs `body` as a task of the session; the event it returns goes to the election.
    private func run(_ body: @escaping @Sendable (ZooKeeperClient) async -> ElectionMachine.Event?) {
        guard let client else { return }
        spawn { member in
            if let event = await body(client) { await member.send(.election(event)) }
        }
    }

    /// One create, never repeated here: when its reply is lost the machine looks for its node.
    private func createContender(_ prefix: String) {
        let path = paths.contender(prefix)
        let name = Array(configuration.member.utf8)
        let logger = self.logger
        run { client in
            do {
                let created = try await client.create(path, data: name, mode: .ephemeralSequential)
                return .created(name: String(created.split(separator: "/").last!))
            } catch let error as ZooKeeperError where error.code.isConnectionProblem {
                // Applied or not: the machine lists the lock once connected again.
                guard (try? await client.waitUntilConnected()) != nil else { return nil }
                logger.notice("the reply to this member's leader-lock create was lost; looking for its node")
                return .createOutcomeUnknown
            } catch {
                logger.debug("contending failed: \(error)")
                return .createFailed
            }
        }
    }

    private func listLock() {
        let lock = paths.leaderLock
        run { client in
            do {
                return .listed(try await client.retrying { try await client.children(lock) }.names)
            } catch let error as ZooKeeperError where error.code == .noNode {
                return .listFailed
            } catch {
                return nil  // the session ended
            }
        }
    }

    private func watchPredecessor(_ name: String) {
        let path = paths.contender(name)
        guard let client else { return }
        spawn { member in
            guard let (stat, watch) = try? await client.retrying({ try await client.existsWatching(path) }) else { return }
            await member.send(.election(.predecessorFound(owner: stat?.ephemeralOwner)))
            guard stat != nil else { return }
            if let event = try? await watch.fired(), event.kind != .sessionEnded {
                await member.send(.election(.predecessorChanged))
            }
        }
    }
}
