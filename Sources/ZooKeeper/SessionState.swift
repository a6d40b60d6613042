/// A ZooKeeper session as the server granted it.
public struct Session: Sendable, Hashable {
    /// The session id the server assigned.
    public var id: Int64
    /// The session's password; with `id`, lets another handle resume the session.
    public var password: [UInt8]
    /// The session timeout the server granted (it clamps the requested one to its limits).
    public var timeout: Duration

    public init(id: Int64, password: [UInt8], timeout: Duration) {
        self.id = id
        self.password = password
        self.timeout = timeout
    }
}

/// The state of a client's connection and session, as its `sessionStates()` stream reports it.
public enum SessionState: Sendable, Hashable {
    /// Not connected yet; the client has not had a session so far.
    case connecting
    /// Connected, with a live session.
    case connected(Session)
    /// The connection was lost. The session may still be alive on the server, so its
    /// ephemeral nodes and watches may come back on reconnection; the client keeps trying.
    case suspended
    /// The server expired the session: its ephemeral nodes and watches are gone and this
    /// client can do nothing more; a new client (a new session) is needed.
    case expired
    /// The server refused the client's credentials; this client can do nothing more.
    case authFailed
    /// `close()` was called and has finished.
    case closed

    /// Whether this state is final: nothing more can happen with this client.
    public var isTerminal: Bool {
        switch self {
        case .expired, .authFailed, .closed: true
        case .connecting, .connected, .suspended: false
        }
    }
}

/// A snapshot of a client's connection, for status reports and leases.
public struct ConnectionStatus: Sendable {
    public var state: SessionState
    /// The last session the client had, also while suspended.
    public var session: Session?
    /// When the client sent the latest write or `sync` the ensemble answered: its leader, which
    /// expires sessions, had heard from the session at that moment or later, so its session
    /// timer ran from no earlier than this (a read's answer does not show it: the server that
    /// answers may have lost the leader). `nil` before the first answer.
    public var lastHeardFromServer: ContinuousClock.Instant?
}
