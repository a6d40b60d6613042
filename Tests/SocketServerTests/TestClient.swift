import Foundation

/// A client of the line server on a plain non-blocking POSIX socket, independent of NIO.
///
/// It never blocks a thread: waits poll every few milliseconds, so tests running in parallel on
/// a small Swift concurrency pool cannot starve the server's handler tasks. Used by one task.
final class TestClient {
    private let descriptor: Int32
    private var received: [UInt8] = []
    /// Where the unread part of `received` starts.
    private var start = 0
    private var endOfInput = false
    private var isClosed = false

    /// Connects to the socket at `path`.
    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSocketError.errno("socket") }
        guard UnixAddress(path).withSockAddr({ connect(descriptor, $0, $1) }) == 0 else {
            let error = TestSocketError.errno("connect \(path)")
            Foundation.close(descriptor)
            throw error
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close()
    }

    /// Sends `text` as it is (add the newlines).
    func send(_ text: String) async throws {
        try await send(bytes: Array(text.utf8))
    }

    /// Sends bytes as they are, waiting while the socket is full.
    func send(bytes: [UInt8], timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var sent = 0
        while sent < bytes.count {
            let result = bytes[sent...].withUnsafeBytes {
                Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if result >= 0 {
                sent += result
            } else if errno == EAGAIN || errno == EWOULDBLOCK, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            } else {
                throw TestSocketError.errno("send")
            }
        }
    }

    /// The next line, without its newline; nil when the server closed the connection.
    /// - Throws: if none came within `timeout`.
    func readLine(timeout: Duration = .seconds(30)) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = received[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: received[start..<newline], as: UTF8.self)
                start = newline + 1
                if start > 1 << 16 {
                    received.removeFirst(start)
                    start = 0
                }
                return line
            }
            if endOfInput { return nil }
            guard try receive() else {
                guard ContinuousClock.now < deadline else {
                    throw TestSocketError(description: "no line within \(timeout)")
                }
                try await Task.sleep(for: .milliseconds(2))
                continue
            }
        }
    }

    /// Every line until the server closes the connection.
    func readAll(timeout: Duration = .seconds(30)) async throws -> [String] {
        var lines: [String] = []
        while let line = try await readLine(timeout: timeout) {
            lines.append(line)
        }
        return lines
    }

    /// Shuts down the sending side: the server sees the end of the requests.
    func shutdownWrite() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Closes the connection.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        Foundation.close(descriptor)
    }

    /// Takes what the socket has; false if it has nothing yet.
    private func receive() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        switch count {
        case 0:
            endOfInput = true
        case 1...:
            received.append(contentsOf: chunk[..<count])
        default:
            if errno == EAGAIN || errno == EWOULDBLOCK { return false }
            guard errno == ECONNRESET else { throw TestSocketError.errno("recv") }
            endOfInput = true
        }
        return true
    }
}
