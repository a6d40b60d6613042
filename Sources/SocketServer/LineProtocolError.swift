/// A protocol error the server detects itself; ``LineHandler/reply(to:)`` turns it into the
/// reply line (spec §9's `{"error": ...}` objects).
public enum LineProtocolError: Sendable, Hashable {
    /// A request line was longer than `limit` bytes (not counting `\n` or `\r\n`). The server
    /// sends the reply, then closes the connection: it cannot tell where the next line starts.
    case lineTooLong(limit: Int)
    /// A request line was not valid UTF-8. The connection stays usable.
    case invalidUTF8
    /// `limit` clients were already connected (and the peer may not take a reserved place). The
    /// server sends the reply, then closes the connection without reading from it.
    case tooManyClients(limit: Int)
    /// The client let more than the configured output pile up unread, or was among the slowest
    /// when the server's replies went over their memory budget. The server sends the reply if
    /// the connection can still take it, then closes the connection.
    case tooSlow
    /// The client sent no request for `timeout`, with none under way and no reply stream. The
    /// server sends the reply, then closes the connection.
    case idle(timeout: Duration)
}
