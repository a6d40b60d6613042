import Allocation
import Allocator
import ControlProtocol
import ZooKeeper

// The socket's replies (spec §9) as the daemon makes them from what the member reports; the
// types and their JSON are `ControlProtocol`'s, shared with allocatorctl.

extension StatusReply {
    /// What `status` answers: `status`, the number of `watch` streams, and the state file's
    /// error (joined to the member's in `last_error`).
    init(status: MemberStatus, watchers: Int, stateFileError: String?) {
        let errors = [status.lastError, stateFileError].compactMap { $0 }
        self.init(
            connection: Self.name(of: status.connection), sessionID: status.sessionID.map(SessionID.format),
            sessionTimeoutMs: status.sessionTimeout?.milliseconds, member: status.member, state: status.state.rawValue,
            generation: status.generation, strategy: status.strategy,
            lastRebalanceAt: status.lastRebalanceAt.map(MemberDocument.timestamp),
            lastRebalanceMs: status.lastRebalanceDuration.map { Double($0.milliseconds) }, members: status.memberCount,
            partitions: status.partitionCount, share: status.shareCount, partitionsZnodeBytes: status.partitionSetSize,
            partitionsZnodeLimit: status.partitionSetLimit, partitionsMalformed: status.partitionSetMalformed,
            uptimeMs: status.uptime.milliseconds, watchers: watchers, version: ProductVersion.current,
            role: status.role.rawValue, leader: status.leader, awaited: status.awaited,
            awaitedMs: status.awaitedFor.mapValues(\.milliseconds), revoking: status.revokingCount,
            forcedReleases: status.forcedReleases, lastError: errors.isEmpty ? nil : errors.joined(separator: "; "))
    }

    private static func name(of state: SessionState) -> String {
        switch state {
        case .connecting: "connecting"
        case .connected: "connected"
        case .suspended: "suspended"
        case .expired: "expired"
        case .authFailed: "auth_failed"
        case .closed: "closed"
        }
    }
}

extension MembersReply.Entry {
    /// A member as `members` lists it: its record if it is allocatord's, its role, and whether
    /// the leader awaits it.
    init(report: MemberReport, awaited: Bool) {
        self.init(
            member: report.member, role: report.leads ? "leader" : "follower", awaited: awaited,
            record: report.record.map { record in
                Record(
                    host: record.host, pid: record.pid.map { Int($0) }, allocatord: record.release, strategy: record.strategy,
                    ackedEpoch: record.ackedEpoch, weight: record.weight)
            })
    }
}
