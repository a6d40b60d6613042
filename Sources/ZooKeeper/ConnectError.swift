import Glibc

/// Why a client could not even start connecting: `zookeeper_init` refused the connect string.
public struct ConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The hosts of the connect string, `host:port[,host:port...]`.
    public let hosts: String
    /// The `errno` the library left.
    public let code: Int32

    /// Whether no host of the connect string resolves to an address (the library gives up only
    /// when not one does): the connect string is wrong, not the network passing trouble (a
    /// resolver that cannot answer now is another `code`).
    public var noHostResolves: Bool { code == ENOENT }

    public var description: String {
        noHostResolves
            ? "no host of \(hosts) resolves to an address"
            : "cannot start a ZooKeeper client for \(hosts): \(String(cString: strerror(code)))"
    }
}
