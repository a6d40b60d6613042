import NIOCore

/// The outbound stage of a connection's pipeline: one reply line, one `\n`.
struct LineEncoder: MessageToByteEncoder {
    typealias OutboundIn = String

    func encode(data: String, out: inout ByteBuffer) {
        out.writeString(data)
        out.writeInteger(UInt8(ascii: "\n"))
    }
}
