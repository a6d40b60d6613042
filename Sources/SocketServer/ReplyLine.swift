import NIOCore

/// One line of a reply stream, encoded once (UTF-8 and its `\n`): a document sent to a hundred
/// `watch` streams is one buffer written a hundred times, not a hundred copies.
public struct ReplyLine: Sendable, ExpressibleByStringLiteral {
    let bytes: ByteBuffer

    /// `text`, which must not contain a newline, as a line.
    public init(_ text: String) {
        var bytes = ByteBufferAllocator().buffer(capacity: text.utf8.count + 1)
        bytes.writeString(text)
        bytes.writeInteger(UInt8(ascii: "\n"))
        self.bytes = bytes
    }

    public init(stringLiteral text: String) {
        self.init(text)
    }
}
