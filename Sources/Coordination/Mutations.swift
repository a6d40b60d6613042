/// Switches that each disable one mechanism that safety or liveness rests on, for the
/// simulation alone: with any one of them on, some seeded schedule must fail
/// (`MutationTests`), which shows that the simulation can see that mechanism fail. The daemon
/// never sets one; every machine takes `[]` unless told otherwise.
public struct Mutations: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int

    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// The planner ends a release without its member's acknowledgement (I3): what a member
    /// loses goes to another at the next plan, published or not.
    public static let grantWithoutAcknowledgement = Mutations(rawValue: 1 << 0)
    /// The leader's `multi` checks the group node instead of its own contender node, and
    /// writes the summary at any version: a leader whose contender node is gone goes on
    /// writing beside its successor. (Either fence alone stops it: every write sets the
    /// summary at the version its leader read, so a deposed leader's next write fails there.)
    public static let writeWithoutFence = Mutations(rawValue: 1 << 1)
    /// A contender create whose reply was lost is made again with a new prefix, and nodes of
    /// the member's own session are waited on like anyone's (the election before issue 20).
    public static let createAgainWithoutAdopting = Mutations(rawValue: 1 << 2)
    /// The lease counts from each publication instead of from the last time the server
    /// answered: a member cut off goes on publishing its share under a lease that never ends.
    public static let leaseWithoutServer = Mutations(rawValue: 1 << 3)

    /// Every retry goes at once, without waiting (the leader's reads after failed writes, a
    /// join, an acknowledgement, a contender create, the allocator): a cause that lasts (a
    /// server refusing writes) makes a storm of requests.
    public static let retryWithoutBackoff = Mutations(rawValue: 1 << 4)

    /// A follower takes a grant change from the summary whatever grant it holds: not only the
    /// one of the epoch and node version the change starts from.
    public static let changeFromAnyGrant = Mutations(rawValue: 1 << 5)

    /// Every mutation, one at a time.
    public static let each: [Mutations] = [
        .grantWithoutAcknowledgement, .writeWithoutFence, .createAgainWithoutAdopting, .leaseWithoutServer,
        .retryWithoutBackoff, .changeFromAnyGrant,
    ]

    public var description: String {
        let names: [(Mutations, String)] = [
            (.grantWithoutAcknowledgement, "grant-without-acknowledgement"), (.writeWithoutFence, "write-without-fence"),
            (.createAgainWithoutAdopting, "create-again-without-adopting"), (.leaseWithoutServer, "lease-without-server"),
            (.retryWithoutBackoff, "retry-without-backoff"), (.changeFromAnyGrant, "change-from-any-grant"),
        ]
        let on = names.filter { contains($0.0) }.map(\.1)
        return on.isEmpty ? "none" : on.joined(separator: "+")
    }
}
