import Allocation

/// How one write changed a member's grant, carried in the summary the same write sets
/// (`GroupSummary.changes`; docs/allocator.md, "Grant changes in the summary"): a follower that holds the grant it changes, at the very version of its
/// node, takes the new grant from it instead of reading the node. What the node holds after the
/// write is the grant the change gives: both come from the leader's one fenced `multi`, which
/// set the node at `fromVersion`, so a node written by anyone else since the follower read it
/// has another version and the follower reads it.
public struct GrantChange: Sendable, Equatable {
    /// The grant's epoch before the write.
    public var fromEpoch: Int64
    /// The grant node's data version before the write; after it, one more.
    public var fromVersion: Int32
    /// What the write added to `partitions`.
    public var added: Set<Partition> { addedShare.partitions }
    /// What the write took from `partitions`.
    public var removed: Set<Partition> { removedShare.partitions }
    /// `releasing` after the write, whole (it is what moves, so it is small).
    public var releasing: Set<Partition> { releasingShare.partitions }
    /// `unknownHoldings` after the write.
    public var unknownHoldings: Bool

    private var addedShare: PartitionShare
    private var removedShare: PartitionShare
    private var releasingShare: PartitionShare

    public init(
        fromEpoch: Int64, fromVersion: Int32, added: Set<Partition> = [], removed: Set<Partition> = [],
        releasing: Set<Partition> = [], unknownHoldings: Bool = false
    ) {
        self.fromEpoch = fromEpoch
        self.fromVersion = fromVersion
        addedShare = .named(added)
        removedShare = .named(removed)
        releasingShare = .named(releasing)
        self.unknownHoldings = unknownHoldings
    }

    /// The change from `old`, a grant node at `version`, to `new`, both over `table` (a
    /// leader's write); `nil` when the session changes (a grant for another session is read
    /// whole).
    public init?(from old: IndexedGrant, version: Int32, to new: IndexedGrant, table: PartitionTable) {
        guard old.session == new.session else { return nil }
        fromEpoch = old.epoch
        fromVersion = version
        addedShare = .indexed(new.partitions.subtracting(old.partitions), in: table)
        removedShare = .indexed(old.partitions.subtracting(new.partitions), in: table)
        releasingShare = .indexed(new.releasing, in: table)
        unknownHoldings = new.unknownHoldings
    }

    /// How many partitions it names: what it adds to the summary every member reads.
    public var size: Int { addedShare.count + removedShare.count + releasingShare.count }

    /// The grant of `epoch` this change makes of `grant`, the node read at `version`; `nil`
    /// unless `grant` is the one it changes (any grant with `Mutations.changeFromAnyGrant`).
    public func applied(to grant: Grant, version: Int32, epoch: Int64, mutations: Mutations = []) -> Grant? {
        guard mutations.contains(.changeFromAnyGrant)
            || (grant.epoch == fromEpoch && version == fromVersion && epoch >= fromEpoch
                && removed.isSubset(of: grant.partitions) && added.isDisjoint(with: grant.partitions))
        else { return nil }
        return Grant(
            epoch: epoch, session: grant.session, partitions: grant.partitions.subtracting(removed).union(added),
            releasing: releasing, unknownHoldings: unknownHoldings)
    }

    public static func == (a: GrantChange, b: GrantChange) -> Bool {
        a.fromEpoch == b.fromEpoch && a.fromVersion == b.fromVersion && a.unknownHoldings == b.unknownHoldings && a.added == b.added && a.removed == b.removed
            && a.releasing == b.releasing
    }

    /// `{"from_epoch":E,"from_version":V,"added":{"TOPIC":[ID,...]},"removed":{...},
    /// "releasing":{...}}`, and `"unknown_holdings":true` when set.
    func append(to output: inout [UInt8]) {
        output += Array("{\"from_epoch\":".utf8)
        JSONText.appendInteger(Int(fromEpoch), to: &output)
        output += Array(",\"from_version\":".utf8)
        JSONText.appendInteger(Int(fromVersion), to: &output)
        output += Array(",\"added\":".utf8)
        addedShare.append(to: &output)
        output += Array(",\"removed\":".utf8)
        removedShare.append(to: &output)
        output += Array(",\"releasing\":".utf8)
        releasingShare.append(to: &output)
        if unknownHoldings { output += Array(",\"unknown_holdings\":true".utf8) }
        output.append(UInt8(ascii: "}"))
    }

    /// One change as `append` writes it; `nil` if it names no epoch or version, or
    /// a partition that is not one (the follower then reads its grant).
    static func read(_ reader: inout JSONReader) throws(JSONReader.Failure) -> GrantChange? {
        var fromEpoch: Int?, fromVersion: Int?, unknownHoldings = false
        var added: MappingText.Share = [], removed: MappingText.Share = [], releasing: MappingText.Share = []
        try reader.object { reader, key throws(JSONReader.Failure) in
            switch key {
            case "from_epoch": fromEpoch = try reader.integer()
            case "from_version": fromVersion = try reader.integer()
            case "added": added = try Grant.readShare(&reader)
            case "removed": removed = try Grant.readShare(&reader)
            case "releasing": releasing = try Grant.readShare(&reader)
            case "unknown_holdings": unknownHoldings = reader.null() ? false : try reader.bool()
            default: try reader.skipValue()
            }
        }
        guard let fromEpoch, let fromVersion, let version = Int32(exactly: fromVersion),
              let added = try? Grant.parseShare(added), let removed = try? Grant.parseShare(removed),
              let releasing = try? Grant.parseShare(releasing)
        else { return nil }
        return GrantChange(
            fromEpoch: Int64(fromEpoch), fromVersion: version, added: added, removed: removed,
            releasing: releasing, unknownHoldings: unknownHoldings)
    }
}
