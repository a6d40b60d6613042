import Allocation
import Coordination

/// A change of the group's strategy (`allocatorctl set-strategy NAME`, spec §6, §14): the
/// group node's settings, rewritten at the version read, so that a concurrent change (another
/// `set-strategy`, a member pinning a new group) is never overwritten.
///
/// What happens to a running group: the leader watches the group node and plans with the new
/// strategy at once; the planner moves what the new target moves with the usual revoke,
/// acknowledge, grant (I1, I3 hold throughout), and the next summary, so every member's
/// document, names the new strategy. Followers never compute, so no two members ever act on
/// different strategies. From `consistent` to `sticky` nothing moves (sticky keeps a balanced
/// allocation as it is); the other way, what `consistent` places differently moves.
///
/// Refused: an `exec:` program (nothing named in ZooKeeper is run; configure every member with
/// `--strategy exec:PATH` instead), a group that is not pinned to protocol 2, and, unless
/// forced, a group with live members configured with another strategy: each would refuse to
/// join at its next session (`StrategyMismatch`, exit 78), so change their configuration first.
public struct StrategyChange: Sendable, Equatable {
    /// The strategy the group had.
    public var previous: Strategy
    /// The strategy it has now.
    public var strategy: Strategy
    /// Whether the node was written (`false` when it already named `strategy`).
    public var written: Bool

    /// Why a change is refused before anything is written, from the settings read and the
    /// members' records; `nil` if it may go ahead.
    static func refusal(
        to strategy: Strategy, settings: GroupSettings, group: String, members: [MemberReport], force: Bool
    ) -> StrategyChangeError? {
        if case .exec = strategy { return .program(strategy.name) }
        guard settings.protocolVersion == GroupSettings.protocolVersion, settings.strategy != nil else {
            return .notPinned(group: group)
        }
        guard !force else { return nil }
        let bound = members.compactMap { report in
            report.record?.strategy.flatMap { $0 == strategy.name ? nil : (report.member, $0) }
        }
        return bound.isEmpty ? nil : .membersConfigured(strategy: strategy.name, members: bound.map { "\($0.0) (\($0.1))" })
    }
}

/// Why `set-strategy` changed nothing.
public enum StrategyChangeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `exec:PATH` cannot be set through the group node.
    case program(String)
    /// The group node names no strategy of protocol 2 (no allocatord member has joined yet).
    case notPinned(group: String)
    /// These live members (with their configured strategy) would refuse to join again.
    case membersConfigured(strategy: String, members: [String])
    /// The group node changed between the read and the write.
    case changedMeanwhile(path: String)

    public var description: String {
        switch self {
        case .program(let name):
            "\(name) is a program, which no member runs because ZooKeeper names it; configure every member with --strategy \(name) instead"
        case .notPinned(let group):
            "group \"\(group)\" has no strategy of protocol 2 yet; start a member first"
        case .membersConfigured(let strategy, let members):
            "these members are configured with another strategy and would refuse to join again under \(strategy): "
                + members.joined(separator: ", ") + "; change their configuration first, or force"
        case .changedMeanwhile(let path):
            "\(path) changed while it was being rewritten; read it and try again"
        }
    }
}
