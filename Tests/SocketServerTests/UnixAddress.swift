import Foundation

/// A Unix socket path as `sockaddr_un`, for the tests' own `connect` and `bind` calls.
struct UnixAddress {
    private var address = sockaddr_un()

    init(_ path: String) {
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            precondition(bytes.count < raw.count, "socket path too long: \(path)")
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    /// Calls `connect` or `bind` with the address.
    func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A socket bound at `path` and listening, as systemd passes one; or, with `listen: false`,
    /// bound only.
    static func boundSocket(at path: String, listen shouldListen: Bool = true) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestSocketError.errno("socket") }
        guard UnixAddress(path).withSockAddr({ bind(descriptor, $0, $1) }) == 0 else {
            close(descriptor)
            throw TestSocketError.errno("bind \(path)")
        }
        if shouldListen, listen(descriptor, 16) != 0 {
            close(descriptor)
            throw TestSocketError.errno("listen \(path)")
        }
        return descriptor
    }
}
