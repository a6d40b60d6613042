import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The socket file a ``LineServer`` bound: made ready before the bind, removed after the close,
/// but only while it is still the same file.
struct SocketFile: Sendable {
    /// Where it is.
    let path: String
    /// Its device and inode right after the bind.
    private let identity: (device: UInt64, inode: UInt64)

    /// Records the socket file just bound at `path` and sets its permission bits; removes it
    /// again if that fails.
    init(boundAt path: String, mode: mode_t) throws {
        guard chmod(path, mode) == 0, let info = Self.status(of: path) else {
            let error = IOError(errnoCode: errno, reason: "chmod \(path)")
            unlink(path)
            throw error
        }
        self.path = path
        identity = (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Removes the file if it is still the one bound: another server may have replaced it.
    func remove() {
        guard let info = Self.status(of: path), UInt64(info.st_dev) == identity.device,
            UInt64(info.st_ino) == identity.inode
        else { return }
        unlink(path)
    }

    /// Makes `path` free for a bind: nothing there, or a socket nobody listens on (left by a
    /// process that died), which is removed.
    /// - Throws: ``LineServerError`` when something else is there or a process listens on it.
    static func clear(_ path: String) throws {
        let address = try SocketAddress(unixDomainSocketPath: path)
        guard let info = status(of: path) else {
            guard errno == ENOENT else { throw IOError(errnoCode: errno, reason: "stat \(path)") }
            return
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw LineServerError(code: .notASocket, target: path) }
        guard try !isListening(address) else { throw LineServerError(code: .inUse, target: path) }
        guard unlink(path) == 0 || errno == ENOENT else { throw IOError(errnoCode: errno, reason: "unlink \(path)") }
    }

    /// Whether a process listens on the socket: a connection is refused only if none does.
    private static func isListening(_ address: SocketAddress) throws -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        defer { close(probe) }
        if address.withSockAddr({ connect(probe, $0, socklen_t($1)) }) == 0 { return true }
        switch errno {
        case EAGAIN: return true  // its backlog is full: someone is listening
        case ECONNREFUSED, ENOENT: return false
        case let error: throw IOError(errnoCode: error, reason: "connect to \(address)")
        }
    }

    private static func status(of path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }
}
