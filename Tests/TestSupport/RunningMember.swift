import Allocation
import Allocator
import Foundation
import Logging
import ZooKeeper

/// A `Member` running in the test process, with every document it published.
public final class RunningMember: Sendable {
    public let member: Member
    public let run: Task<Void, any Error>
    public let history = Shared<[MemberDocument]>([])
    /// When each document was seen, on the monotonic clock.
    public let timeline = Shared<[(at: ContinuousClock.Instant, document: MemberDocument)]>([])
    private let collector: Task<Void, Never>

    public var name: String { member.configuration.member }
    public var latest: MemberDocument? { history.value.last }

    public init(
        _ server: TestZooKeeper, group: String, name: String, root: String = "/kiel", chroot: String = "",
        through proxy: TCPProxy? = nil, weight: Int = 1,
        strategy: Strategy? = .consistent, seed: String? = nil, sessionTimeout: Duration = .seconds(4),
        credential: String? = nil,
        rebalanceDelay: (Duration, Duration) = (.zero, .zero), execTimeout: Duration = .seconds(5)
    ) throws {
        let configuration = MemberConfiguration(
            zooKeeper: .init(
                connectString: try ConnectString(parsing: (proxy?.address ?? server.connectString) + chroot),
                sessionTimeout: sessionTimeout, digestCredential: credential),
            layout: try GroupLayout(root: root, group: group), member: name, weight: weight, strategy: strategy,
            seedPartitions: try seed.map { try PartitionSpec(parsing: $0).partitions } ?? [],
            rebalanceDelayMin: rebalanceDelay.0, rebalanceDelayMax: rebalanceDelay.1,
            execTimeout: execTimeout, host: "test-host", pid: 42)
        var logger = Logger(label: "member")
        logger.logLevel = .warning
        let member = Member(configuration: configuration, logger: logger)
        self.member = member
        let history = history
        let timeline = timeline
        collector = Task {
            for await document in member.documents {
                timeline.update { $0.append((.now, document)) }
                history.update { $0.append(document) }
            }
        }
        run = Task { try await member.run() }
    }

    /// Waits until the latest document satisfies `condition`; returns it.
    @discardableResult
    public func waitFor(
        timeout: Duration = .seconds(30), _ description: String = "",
        _ condition: @escaping @Sendable (MemberDocument) -> Bool
    ) async throws -> MemberDocument {
        let history = history
        let met = await eventually(timeout: timeout) { history.value.last.map(condition) ?? false }
        guard met, let document = latest else {
            throw Timeout(what: "\(name): \(description); latest: \(latest.map(\.json) ?? "none")")
        }
        return document
    }

    /// Waits for the member's run to end by itself (an error, for the tests that use this),
    /// rethrowing what it threw. Should it not end within `timeout`, the member is stopped, so
    /// that the test fails instead of hanging: a test's time limit does not end an awaited
    /// unstructured task.
    public func runEnds(within timeout: Duration = .seconds(45)) async throws {
        let member = member
        let backstop = Task {
            try await Task.sleep(for: timeout)
            await member.stop()
        }
        defer { backstop.cancel() }
        try await run.value
    }

    public func stop() async {
        await member.stop()
        _ = try? await run.value
        await collector.value
    }
}

public struct Timeout: Error, CustomStringConvertible {
    public let what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting for \(what)" }
}

/// Waits until every member is active on one generation with the given members and (when
/// `partitionCount` is given) their shares cover the partitions exactly once, every handover
/// done (unless `coveredByThese` is false: other members, such as kiel peers, hold some);
/// returns the documents.
@discardableResult
public func waitForAgreement(
    _ members: [RunningMember], memberNames: [String]? = nil, partitionCount: Int? = nil,
    coveredByThese: Bool = true, timeout: Duration = .seconds(30)
) async throws -> [MemberDocument] {
    let expectedMembers = (memberNames ?? members.map(\.name)).sorted(by: utf8Precedes)
    let agreed = await eventually(timeout: timeout) {
        let latest = members.map(\.latest)
        guard latest.allSatisfy({ $0?.state == .active && $0?.members == expectedMembers }) else { return false }
        if let partitionCount, latest.contains(where: { $0?.partitionCount != partitionCount }) { return false }
        guard Set(latest.map { $0?.generation }).count == 1 else { return false }
        // Settled: every partition handed over, so the shares cover the set exactly once.
        guard let partitionCount, coveredByThese else { return true }
        let held = latest.compactMap { $0 }.flatMap(partitions(of:))
        return held.count == partitionCount && Set(held).count == partitionCount
    }
    guard agreed else {
        throw Timeout(what: "agreement of \(expectedMembers): " + members.map { $0.latest?.json ?? "none" }.joined(separator: "\n"))
    }
    return members.compactMap(\.latest)
}

/// The partitions of a member's published share.
public func partitions(of document: MemberDocument) -> [Partition] {
    document.allocation.flatMap { topic, ids in ids.map { Partition(topic: topic, id: $0) } }.sorted()
}

/// A unique group name for a test.
public func uniqueGroup(_ name: String = #function) -> String {
    String(uniquePath(name).dropFirst())
}
