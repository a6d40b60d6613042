import NIOCore

/// The first stage of a connection's pipeline: cuts the byte stream into lines at `\n`,
/// dropping a `\r` before it, and stops at the first line over the limit.
///
/// Without it a client could make the server buffer without bound while it waits for a newline.
/// Input that ends without a newline (a half-closed or closed connection) is a last line.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    /// The longest line, without `\n` or `\r\n`.
    let limit: Int
    /// Where the search for the next newline goes on, relative to the reader index: the bytes
    /// before it were searched already.
    private var searched = 0
    /// After an over-long line: everything else is dropped unread.
    private var discarding = false

    init(limit: Int) {
        self.limit = limit
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        if discarding {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        guard let newline = view.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) else {
            searched = view.count
            // Up to `limit` bytes and a `\r` may still be a line whose `\n` has not arrived.
            if view.count > limit + 1 || (view.count == limit + 1 && view.last != UInt8(ascii: "\r")) {
                return stop(context: context, buffer: &buffer)
            }
            return .needMoreData
        }
        searched = 0
        let length = newline - view.startIndex
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        return emit(line, context: context, buffer: &buffer)
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) -> DecodingState {
        if decode(context: context, buffer: &buffer) == .continue { return .continue }
        guard !discarding, buffer.readableBytes > 0 else { return .needMoreData }
        searched = 0
        let line = buffer.readSlice(length: buffer.readableBytes)!
        return emit(line, context: context, buffer: &buffer)
    }

    /// Passes a line on without its `\r`, or stops if it is too long.
    private mutating func emit(_ line: ByteBuffer, context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        var line = line
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        guard line.readableBytes <= limit else { return stop(context: context, buffer: &buffer) }
        context.fireChannelRead(Self.wrapInboundOut(.line(line)))
        return .continue
    }

    private mutating func stop(context: ChannelHandlerContext, buffer: inout ByteBuffer) -> DecodingState {
        discarding = true
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        context.fireChannelRead(Self.wrapInboundOut(.tooLong))
        return .needMoreData
    }
}
