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
    /// ``LineProtocolError/tooManyClients(limit:)`` reply and closed.
    public var maxClients = 4_096
    /// The most reply bytes one connection may leave unsent (written by the server, not yet
    /// taken by the kernel because the client does not read). Before each reply line the server
    /// checks this: a client over it gets the ``LineProtocolError/tooSlow`` reply (best effort)
    /// and is closed. One line longer than this still goes out to a client that reads, but a
    /// client that is sent two must read the first before the second is ready: keep this a few
    /// times the longest reply.
    public var maxPendingOutputBytes = 1 << 20
    /// The permission bits of a socket file that ``LineServer/bind(path:)`` creates (spec §9:
    /// 0660).
    public var socketMode: mode_t = 0o660

    /// The defaults of spec §9.
    public init() {}
}
