import NIOCore

/// The second stage of a connection's pipeline: turns lines into requests. A line that is not
/// UTF-8 becomes an `invalidUTF8` request, an empty one is dropped.
final class RequestDecoder: ChannelInboundHandler {
    typealias InboundIn = LineFrame
    typealias InboundOut = Request

    /// The limit the frame decoder applied, for the error reply.
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request: Request
        switch Self.unwrapInboundIn(data) {
        case .tooLong:
            request = .error(.lineTooLong(limit: limit))
        case .line(let bytes) where bytes.readableBytes == 0:
            return
        case .line(let bytes):
            let text = bytes.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) }
            request = text.map(Request.line) ?? .error(.invalidUTF8)
        }
        context.fireChannelRead(Self.wrapInboundOut(request))
    }
}
