import Allocation
import Coordination
import Logging
import Recipes
import ZooKeeper

/// What a member does at the start of every session before it joins (spec §3, §5, §6, §14):
/// creates the group's nodes if missing, pins or checks the group's settings (strategy and
/// protocol), and seeds the partition set (once per process).
struct GroupSetup: Sendable {
    let client: ZooKeeperClient
    let configuration: MemberConfiguration
    let paths: GroupPaths
    let logger: Logger

    /// Prepares the group; returns its strategy. Seeds the partition set when `seeding`, or
    /// when its node is new (`seedIfFresh`).
    /// - Throws: `StrategyMismatch`, `UnconfiguredExecStrategy`, `ProtocolMismatch`, settings
    ///   that do not parse, or the session's end.
    func prepare(seeding: Bool) async throws -> Strategy {
        let partitionSet = try await client.retrying { () async throws -> Stat? in
            // A start that seeds reads the partition set anyway and needs no stat of it: one
            // transaction of checks tells that the group's nodes are all there, as they are at
            // nearly every start (one request where three `exists` were).
            if seeding, await allNodesExist() { return nil }
            // ROOT and ROOT/groups are shared with other groups, which may have another
            // credential or none: made with the open ACL. The group's own nodes get this
            // member's (spec §13). A group's `members` node implies both: they are looked at
            // only without it (one request a start fewer).
            if try await client.exists(paths.members) == nil {
                try await client.ensurePath(ZNodePath.join(configuration.layout.root, "groups"), acl: ACL.openUnsafe)
                try await client.ensurePath(paths.members)
            }
            let partitionSet = try await client.ensurePath(paths.partitions)
            try await client.ensurePath(paths.leaderLock)
            return partitionSet
        }
        let strategy = try await pinSettings()
        if seeding || partitionSet.map(Self.isFresh) ?? true {
            if !seeding { logger.notice("the partition set was made anew; seeding it") }
            await seed()
        }
        return strategy
    }

    /// Whether `members`, `partitions` and the leader lock all exist: one `multi` of checks
    /// (any failure, a missing node or a lost connection, says no).
    private func allNodesExist() async -> Bool {
        let checks = [paths.members, paths.partitions, paths.leaderLock].map { MultiOperation.check($0, version: -1) }
        return (try? await client.multi(checks)) != nil
    }

    /// Seeds the partition set if its node was made anew and never written (the group was
    /// deleted behind the members' back: it starts again as a new group would).
    func seedIfFresh() async {
        guard let stat = try? await client.retrying({ try await client.exists(paths.partitions) }), Self.isFresh(stat)
        else { return }
        logger.notice("the partition set was made anew; seeding it")
        await seed()
    }

    /// Made by `ensurePath` (empty) or by a reader of the set (`[]`), and not written since.
    static func isFresh(_ partitionSet: Stat) -> Bool {
        partitionSet.version == 0 && partitionSet.dataLength <= 2
    }

    /// The group's settings: pinned by the first member (the configured strategy or the
    /// default, protocol 2), checked by the others. A group of protocol 1 (settings without a
    /// protocol) is taken over only while it has no members.
    func pinSettings() async throws -> Strategy {
        let path = paths.group
        let group = configuration.layout.group
        while true {
            let node = try await client.retrying { try await client.getData(path) }
            let settings = try GroupSettings(data: node.data, path: path)
            if let pinned = settings.strategy, settings.protocolVersion == GroupSettings.protocolVersion {
                switch (configuration.strategy, pinned) {
                case (let configured?, _) where configured != pinned:
                    throw StrategyMismatch(group: group, configured: configured.name, pinned: pinned.name)
                case (nil, .exec(let program)):
                    throw UnconfiguredExecStrategy(group: group, path: program)
                default:
                    return pinned
                }
            }
            if let pinned = settings.protocolVersion, pinned != GroupSettings.protocolVersion {
                throw ProtocolMismatch(group: group, pinned: pinned)
            }
            if settings.strategy != nil, settings.protocolVersion == nil {
                // Protocol 1's settings: only an empty group may move on.
                let members = try await client.retrying { try await client.children(paths.members) }.names
                guard members.isEmpty else { throw ProtocolMismatch(group: group, pinned: 1) }
            }
            let chosen = configuration.strategy ?? settings.strategy ?? Strategy.default
            if case .exec(let program) = chosen, configuration.strategy != chosen {
                throw UnconfiguredExecStrategy(group: group, path: program)
            }
            do {
                try await client.retrying {
                    try await client.setData(path, GroupSettings(strategy: chosen).encoded, version: node.stat.version)
                }
                logger.info("pinned the group's settings", metadata: ["strategy": "\(chosen.name)", "protocol": "2"])
                return chosen
            } catch let error as ZooKeeperError where error.code == .badVersion {
                continue  // Someone else pinned it meanwhile (or our write went through): read again.
            }
        }
    }

    /// Adds the seed partitions to the set (a union).
    private func seed() async {
        guard !configuration.seedPartitions.isEmpty else { return }
        do {
            try await Self.partitionSet(client, path: paths.partitions).add(Set(configuration.seedPartitions.map(\.description)))
        } catch let error as SharedSetError {
            // Malformed or full: report, never overwrite; the member runs on what is there.
            logger.error("could not seed the partition set: \(error)")
        } catch {
            logger.warning("could not seed the partition set: \(error)")
        }
    }

    /// The partition set, its items checked as partitions.
    static func partitionSet(_ client: ZooKeeperClient, path: String) -> SharedSet {
        SharedSet(client: client, path: path) { item in
            do throws(PartitionError) {
                _ = try Partition(parsing: item)
                return nil
            } catch {
                return error.reason
            }
        }
    }
}

/// A group pinned to another protocol than this member's (spec §14).
public struct ProtocolMismatch: Error, Sendable, Equatable, CustomStringConvertible {
    public let group: String
    public let pinned: Int

    public var description: String {
        "group \"\(group)\" runs protocol \(pinned) (members of an older allocatord); this member speaks protocol "
            + "\(GroupSettings.protocolVersion): stop the group's members, or upgrade them all, then start it again"
    }
}

/// Reads the `assignments` node and every grant node under it (the leader, on taking over).
struct GrantReader {
    let client: ZooKeeperClient
    let paths: GroupPaths

    func read() async throws -> GrantNodes {
        var nodes = GrantNodes()
        do {
            let node = try await client.getData(paths.assignments)
            nodes.summary = try? GroupSummary(decoding: node.data)
            nodes.summaryVersion = node.stat.version
        } catch let error as ZooKeeperError where error.code == .noNode {
            return nodes
        }
        let names = try await client.children(paths.assignments).names
        let client = self.client, paths = self.paths
        nodes.grants = try await withThrowingTaskGroup(of: (String, GrantNodes.Node?).self) { group in
            for name in names {
                group.addTask {
                    do {
                        let node = try await client.getData(paths.grant(name))
                        return (name, GrantNodes.Node(grant: try? Grant(decoding: node.data), version: node.stat.version))
                    } catch let error as ZooKeeperError where error.code == .noNode {
                        return (name, nil)
                    }
                }
            }
            var grants: [String: GrantNodes.Node] = [:]
            for try await (name, node) in group { grants[name] = node }
            return grants
        }
        return nodes
    }
}
