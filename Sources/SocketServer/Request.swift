/// One request of a connection, in the order the client sent it.
enum Request: Sendable {
    /// A line of text for the ``LineHandler``.
    case line(String)
    /// Input the server answers itself.
    case error(LineProtocolError)
}
