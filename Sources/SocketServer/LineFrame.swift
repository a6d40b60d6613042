import NIOCore

/// One piece of input as ``LineFrameDecoder`` cut it.
enum LineFrame {
    /// The bytes of one line, without `\n` or `\r\n`.
    case line(ByteBuffer)
    /// A line longer than the limit began here; nothing after it is read.
    case tooLong
}
