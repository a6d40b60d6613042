import CZooKeeper
import Glibc

/// One entry of a znode's access control list: who (`scheme` and `id`) may do what
/// (`permissions`).
public struct ACL: Sendable, Hashable {
    /// The operations a znode's ACL entry allows.
    public struct Permissions: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let read = Permissions(rawValue: ZOO_PERM_READ)
        public static let write = Permissions(rawValue: ZOO_PERM_WRITE)
        public static let create = Permissions(rawValue: ZOO_PERM_CREATE)
        public static let delete = Permissions(rawValue: ZOO_PERM_DELETE)
        public static let admin = Permissions(rawValue: ZOO_PERM_ADMIN)
        public static let all = Permissions(rawValue: ZOO_PERM_ALL)
    }

    public var permissions: Permissions
    /// `world`, `auth`, `digest`, `ip`, ...
    public var scheme: String
    public var id: String

    public init(permissions: Permissions, scheme: String, id: String) {
        self.permissions = permissions
        self.scheme = scheme
        self.id = id
    }

    /// Everyone may do everything (ZooKeeper's `OPEN_ACL_UNSAFE`).
    public static let openUnsafe: [ACL] = [ACL(permissions: .all, scheme: "world", id: "anyone")]

    /// Everyone may read; the identities the creating session authenticated with (for
    /// example a `digest` credential) may do everything. The server refuses it from a
    /// session that has not authenticated.
    public static let creatorAllWorldRead: [ACL] = [
        ACL(permissions: .all, scheme: "auth", id: ""),
        ACL(permissions: .read, scheme: "world", id: "anyone"),
    ]
}

extension Array where Element == ACL {
    /// Calls `body` with a C `ACL_vector` whose strings live as long as the call.
    func withACLVector<Result, Failure: Error>(
        _ body: (UnsafeMutablePointer<ACL_vector>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let strings = flatMap { [strdup($0.scheme)!, strdup($0.id)!] }
        defer { strings.forEach { free($0) } }
        let entries = UnsafeMutablePointer<CZooKeeper.ACL>.allocate(capacity: Swift.max(count, 1))
        defer { entries.deallocate() }
        for (index, acl) in enumerated() {
            entries[index] = CZooKeeper.ACL(
                perms: acl.permissions.rawValue,
                id: Id(scheme: strings[2 * index], id: strings[2 * index + 1]))
        }
        var vector = ACL_vector(count: Int32(count), data: entries)
        return try body(&vector)
    }
}
