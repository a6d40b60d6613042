#if canImport(Glibc)
import Glibc
#endif

/// The limits and the socket mode of a ``LineServer``.
public struct LineServerConfiguration: Sendable {
    /// The longest request line, in bytes, without `\n` or `\r\n` (spec §9: 64 KiB). A longer
    /// line gets the ``LineProtocolError/lineTooLong(limit:)`` reply, then its connection is
    /// closed.
    public var maxLineLength = 65_536
    /// The most clients connected at once. One more is accepted, sent the
    /// ``LineProtocolError/tooManyClients(limit:)`` reply and closed, unless it may take one of
    /// the ``reservedClients`` places.
    public var maxClients = 4_096
    /// Places beyond ``maxClients`` for peers whose uid is in ``privilegedUsers``, so that
    /// other users' connections cannot lock them out (spec §13).
    public var reservedClients = 8
    /// The uids that may take a reserved place: root and the server's own user.
    public var privilegedUsers: Set<UInt32> = [0, getuid()]
    /// How long a connection may stay without a request under way and without a reply stream
    /// before it gets the ``LineProtocolError/idle(timeout:)`` reply and is closed; `nil` for
    /// never. A request, or the last reply written, starts the time again.
    public var idleTimeout: Duration? = .seconds(30)
    /// The most reply bytes one connection may leave unsent (written by the server, not yet
    /// taken by the kernel because the client does not read). Before each reply line the server
    /// checks this: a client over it gets the ``LineProtocolError/tooSlow`` reply (best effort)
    /// and is closed. One line longer than this still goes out to a client that reads, but a
    /// client that is sent two must read the first before the second is ready: keep this a few
    /// times the longest reply.
    public var maxPendingOutputBytes = 1 << 20
    /// The most reply bytes all connections together may leave unsent, each line counted once
    /// however many connections it is queued on (a document sent to every `watch` stream is one
    /// buffer). Over it, the connections that have gone longest without taking all they were
    /// sent get the ``LineProtocolError/tooSlow`` reply and are closed, until the rest fits.
    /// Keep it many times the longest reply.
    public var maxQueuedOutputBytes = 64 << 20
    /// How long a client that is closed with a last reply (too slow, idle) has to take the rest
    /// of its output.
    public var closingGrace = Duration.seconds(2)
    /// The permission bits of a socket file that ``LineServer/bind(path:)`` creates (spec §9:
    /// 0660).
    public var socketMode: mode_t = 0o660

    /// The defaults of spec §9.
    public init() {}
}
