/// What the server asks for each request: the protocol lives here, the server knows only lines.
///
/// `handle` runs concurrently for different connections, and in order, one request at a time,
/// for one connection. Its task is cancelled when the client goes away.
public protocol LineHandler: Sendable {
    /// Answers one request line: not empty, valid UTF-8, without its `\n` or `\r\n`.
    func handle(_ line: String, from peer: PeerCredentials) async -> LineReply

    /// The line to send for a protocol error, without its newline (e.g.
    /// `{"error":{"code":"line_too_long","message":"..."}}`). It may run on the server's event
    /// loop: it must not block.
    func reply(to error: LineProtocolError) -> String

    /// The reply to `line` if it can be given at once, without waiting for anything (a cached
    /// document, whose encoded line every connection then shares), or `nil` to have `handle`
    /// answer it. It runs on the server's event loop,
    /// which then skips two thread hops: it must not block. Never called while an earlier
    /// request of the connection is unanswered, so replies stay in order.
    func immediateReply(to line: String) -> ReplyLine?
}

extension LineHandler {
    /// No immediate replies: `handle` answers everything.
    public func immediateReply(to line: String) -> ReplyLine? { nil }
}
