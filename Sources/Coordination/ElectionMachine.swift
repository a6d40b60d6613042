/// One session's part in the leader election (spec §14, Roles), as a state machine: events in,
/// actions out, no I/O.
///
/// The story: once the session has started, the member creates its contender node in the
/// leader lock (ephemeral sequential, named `ContenderName.prefix` + sequence), lists the lock,
/// and leads if its node is the lowest; otherwise it watches the contender just ahead of it and
/// lists again when that one changes or goes.
///
/// Guarantees:
/// - A create whose reply was lost with the connection may have been applied. The machine then
///   lists the lock and adopts the node of that create's prefix (each create has a prefix of
///   its own) instead of creating a second one; it creates again only when no such node exists.
/// - A session never keeps two contender nodes: every other node of its session that a listing
///   shows is deleted, and none is ever waited on.
/// - A predecessor that is not ephemeral (made by hand: it can never vanish with a session) is
///   nobody's contender: it is reported (`.passOver`) and left out, as every member leaves it
///   out, so the lock still has one lowest contender.
public struct ElectionMachine: Sendable {
    /// Where this session stands.
    public enum State: Sendable, Equatable {
        /// No session yet, or it ended.
        case idle
        /// A create with `prefix` is under way.
        case creating(prefix: String)
        /// The create with `prefix` lost its reply: the lock is being listed to see whether it
        /// was applied.
        case recovering(prefix: String)
        /// The lock is being listed to see where `contender` stands.
        case checking(contender: String)
        /// Looking at, then watching, `predecessor`, the contender just ahead of `contender`.
        case waiting(contender: String, predecessor: String)
        /// `contender` is the lowest: this member leads.
        case leading(contender: String)
        /// Waiting to contend again with `prefix` (the lock's node was gone, a create failed).
        case retrying(prefix: String)
    }

    /// What happened.
    public enum Event: Sendable, Equatable {
        /// The session started: contend.
        case sessionStarted(session: Int64)
        /// The create made `name`.
        case created(name: String)
        /// The create's reply was lost with the connection (reported once reconnected): whether
        /// the server applied it is unknown.
        case createOutcomeUnknown
        /// The create failed (the lock's node is gone, an ACL refuses it).
        case createFailed
        /// The lock's children.
        case listed([String])
        /// Listing the lock failed for good (its node is gone).
        case listFailed
        /// The predecessor's owner session: `0` for a node that is not ephemeral, `nil` when
        /// it is gone.
        case predecessorFound(owner: Int64?)
        /// The watch on the predecessor fired.
        case predecessorChanged
        /// The leader's fenced write found this session's contender node gone.
        case contenderGone
        /// The wait asked for by `.retry` is over.
        case retryDue
        case sessionEnded
    }

    /// What the machine asks its driver to do.
    public enum Action: Sendable, Equatable {
        /// Create the ephemeral sequential node `prefix` under the lock; report `.created`,
        /// `.createOutcomeUnknown` or `.createFailed`. Never retried by the driver.
        case create(prefix: String)
        /// List the lock (retried across reconnections); report `.listed` or `.listFailed`.
        case list
        /// Delete this session's surplus node `name`; nothing is reported.
        case delete(String)
        /// Look at `name` and watch it; report `.predecessorFound`, then `.predecessorChanged`
        /// when the watch fires.
        case watch(String)
        /// This member now leads.
        case elected
        /// Report `.retryDue` after this long, the group's nodes (the lock's among them) made
        /// again first if they are gone.
        case retry(after: Duration)
        /// `name` is not ephemeral: it is nobody's contender and is left out (log it).
        case passOver(String)
    }

    /// How long to wait before contending again after a failure.
    public static let retryDelay = Duration.seconds(1)

    public private(set) var state = State.idle
    private var session: Int64 = 0
    private var nonce: UInt64 = 0
    /// Nodes of the lock that are not ephemeral: left out of the order.
    public private(set) var passedOver: Set<String> = []
    private let mutations: Mutations

    /// How long to wait before contending again (none with `retryWithoutBackoff`).
    private var retryDelay: Duration { mutations.contains(.retryWithoutBackoff) ? .zero : Self.retryDelay }

    public init(mutations: Mutations = []) {
        self.mutations = mutations
    }

    /// This session's contender node, once known.
    public var contender: String? {
        switch state {
        case .checking(let contender), .waiting(let contender, _), .leading(let contender): contender
        case .idle, .creating, .recovering, .retrying: nil
        }
    }

    public var isLeading: Bool {
        if case .leading = state { true } else { false }
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch (event, state) {
        case (.sessionStarted(let session), _):
            self = ElectionMachine(mutations: mutations)
            self.session = session
            return contend()

        case (.sessionEnded, _):
            state = .idle
            return []

        case (.created(let name), .creating):
            state = .checking(contender: name)
            return [.list]

        case (.createOutcomeUnknown, .creating(let prefix)):
            guard !mutations.contains(.createAgainWithoutAdopting) else { return contend() }
            state = .recovering(prefix: prefix)
            return [.list]

        case (.createFailed, .creating(let prefix)):
            state = .retrying(prefix: prefix)
            return [.retry(after: retryDelay)]

        case (.retryDue, .retrying(let prefix)):
            state = .creating(prefix: prefix)
            return [.create(prefix: prefix)]

        case (.listed(let names), .recovering(let prefix)):
            // The node of the create that lost its reply, if the server applied it.
            guard let adopted = ContenderName.ordered(names.filter { $0.hasPrefix(prefix) }).first else {
                state = .creating(prefix: prefix)
                return [.create(prefix: prefix)]
            }
            state = .checking(contender: adopted)
            return place(adopted, among: names)

        case (.listed(let names), .checking(let contender)):
            guard names.contains(contender) else {
                // Deleted behind this member's back (or by its own step-down): contend again.
                return contend()
            }
            return place(contender, among: names)

        case (.listFailed, .recovering(let prefix)):
            // The lock's node is gone, and the node of that create with it.
            state = .retrying(prefix: prefix)
            return [.retry(after: retryDelay)]

        case (.listFailed, .checking):
            state = .retrying(prefix: nextPrefix())
            return [.retry(after: retryDelay)]

        case (.predecessorFound(let owner), .waiting(let contender, let predecessor)):
            switch owner {
            case nil:
                state = .checking(contender: contender)
                return [.list]
            case 0:
                passedOver.insert(predecessor)
                state = .checking(contender: contender)
                return [.passOver(predecessor), .list]
            case session where !mutations.contains(.createAgainWithoutAdopting):
                // A node of this session under a name that hides it: surplus too.
                state = .checking(contender: contender)
                return [.delete(predecessor), .list]
            default:
                return []
            }

        case (.predecessorChanged, .waiting(let contender, _)):
            state = .checking(contender: contender)
            return [.list]

        case (.contenderGone, .leading), (.contenderGone, .waiting), (.contenderGone, .checking):
            return contend()

        default:
            // A result that no longer matters (the state moved on since it was asked for).
            return []
        }
    }

    /// Where `contender` stands among the lock's `names`: surplus nodes of this session go, and
    /// it leads or watches the contender just ahead of it.
    private mutating func place(_ contender: String, among names: [String]) -> [Action] {
        let surplus = mutations.contains(.createAgainWithoutAdopting)
            ? [] : names.filter { $0 != contender && ContenderName.session($0) == session }
        let order = ContenderName.ordered(names.filter { !surplus.contains($0) && !passedOver.contains($0) })
        let actions = surplus.sorted().map(Action.delete)
        let index = order.firstIndex(of: contender)!
        guard index > 0 else {
            state = .leading(contender: contender)
            return actions + [.elected]
        }
        state = .waiting(contender: contender, predecessor: order[index - 1])
        return actions + [.watch(order[index - 1])]
    }

    private mutating func contend() -> [Action] {
        let prefix = nextPrefix()
        state = .creating(prefix: prefix)
        return [.create(prefix: prefix)]
    }

    private mutating func nextPrefix() -> String {
        nonce += 1
        return ContenderName.prefix(session: session, nonce: nonce)
    }
}
