import CZooKeeper
import Dispatch
import Glibc
import Logging

/// An asynchronous ZooKeeper client over the C library (`libzookeeper_mt`).
///
/// One client is one session. The session's life is reported by `sessionStates()`; when the
/// session has expired, the client is spent and a new one must be connected. Reads can set
/// one-shot watches, delivered as `Watch` values. Operations never block a thread: they are
/// queued to the library's I/O thread and resume when the reply arrives (or fail with
/// `connectionLoss` when the connection drops first).
///
/// While connected the client sends a small request every quarter of the session timeout (on a
/// Dispatch timer, independent of the Swift concurrency pool), so `status.lastHeardFromServer`
/// is always recent: it is the basis of a member's lease.
public final class ZooKeeperClient: Sendable {
    /// How to connect.
    public struct Configuration: Sendable {
        public var connectString: ConnectString
        /// The timeout to ask for; the server clamps it to its minimum and maximum.
        public var sessionTimeout: Duration
        /// A session to resume instead of starting a new one.
        public var session: Session?
        /// A `digest` credential, `user:password`, added on the first connection before anything
        /// else is sent (the library keeps it for reconnections).
        public var digestCredential: String?

        public init(
            connectString: ConnectString, sessionTimeout: Duration = .seconds(10),
            session: Session? = nil, digestCredential: String? = nil
        ) {
            self.connectString = connectString
            self.sessionTimeout = sessionTimeout
            self.session = session
            self.digestCredential = digestCredential
        }
    }

    /// The configuration the client was connected with.
    public let configuration: Configuration
    /// The ACL of znodes this client creates when no ACL is given: world-readable and
    /// writable by the credential when one is configured, open otherwise.
    public let defaultACL: [ACL]

    let core: ClientCore

    private init(configuration: Configuration, core: ClientCore) {
        self.configuration = configuration
        self.defaultACL = configuration.digestCredential == nil ? ACL.openUnsafe : ACL.creatorAllWorldRead
        self.core = core
    }

    /// Starts connecting and returns at once; `sessionStates()` tells when the session is up.
    /// - Throws: `ConnectError` if the library cannot start (no host of the connect string
    ///   resolves, for one).
    public static func connect(_ configuration: Configuration, logger: Logger) async throws -> ZooKeeperClient {
        setLibraryLogLevel(for: logger.logLevel)
        let core = ClientCore(logger: logger, digestCredential: configuration.digestCredential)
        let timeout = Int32(clamping: configuration.sessionTimeout.milliseconds)
        let hosts = configuration.connectString.description
        let resumed = configuration.session
        // zookeeper_init2 resolves host names: keep it off the cooperative pool.
        let started = await offCooperativePool { () -> Result<ClientCore.Handle, ConnectError> in
            var clientID = clientid_t()
            if let resumed {
                clientID.client_id = resumed.id
                withUnsafeMutableBytes(of: &clientID.passwd) { $0.copyBytes(from: resumed.password.prefix(16)) }
            }
            // The library keeps this reference until `closeHandle` releases it.
            let context = Unmanaged.passRetained(core)
            let pointer = withUnsafePointer(to: &clientID) { id in
                zookeeper_init2(hosts, Callbacks.watcher, timeout, resumed == nil ? nil : id, context.toOpaque(), 0, Callbacks.log)
            }
            guard let pointer else {
                let code = errno
                context.release()
                return .failure(ConnectError(hosts: hosts, code: code))
            }
            // By default the library resolves the host names again every time it polls the
            // socket (a getaddrinfo, with a netlink round trip, per I/O event); a DNS change
            // is still seen on every reconnection and at most this long after it otherwise.
            zoo_set_servers_resolution_delay(pointer, Self.hostResolutionInterval)
            return .success(ClientCore.Handle(pointer: pointer))
        }
        core.attach(try started.get())
        return ZooKeeperClient(configuration: configuration, core: core)
    }

    /// The shortest time between two routine resolutions of the connect string's host names,
    /// in milliseconds.
    static let hostResolutionInterval: Int32 = 30_000

    deinit {
        let core = core
        DispatchQueue.global().async { Self.closeHandle(of: core) }
    }

    /// Ends the session (its ephemeral nodes go at once) and releases the C handle. Pending
    /// operations fail with `closing`, pending watches fire with `sessionEnded`, and the state
    /// streams end with `closed`. Safe to call more than once: every caller returns once the
    /// close is done.
    public func close() async {
        let core = core
        await offCooperativePool { Self.closeHandle(of: core) }
        // Another caller's close may still be under way: return once it is done (the server
        // has the close, and the session's ephemeral nodes are gone), as that caller does.
        for await _ in core.sessionStates() {}
    }

    private static func closeHandle(of core: ClientCore) {
        guard let handle = core.detachForClose() else { return }
        zookeeper_close(handle.pointer)
        core.didClose()
        Unmanaged.passUnretained(core).release()
    }

    // MARK: Session

    /// The current state, session and the time the server was last heard from.
    public var status: ConnectionStatus { core.status }

    /// A stream of session states: the current one first, then every change. It ends after
    /// `closed`.
    public func sessionStates() -> AsyncStream<SessionState> {
        core.sessionStates()
    }

    /// Waits until the client is connected and returns the session.
    /// - Throws: `ZooKeeperError` with `sessionExpired`, `authFailed` or `closing` if the
    ///   session ends first, `CancellationError` if cancelled.
    @discardableResult
    public func waitUntilConnected() async throws -> Session {
        for await state in sessionStates() {
            switch state {
            case .connected(let session): return session
            case .expired: throw ZooKeeperError(code: .sessionExpired, operation: "connect", path: nil)
            case .authFailed: throw ZooKeeperError(code: .authFailed, operation: "connect", path: nil)
            case .closed: throw ZooKeeperError(code: .closing, operation: "connect", path: nil)
            case .connecting, .suspended: continue
            }
        }
        try Task.checkCancellation()
        throw ZooKeeperError(code: .closing, operation: "connect", path: nil)
    }

    // MARK: Operations

    /// Creates a znode and returns its path (with the sequence suffix for sequential modes).
    @discardableResult
    public func create(
        _ path: String, data: [UInt8] = [], mode: CreateMode = .persistent, acl: [ACL]? = nil
    ) async throws -> String {
        guard case (.created(let created, _), _) = try await perform(.create(path, data: data, mode: mode, acl: acl)) else { return path }
        return created
    }

    /// The znode's data and stat.
    public func getData(_ path: String) async throws -> NodeData {
        try await getData(path, watch: false).0
    }

    /// The znode's data and stat, and a watch that fires on its next change or deletion.
    public func getDataWatching(_ path: String) async throws -> (NodeData, Watch) {
        let (node, watch) = try await getData(path, watch: true)
        return (node, watch!)
    }

    private func getData(_ path: String, watch: Bool) async throws -> (NodeData, Watch?) {
        let (answer, watchSet) = try await perform(.getData(path, watch: watch))
        guard case .data(let node) = answer else { throw ZooKeeperError(code: .marshallingError, operation: "getData", path: path) }
        return (node, watchSet)
    }

    /// The znode's stat, or `nil` if it does not exist.
    public func exists(_ path: String) async throws -> Stat? {
        try await exists(path, watch: false).0
    }

    /// The znode's stat (or `nil`), and a watch that fires when it is created, changed or
    /// deleted.
    public func existsWatching(_ path: String) async throws -> (Stat?, Watch) {
        let (stat, watch) = try await exists(path, watch: true)
        return (stat, watch!)
    }

    private func exists(_ path: String, watch: Bool) async throws -> (Stat?, Watch?) {
        let (answer, watchSet) = try await perform(.exists(path, watch: watch))
        guard case .stat(let stat) = answer else { return (nil, watchSet) }
        return (stat, watchSet)
    }

    /// Replaces the znode's data, only if its version is `version` (any version if -1).
    /// - Throws: `ZooKeeperError` with `badVersion` if someone else changed it first.
    @discardableResult
    public func setData(_ path: String, _ data: [UInt8], version: Int32 = -1) async throws -> Stat {
        guard case (.stat(let stat?), _) = try await perform(.setData(path, data: data, version: version)) else {
            throw ZooKeeperError(code: .marshallingError, operation: "setData", path: path)
        }
        return stat
    }

    /// Deletes the znode, only if its version is `version` (any version if -1).
    public func delete(_ path: String, version: Int32 = -1) async throws {
        _ = try await perform(.delete(path, version: version))
    }

    /// The names of the znode's children (in the server's order) and the znode's stat.
    public func children(_ path: String) async throws -> Children {
        try await children(path, watch: false).0
    }

    /// The znode's children and stat, and a watch that fires when a child is created or
    /// deleted, or the znode itself is deleted.
    public func childrenWatching(_ path: String) async throws -> (Children, Watch) {
        let (children, watch) = try await children(path, watch: true)
        return (children, watch!)
    }

    private func children(_ path: String, watch: Bool) async throws -> (Children, Watch?) {
        let (answer, watchSet) = try await perform(.getChildren(path, watch: watch))
        guard case .children(let children) = answer else {
            throw ZooKeeperError(code: .marshallingError, operation: "getChildren", path: path)
        }
        return (children, watchSet)
    }

    /// Applies `operations` as one transaction: all of them, or none.
    /// - Returns: one result per operation.
    /// - Throws: `ZooKeeperError` with `failedOperation`, the index of the operation that made
    ///   the transaction fail (a `check` of a node that is gone, a `badVersion`...), and its path.
    public func multi(_ operations: [MultiOperation]) async throws -> [MultiResult] {
        guard case (.multi(let results), _) = try await perform(.multi(operations)) else {
            throw ZooKeeperError(code: .marshallingError, operation: "multi", path: operations.first?.path)
        }
        return results
    }

    /// Adds a credential to the session (kept for reconnections), e.g. `digest`,
    /// `user:password`, and waits for the server's answer.
    public func addAuth(scheme: String, credential: String) async throws {
        _ = try await withCheckedThrowingContinuation { continuation in
            do {
                try core.submit("addAuth", path: scheme, completion: { continuation.resume(with: $0) }) { handle, context in
                    zoo_add_auth(handle, scheme, credential, Int32(credential.utf8.count), Callbacks.void, context)
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Why connecting keeps failing, when a cause is likely (the server's `maxClientCnxns`
    /// reached by this host); `nil` once a session connects.
    public static var likelyConnectionProblem: String? { LibraryLog.likelyCause }

    /// Sets the C library's own level so it formats only what the logger would keep (called at
    /// each connect with the client's logger's level, and by the daemon on a reload).
    public static func setLibraryLogLevel(for level: Logger.Level) {
        switch level {
        case .trace: zoo_set_debug_level(ZOO_LOG_LEVEL_DEBUG)
        case .debug: zoo_set_debug_level(ZOO_LOG_LEVEL_INFO)
        case .info, .notice, .warning: zoo_set_debug_level(ZOO_LOG_LEVEL_WARN)
        case .error, .critical: zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR)
        }
    }
}

/// A znode's data and stat.
public struct NodeData: Sendable, Equatable {
    public var data: [UInt8]
    public var stat: Stat
}

/// A znode's children and its own stat (whose `cversion` counts child changes).
public struct Children: Sendable, Equatable {
    public var names: [String]
    public var stat: Stat
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// Runs blocking work (`zookeeper_init2`, `zookeeper_close`) on a Dispatch thread, never on the
/// Swift concurrency pool.
func offCooperativePool<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}
