import Allocation
import Coordination
import Logging
import Recipes
import ZooKeeper

/// The group-wide commands of the socket (spec §9, §14), on one member's session: changes of
/// the partition set, and reports of the members and the grants.
public struct GroupCommands: Sendable {
    let client: ZooKeeperClient
    let paths: GroupPaths
    let seedPartitions: [Partition]
    /// The leader's last good partition set, when this member leads.
    let lastGoodPartitions: [Partition]?
    let logger: Logger

    private var partitionSet: SharedSet { GroupSetup.partitionSet(client, path: paths.partitions) }

    /// Adds partitions to the group's set; returns the number of partitions in the set after.
    public func add(_ partitions: [Partition]) async throws(GroupCommandError) -> Int {
        try await coded {
            try await partitionSet.add(Set(partitions.map(\.description))).count
        }
    }

    /// Removes partitions from the group's set; returns the number left.
    public func remove(_ partitions: [Partition]) async throws(GroupCommandError) -> Int {
        try await coded {
            try await partitionSet.remove(Set(partitions.map(\.description))).count
        }
    }

    /// The partition set as it is now.
    public func partitions() async throws(GroupCommandError) -> [Partition] {
        try await coded {
            let snapshot = try await client.retrying { try await partitionSet.read() }
            guard case .valid(let items) = snapshot.contents else { throw SharedSetError.malformed(path: paths.partitions, reason: "does not parse") }
            return items.compactMap { try? Partition(parsing: $0) }.sorted()
        }
    }

    /// Overwrites a partition set that does not parse with the last good one: the leader's,
    /// else every partition granted (when they are all of them), else the seed partitions
    /// (spec §9 `repair`); returns the number written.
    /// - Throws: `SharedSetError.notMalformed` if the set parses; `RepairError` if this member
    ///   cannot know the last good set (ask the leader's socket).
    public func repair() async throws(GroupCommandError) -> Int {
        try await coded {
            let set = partitionSet
            let snapshot = try await set.read()
            guard case .malformed = snapshot.contents else { throw SharedSetError.notMalformed(path: set.path) }
            let items: [Partition]
            if let lastGoodPartitions {
                items = lastGoodPartitions
            } else {
                let report = try await assignments()
                let granted = report.grants.values.reduce(into: Set<Partition>()) { $0.formUnion($1.held) }
                if let summary = report.summary, summary.partitionCount > 0 {
                    guard granted.count == summary.partitionCount else { throw RepairError(leader: summary.leader) }
                    items = granted.sorted()
                } else {
                    items = seedPartitions
                }
            }
            try await set.repair(with: Set(items.map(\.description)), malformedVersion: snapshot.version)
            logger.notice("repaired the partition set", metadata: ["partitions": "\(items.count)"])
            return items.count
        }
    }

    /// Sets the group's strategy, writing the group node at the version read (`StrategyChange`
    /// tells what a running group does and what is refused).
    /// - Throws: `StrategyChangeError`, or the session's end.
    public func setStrategy(_ strategy: Strategy, force: Bool) async throws(GroupCommandError) -> StrategyChange {
        try await coded {
            let path = paths.group
            let node = try await client.retrying { try await client.getData(path) }
            let settings = try GroupSettings(data: node.data, path: path)
            let group = String(path.split(separator: "/").last ?? "")
            let reports = force ? [] : try await self.members()
            if let refusal = StrategyChange.refusal(to: strategy, settings: settings, group: group, members: reports, force: force) {
                throw refusal
            }
            let previous = settings.strategy ?? strategy
            guard previous != strategy else { return StrategyChange(previous: previous, strategy: strategy, written: false) }
            let wanted = GroupSettings(strategy: strategy).encoded
            do {
                _ = try await client.retrying { try await client.setData(path, wanted, version: node.stat.version) }
            } catch let error as ZooKeeperError where error.code == .badVersion {
                // A retry after a lost reply finds the version moved on by its own first write.
                guard try await client.retrying({ try await client.getData(path) }).data == wanted else {
                    throw StrategyChangeError.changedMeanwhile(path: path)
                }
            }
            logger.notice("set the group's strategy", metadata: ["strategy": "\(strategy.name)", "previous": "\(previous.name)"])
            return StrategyChange(previous: previous, strategy: strategy, written: true)
        }
    }

    /// The grants and the summary as they stand.
    public func assignments() async throws(GroupCommandError) -> (summary: GroupSummary?, grants: [String: Grant]) {
        try await coded {
            let nodes = try await client.retrying { try await GrantReader(client: client, paths: paths).read() }
            return (nodes.summary, nodes.grants.compactMapValues(\.grant))
        }
    }

    /// Every member node with its record (`nil` for kiel members and garbage), read now, and
    /// whether its session leads (owns the lowest contender node).
    public func members() async throws(GroupCommandError) -> [MemberReport] {
        try await coded {
            let names = try await client.retrying { try await client.children(paths.members) }.names
            let contenders = ContenderName.ordered(try await client.retrying { try await client.children(paths.leaderLock) }.names)
            let leaderSession = contenders.first.flatMap(ContenderName.session)
            var report: [MemberReport] = []
            for name in names.sorted(by: utf8Precedes) {
                guard let node = try? await client.retrying({ try await client.getData(paths.member(name)) }) else { continue }
                report.append(MemberReport(
                    member: name, record: MemberRecord(decoding: node.data),
                    leads: node.stat.ephemeralOwner == leaderSession && leaderSession != nil))
            }
            return report
        }
    }
}

/// One member in `members` (spec §9, §14).
public struct MemberReport: Sendable, Equatable {
    public var member: String
    /// allocatord's record; `nil` for a kiel member (or data that is not allocatord's).
    public var record: MemberRecord?
    public var leads: Bool
}

/// `repair` on a follower that cannot know the last good partition set.
public struct RepairError: Error, Sendable, CustomStringConvertible {
    public let leader: String

    public var description: String {
        "this member cannot know the last good partition set (some partitions are not granted to allocatord members); "
            + "run repair on the leader, \(leader)"
    }
}
