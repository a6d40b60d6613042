import Foundation
import Glibc
import Synchronization

/// A TCP proxy on 127.0.0.1 between a client and a server, for fault tests: it forwards,
/// delays (each chunk, both ways), black-holes (holds every byte, as a partition does, until
/// healed), or cuts every connection.
public final class TCPProxy: Sendable {
    /// The port clients connect to.
    public let port: Int
    private let target: (host: String, port: Int)
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var blackholed = false
        var delay = Duration.zero
        var stopped = false
        var connections: [Int32] = []
    }

    /// Starts a proxy to `host:port`.
    public init(to host: String = "127.0.0.1", port targetPort: Int) throws {
        target = (host, targetPort)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in(family: AF_INET, port: 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard withUnsafePointer(to: &address, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0,
              listen(listener, 64) == 0 else {
            throw ProxyError(message: "cannot listen: errno \(errno)")
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: bound.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// `host:port` of the proxy, for a connect string.
    public var address: String { "127.0.0.1:\(port)" }

    /// Holds all traffic in both directions, on open and new connections, until `heal()`.
    public func blackhole() { state.withLock { $0.blackholed = true } }

    /// Lets traffic flow again, without delay.
    public func heal() { state.withLock { $0.blackholed = false; $0.delay = .zero } }

    /// Holds every chunk this long before passing it on, both ways (a slow network).
    public func delay(_ delay: Duration) { state.withLock { $0.delay = delay } }

    /// Closes every open connection at once; new ones are accepted.
    public func cutConnections() {
        // Under the lock: a connection's pumps close its descriptors under it too.
        state.withLock { state in
            for descriptor in state.connections { shutdown(descriptor, Int32(SHUT_RDWR)) }
            state.connections = []
        }
    }

    /// Stops accepting and closes every connection.
    public func stop() {
        state.withLock { $0.stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        cutConnections()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in(family: AF_INET, port: UInt16(target.port))
            inet_pton(AF_INET, target.host, &address.sin_addr)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let stopped = state.withLock { state in
                if !state.stopped, connected == 0 { state.connections += [client, upstream] }
                return state.stopped
            }
            if connected != 0 || stopped {
                close(client)
                close(upstream)
                continue
            }
            let connection = Connection(client: client, upstream: upstream)
            Thread { [self] in pump(from: client, to: upstream, of: connection) }.start()
            Thread { [self] in pump(from: upstream, to: client, of: connection) }.start()
        }
    }

    /// One connection through the proxy: its two descriptors are closed once both of its pumps
    /// have ended (either may still be using them until then), as they leave the list
    /// `cutConnections` shuts down, under its lock (a descriptor shut down after its close
    /// could be another socket's by then: the client's own, in the same test process). They
    /// were never closed: two descriptors leaked a connection.
    private final class Connection: Sendable {
        let client: Int32
        let upstream: Int32
        private let pumpsEnded = Mutex(0)

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        /// Whether the pump that calls it is the second to end.
        func pumpEnded() -> Bool { pumpsEnded.withLock { $0 += 1; return $0 == 2 } }
    }

    private func closeIfDone(_ connection: Connection) {
        guard connection.pumpEnded() else { return }
        state.withLock { state in
            state.connections.removeAll { $0 == connection.client || $0 == connection.upstream }
            close(connection.client)
            close(connection.upstream)
        }
    }

    private func pump(from source: Int32, to destination: Int32, of connection: Connection) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        defer {
            shutdown(destination, Int32(SHUT_RDWR))
            shutdown(source, Int32(SHUT_RDWR))
            closeIfDone(connection)
        }
        while true {
            if state.withLock({ $0.blackholed }) {
                usleep(10_000)
                // A connection cut, or closed at either end, while black-holed must still end
                // (its two threads would otherwise poll forever).
                var probes = [pollfd(fd: source, events: 0, revents: 0), pollfd(fd: destination, events: 0, revents: 0)]
                if poll(&probes, 2, 0) > 0,
                   probes.contains(where: { $0.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 }) { return }
                continue
            }
            var ready = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, 20)
            if polled < 0 { return }
            if polled == 0 { continue }
            if state.withLock({ $0.blackholed }) { continue }
            let count = read(source, &buffer, buffer.count)
            if count <= 0 { return }
            let delay = state.withLock { $0.delay }
            if delay > .zero {
                usleep(useconds_t(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000))
            }
            var written = 0
            while written < count {
                let result = buffer[written..<count].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if result <= 0 { return }
                written += result
            }
        }
    }

    public struct ProxyError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "proxy: \(message)" }
    }
}

extension sockaddr_in {
    fileprivate init(family: Int32, port: UInt16) {
        self.init()
        sin_family = sa_family_t(family)
        sin_port = port.bigEndian
        sin_addr.s_addr = inet_addr("127.0.0.1")
    }
}
