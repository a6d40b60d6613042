/// A ZooKeeper connect string, `host:port[,host:port...][/chroot]`, checked before it reaches
/// the C library (which would only answer `EINVAL`).
public struct ConnectString: Sendable, Hashable, CustomStringConvertible {
    /// One server address.
    public struct Server: Sendable, Hashable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Why a connect string was refused.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let input: String
        public let reason: String
        public var description: String { "invalid ZooKeeper connect string \"\(input)\": \(reason)" }
    }

    public var servers: [Server]
    /// The path every operation is relative to, or `nil` for the server's root.
    public var chroot: String?

    public init(servers: [Server], chroot: String? = nil) {
        self.servers = servers
        self.chroot = chroot
    }

    /// Parses `host:port[,host:port...][/chroot]`.
    public init(parsing input: String) throws(ParseError) {
        func fail(_ reason: String) -> ParseError { ParseError(input: input, reason: reason) }
        var hostList = Substring(input)
        var chroot: String?
        if let slash = input.firstIndex(of: "/") {
            hostList = input[..<slash]
            let path = String(input[slash...])
            if path != "/" {
                if let problem = ZNodePath.problem(with: path) { throw fail("chroot \(problem)") }
                chroot = path
            }
        }
        var servers: [Server] = []
        for entry in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            guard let colon = entry.lastIndex(of: ":") else {
                throw fail("\"\(entry)\" has no port (host:port)")
            }
            let host = entry[..<colon]
            let portText = entry[entry.index(after: colon)...]
            guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" }) else {
                throw fail("\"\(entry)\" has no valid host name")
            }
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw fail("\"\(entry)\" has no valid port (1-65535)")
            }
            servers.append(Server(host: String(host), port: port))
        }
        self.init(servers: servers, chroot: chroot)
    }

    /// The form the C library takes.
    public var description: String {
        servers.map { "\($0.host):\($0.port)" }.joined(separator: ",") + (chroot ?? "")
    }

    /// The same servers without the chroot.
    public var withoutChroot: ConnectString { ConnectString(servers: servers, chroot: nil) }
}

/// Checks of znode paths, the rules the server applies.
public enum ZNodePath {
    /// Why `path` is not a valid absolute znode path, or `nil` if it is one.
    public static func problem(with path: String) -> String? {
        guard path.hasPrefix("/") else { return "\"\(path)\" does not start with /" }
        if path == "/" { return nil }
        if path.hasSuffix("/") { return "\"\(path)\" ends with /" }
        for component in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "\"\(path)\" has an empty component" }
            if component == "." || component == ".." { return "\"\(path)\" has a relative component" }
            if component.unicodeScalars.contains(where: { $0.value == 0 || (0x1...0x1F).contains($0.value) || (0x7F...0x9F).contains($0.value) }) {
                return "\"\(path)\" has a control character"
            }
        }
        return nil
    }

    /// `parent` and `child` joined with a `/`.
    public static func join(_ parent: String, _ child: String) -> String {
        parent == "/" ? "/" + child : parent + "/" + child
    }
}
