import NIOCore
import Synchronization

/// One reply line, encoded once (UTF-8 and its `\n`): a document sent to a hundred `watch`
/// streams is one buffer written a hundred times, not a hundred copies, and counts once in the
/// server's memory budget.
public struct ReplyLine: Sendable, ExpressibleByStringLiteral {
    /// Numbers the lines, so that the memory budget knows a line queued on two connections.
    private static let lastID = Atomic<UInt64>(0)

    let bytes: ByteBuffer
    /// This line's number, unique in the process.
    let id: UInt64

    /// `text`, which must not contain a newline, as a line.
    public init(_ text: String) {
        var bytes = ByteBufferAllocator().buffer(capacity: text.utf8.count + 1)
        bytes.writeString(text)
        bytes.writeInteger(UInt8(ascii: "\n"))
        self.bytes = bytes
        id = Self.lastID.add(1, ordering: .relaxed).newValue
    }

    /// Several lines in one reply (the `metrics` exposition): `text` without its last newline.
    public init(lines text: String) {
        self.init(text)
    }

    public init(stringLiteral text: String) {
        self.init(text)
    }
}
