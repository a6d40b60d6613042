import Foundation
import Glibc

/// A connection to a daemon's Unix socket: lines out, lines in (spec §9).
final class SocketClient {
    private let descriptor: Int32
    private var buffer: [UInt8] = []

    /// Connects to the socket at `path`.
    /// - Throws: `CommandFailure` with the "cannot connect" status.
    init(path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard descriptor >= 0, path.utf8.count < capacity else {
            throw CommandFailure(status: ExitStatus.cannotConnect, description: "cannot connect to \(path): the path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            bytes.copyBytes(from: Array(path.utf8) + [0])
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw CommandFailure(
                status: ExitStatus.cannotConnect,
                description: "cannot connect to \(path): \(reason); is allocatord running for this group?")
        }
        self.descriptor = descriptor
    }

    /// Makes `readLine()` give up (return `nil`) after `timeout` without data.
    func setReadTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(descriptor)
    }

    /// Sends one command line.
    func send(_ line: String) throws {
        var bytes = Array((line + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            // No SIGPIPE if the daemon has closed the connection: an error, exit status 3.
            let result = bytes.withUnsafeMutableBytes { Glibc.send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard result > 0 else {
                throw CommandFailure(status: ExitStatus.cannotConnect, description: "the daemon closed the connection")
            }
            sent += result
        }
        bytes = []
    }

    /// The next line from the daemon, or `nil` when it closes the connection.
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer += chunk[..<count]
        }
    }
}
