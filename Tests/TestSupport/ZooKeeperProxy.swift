import Foundation
import Glibc
import Synchronization

/// A proxy on 127.0.0.1 in front of one ZooKeeper server that understands the client protocol's
/// framing (a 4-byte big-endian length before every packet; requests start with `xid` and
/// `type`, replies with `xid`, `zxid` and `err`), for the one fault a byte-level proxy cannot
/// make: **a reply lost after the server applied its request**.
///
/// `dropReply(where:)` arms it once: the first request that matches is forwarded, and when the
/// server's reply to it (same `xid`) comes back, the connection is cut instead of passing the
/// reply on. The client sees a connection loss, reconnects through the proxy within its
/// session, and cannot know whether its request was applied: it was.
public final class ZooKeeperProxy: Sendable {
    /// A request as the proxy sees it: its operation code (1 create, 2 delete, 4 getData,
    /// 9 sync, 14 multi, 15 create2, ... as in ZooKeeper's `ZooDefs.OpCode`) and, for operations whose
    /// body starts with one, its path.
    public struct Request: Sendable {
        public let type: Int32
        public let path: String?
    }

    /// Operation codes whose request body begins with the path.
    static let typesWithPath: Set<Int32> = [1, 2, 3, 4, 5, 6, 8, 9, 12, 15, 19]

    public let port: Int
    private let target: Int
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var matcher: (@Sendable (Request) -> Bool)?
        /// The connection and xid of the request whose reply is to be dropped.
        var doomed: (connection: Int, xid: Int32)?
        var dropped: [Request] = []
        var seen: [Request] = []
        var armedRequest: Request?
        var connections: [Int: [Int32]] = [:]
        var nextConnection = 0
        var stopped = false
    }

    /// Starts a proxy to the server on 127.0.0.1:`port`.
    public init(port targetPort: Int) throws {
        target = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
              listen(listener, 64) == 0 else {
            throw TCPProxy.ProxyError(message: "cannot listen: errno \(errno)")
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: bound.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// `host:port` of the proxy, for a connect string.
    public var address: String { "127.0.0.1:\(port)" }

    /// Drops the reply to the first request from now on that `matches` (once).
    public func dropReply(where matches: @escaping @Sendable (Request) -> Bool) {
        state.withLock { $0.matcher = matches }
    }

    /// The requests whose replies were dropped so far.
    public var droppedReplies: [Request] { state.withLock { $0.dropped } }

    /// Every request passed on so far, in order (pings too: type 11).
    public var requests: [Request] { state.withLock { $0.seen } }

    /// Stops accepting and closes every connection.
    public func stop() {
        let connections = state.withLock { state in
            state.stopped = true
            defer { state.connections = [:] }
            return state.connections.values.flatMap { $0 }
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for descriptor in connections { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(target).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let connection = state.withLock { state -> Int? in
                guard !state.stopped else { return nil }
                state.nextConnection += 1
                state.connections[state.nextConnection] = [client, upstream]
                return state.nextConnection
            }
            guard connected == 0, let connection else {
                close(client)
                close(upstream)
                continue
            }
            Thread { [self] in pump(connection, from: client, to: upstream, requests: true) }.start()
            Thread { [self] in pump(connection, from: upstream, to: client, requests: false) }.start()
        }
    }

    /// Forwards whole packets from `source` to `destination`; the first packet each way is the
    /// session's handshake (no header).
    private func pump(_ connection: Int, from source: Int32, to destination: Int32, requests: Bool) {
        defer { cut(connection) }
        var handshake = true
        while let packet = readPacket(source) {
            if !handshake, packet.count >= 8 {
                let xid = Self.int32(packet, at: 0)
                if requests {
                    noteRequest(connection, xid: xid, type: Self.int32(packet, at: 4), body: packet[8...])
                } else if state.withLock({ $0.doomed.map { $0 == (connection, xid) } ?? false }) {
                    state.withLock { state in
                        state.doomed = nil
                        if let request = state.armedRequest { state.dropped.append(request) }
                    }
                    return  // the reply is lost with the connection
                }
            }
            handshake = false
            guard writeAll(destination, Self.framed(packet)) else { return }
        }
    }

    private func noteRequest(_ connection: Int, xid: Int32, type: Int32, body: ArraySlice<UInt8>) {
        var path: String?
        if Self.typesWithPath.contains(type), body.count >= 4 {
            let length = Int(Self.int32(Array(body), at: 0))
            if length >= 0, body.count >= 4 + length {
                path = String(decoding: body.dropFirst(4).prefix(length), as: UTF8.self)
            }
        }
        let request = Request(type: type, path: path)
        state.withLock { state in
            state.seen.append(request)
            guard let matcher = state.matcher, matcher(request) else { return }
            state.matcher = nil
            state.doomed = (connection, xid)
            state.armedRequest = request
        }
    }

    private func cut(_ connection: Int) {
        let descriptors = state.withLock { $0.connections.removeValue(forKey: connection) } ?? []
        for descriptor in descriptors {
            shutdown(descriptor, Int32(SHUT_RDWR))
            close(descriptor)
        }
    }

    private func readPacket(_ descriptor: Int32) -> [UInt8]? {
        guard let header = readExactly(descriptor, 4) else { return nil }
        let length = Int(Self.int32(header, at: 0))
        guard length >= 0, length < 64 << 20 else { return nil }
        return readExactly(descriptor, length)
    }

    private func readExactly(_ descriptor: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let result = buffer[done...].withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if result <= 0 { return nil }
            done += result
        }
        return buffer
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if result <= 0 { return false }
            written += result
        }
        return true
    }

    static func int32(_ bytes: [UInt8], at offset: Int) -> Int32 {
        Int32(bitPattern: bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) })
    }

    static func framed(_ packet: [UInt8]) -> [UInt8] {
        let length = UInt32(packet.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + packet
    }
}
