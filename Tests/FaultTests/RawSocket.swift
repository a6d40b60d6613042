import Foundation
import Glibc

/// A plain blocking Unix-socket client, for commands `allocatorctl` has no verb for and for
/// fuzzing the daemon's socket.
final class RawSocket {
    let descriptor: Int32

    /// Connects to `path`; `nil` if it cannot. Reads and writes give up after `timeout` seconds.
    init?(path: String, timeout seconds: Int = 5) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            return nil
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.descriptor = descriptor
    }

    /// Writes all of `bytes`; false if the daemon closed the connection (or the timeout passed).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if result <= 0 { return false }
            written += result
        }
        return true
    }

    /// Reads one line (without its newline); `nil` at the end of the stream or after the timeout.
    func readLine() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while recv(descriptor, &byte, 1, 0) == 1 {
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }

    /// Sends `line` and returns the answer line.
    static func command(_ line: String, to path: String) -> String? {
        guard let socket = RawSocket(path: path), socket.write(Array((line + "\n").utf8)) else { return nil }
        return socket.readLine()
    }

    /// `command(_:to:)` on a Dispatch thread: its blocking reads must not hold one of the Swift
    /// concurrency pool's few threads (on 2 cores, two such waits starve every other test).
    static func command(_ line: String, to path: String) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: command(line, to: path)) }
        }
    }

    deinit { close(descriptor) }
}
