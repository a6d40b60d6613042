import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a connection, as the kernel saw it when the peer connected
/// (`SO_PEERCRED`). Spec §13 refuses mutating commands by uid.
public struct PeerCredentials: Sendable, Hashable {
    /// The process id of the peer.
    public var pid: Int32
    /// The effective user id of the peer.
    public var uid: UInt32
    /// The effective group id of the peer.
    public var gid: UInt32

    /// Makes credentials from their parts.
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// Reads `SO_PEERCRED` of a connected Unix socket channel, on its event loop.
    ///
    /// Glibc's `struct ucred` is not visible to Swift (it needs `_GNU_SOURCE`), so it is read as
    /// what it is: three 32-bit integers, pid, uid and gid, in that order.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let credentials: EventLoopFuture<(UInt32, UInt32, UInt32)> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { PeerCredentials(pid: Int32(bitPattern: $0.0), uid: $0.1, gid: $0.2) }
    }
}
