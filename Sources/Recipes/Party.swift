import ControlProtocol
import ZooKeeper

/// Membership of a group (spec §4): one ephemeral znode per member under a members node,
/// named by the member, carrying the member's metadata.
///
/// Guarantees:
/// - `join` never deletes or overwrites another session's member node (kiel does, which lets
///   two processes own the same partitions). A name held by another live session is waited
///   for, up to `conflictWait` (it may be this member's own previous incarnation, whose session
///   has not expired yet), then refused with `PartyError.nameTaken`.
/// - A create whose reply was lost is recognised on retry by the node's owner session; a node this
///   session owns already is kept as it is (its data is never set back).
/// - `leave` deletes the node only if this session owns it.
///
/// A `Party` belongs to one session (one `ZooKeeperClient`); after an expiry, make a new one.
public struct Party: Sendable {
    public let client: ZooKeeperClient
    /// The members node, e.g. `/kiel/groups/G/members`. It must exist.
    public let path: String
    /// This member's name, the znode's name.
    public let member: String

    public init(client: ZooKeeperClient, path: String, member: String) {
        self.client = client
        self.path = path
        self.member = member
    }

    /// The member's own znode.
    public var memberPath: String { ZNodePath.join(path, member) }

    /// Creates this member's ephemeral node with `data`, waiting up to `conflictWait` for a
    /// node of the same name held by another session to go.
    /// - Throws: `PartyError.nameTaken` if it is still held after `conflictWait`;
    ///   `ZooKeeperError` if the session ends.
    public func join(data: [UInt8], conflictWait: Duration) async throws {
        let deadline = ContinuousClock.now + conflictWait
        while true {
            let holder = try await client.retrying { try await createOrFindHolder(data: data) }
            guard let holder else { return }
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw PartyError.nameTaken(member: member, path: memberPath, ownerSession: holder)
            }
            // Wait for the node to change or go, or for the time to run out.
            let (stat, watch) = try await client.retrying { try await client.existsWatching(memberPath) }
            guard stat?.ephemeralOwner == holder else { continue }
            _ = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await watch.fired() }
                group.addTask { try await Task.sleep(for: remaining) }
                defer { group.cancelAll() }
                return try await group.next()
            }
        }
    }

    /// Creates the node; returns `nil` if this session owns it now, else the owner's session id
    /// (0 for a persistent node someone made).
    private func createOrFindHolder(data: [UInt8]) async throws -> Int64? {
        do {
            try await client.create(memberPath, data: data, mode: .ephemeral)
            return nil
        } catch let error as ZooKeeperError where error.code == .nodeExists {
            guard let stat = try await client.exists(memberPath) else {
                return try await createOrFindHolder(data: data)
            }
            if stat.ephemeralOwner == client.status.session?.id {
                // Ours: an earlier create whose reply was lost, or an earlier join of this
                // session. Its data stays: it is this session's own, and as new as anything the
                // session wrote into it since (overwriting it could set it back).
                return nil
            }
            return stat.ephemeralOwner
        }
    }

    /// Replaces this member's metadata, if this session still owns the node.
    /// - Throws: `PartyError.notMember` if the node is gone or another session's (a kiel peer
    ///   may have taken the name over).
    public func update(data: [UInt8]) async throws {
        guard let node = try await ownNode() else { throw PartyError.notMember(member: member, path: memberPath) }
        try await update(data: data, version: node.version)
    }

    /// What `update(data:version:)` found and did.
    public struct Update: Sendable, Equatable {
        /// The node's version after the write.
        public var version: Int32
        /// The node held data this member did not write (someone rewrote it): it was written
        /// over, and this is the version found.
        public var foreignVersion: Int32?

        public init(version: Int32, foreignVersion: Int32? = nil) {
            self.version = version
            self.foreignVersion = foreignVersion
        }
    }

    /// Replaces this member's metadata, one request instead of two when the node is still at
    /// `version`, as `ownNode()` saw it. If it is not, the node is read: holding `data` already,
    /// it was this member's own write that went through before the connection dropped; holding
    /// anything else, someone else rewrote it (`Update.foreignVersion`), and it is written over.
    /// - Throws: `PartyError.notMember` if the node is gone or another session's.
    @discardableResult
    public func update(data: [UInt8], version: Int32) async throws -> Update {
        do {
            let stat = try await client.retrying { try await client.setData(memberPath, data, version: version) }
            return Update(version: stat.version)
        } catch let error as ZooKeeperError where error.code == .noNode {
            throw PartyError.notMember(member: member, path: memberPath)
        } catch let error as ZooKeeperError where error.code == .badVersion {
            guard try await ownNode() != nil else { throw PartyError.notMember(member: member, path: memberPath) }
            let found = try await client.retrying { try await client.getData(memberPath) }
            if found.data == data { return Update(version: found.stat.version) }
            do {
                let stat = try await client.retrying { try await client.setData(memberPath, data, version: found.stat.version) }
                return Update(version: stat.version, foreignVersion: found.stat.version)
            } catch let error as ZooKeeperError where error.code == .badVersion || error.code == .noNode {
                throw PartyError.notMember(member: member, path: memberPath)
            }
        }
    }

    /// This member's node, if it exists and this session owns it.
    public func ownNode() async throws -> Stat? {
        let stat = try await client.retrying { try await client.exists(memberPath) }
        guard let stat, stat.ephemeralOwner == client.status.session?.id else { return nil }
        return stat
    }


    /// Deletes this member's node if this session owns it, so the others rebalance at once.
    public func leave() async throws {
        try await client.retrying {
            while true {
                guard let stat = try await client.exists(memberPath),
                      stat.ephemeralOwner == client.status.session?.id else { return }
                do {
                    try await client.delete(memberPath, version: stat.version)
                    return
                } catch let error as ZooKeeperError where error.code == .noNode {
                    return
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    continue  // Our own metadata changed meanwhile: look again.
                }
            }
        }
    }

    /// The current members' names (in the server's order), the members node's `cversion`, and
    /// a watch that fires when a member joins or leaves.
    public func members() async throws -> (names: [String], cversion: Int32, watch: Watch) {
        let (children, watch) = try await client.retrying { try await client.childrenWatching(path) }
        return (children.names, children.stat.cversion, watch)
    }

    /// The metadata of `member` as stored, or `nil` if it has left.
    public func data(of member: String) async throws -> [UInt8]? {
        do {
            return try await client.retrying { try await client.getData(ZNodePath.join(path, member)).data }
        } catch let error as ZooKeeperError where error.code == .noNode {
            return nil
        }
    }
}

/// Why a `Party` operation was refused.
public enum PartyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another live session holds the member name.
    case nameTaken(member: String, path: String, ownerSession: Int64)
    /// This session no longer holds the member node.
    case notMember(member: String, path: String)

    public var description: String {
        switch self {
        case .nameTaken(let member, let path, let owner):
            "member name \"\(member)\" is held by another session (\(SessionID.format(owner)), \(path)); "
                + "is another allocatord or kiel consumer running with this name?"
        case .notMember(let member, let path):
            "member \"\(member)\" is no longer in the group: \(path) is gone or owned by another session"
        }
    }
}
