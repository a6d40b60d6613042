/// What a ``LineHandler`` answers to one request line.
///
/// Reply lines are written as they are, followed by `\n`: they must not contain a newline.
public enum LineReply: Sendable {
    /// One reply line. The connection stays open for more requests.
    case line(ReplyLine)
    /// Reply lines as they come (spec §9 `watch`). The server takes one line at a time from the
    /// stream, the next once the kernel took the one before: a client that does not read holds
    /// up its stream, never the producer nor the server, and how much a stream keeps meanwhile is
    /// its buffering policy's choice (`watch` keeps only the newest document). When the client
    /// closes the connection, is cut off as too slow, or the server closes, the server cancels
    /// its wait and drops the stream: a stream made with
    /// `AsyncStream.makeStream` (or the continuation initializer) then runs its `onTermination`
    /// with `.cancelled`, and its continuation's `yield` returns `.terminated`. When the stream
    /// finishes, the server closes the connection: requests sent after the one that started a
    /// stream are never answered.
    case stream(AsyncStream<ReplyLine>)
}
