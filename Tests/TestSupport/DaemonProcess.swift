import Allocator
import Foundation
import Glibc

/// An `allocatord` process for a test, with its state file and socket in a fresh folder.
public final class DaemonProcess: @unchecked Sendable {
    public let process: ChildProcess
    public let folder: String
    public let group: String
    public let member: String
    public var stateFile: String { folder + "/\(group).json" }
    public var socket: String { folder + "/\(group).sock" }

    /// Starts `allocatord --zk ... --group ... --member ... --state-file ... --socket ...` plus
    /// `arguments`, with `environment` added to this process's.
    public init(
        zk: String, group: String, member: String, arguments: [String] = [], environment: [String: String] = [:],
        folder: String? = nil
    ) throws {
        self.group = group
        self.member = member
        let folder = folder ?? temporaryPath("allocatord")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        self.folder = folder
        process = try ChildProcess(
            productsDirectory.appendingPathComponent("allocatord").path,
            [
                "--zk", zk, "--group", group, "--member", member,
                "--state-file", folder + "/\(group).json", "--socket", folder + "/\(group).sock",
            ] + arguments,
            environment: environment, errors: .collect)
    }

    /// What the daemon logged so far.
    public var log: String { String(decoding: process.errors, as: UTF8.self) }

    /// The document in the state file, if there is a valid one.
    public var fileDocument: MemberDocument? {
        FileManager.default.contents(atPath: stateFile).flatMap { try? MemberDocument(json: $0) }
    }

    /// Waits until the state file's document satisfies `condition`.
    @discardableResult
    public func waitForFile(
        timeout: Duration = .seconds(30), _ what: String = "", _ condition: @escaping @Sendable (MemberDocument) -> Bool
    ) async throws -> MemberDocument {
        let met = await eventually(timeout: timeout) { [self] in fileDocument.map(condition) ?? false }
        guard met, let document = fileDocument else {
            throw Timeout(what: "\(member): \(what); file: \(fileDocument?.json ?? "none"); log:\n\(log)")
        }
        return document
    }

    /// Sends a signal.
    public func signal(_ number: Int32) {
        process.signal(number)
    }

    /// Waits for the process to exit and returns its status.
    public func waitForExit(timeout: Duration = .seconds(10)) async -> Int32? {
        await process.exited(timeout: timeout)?.status
    }

    /// SIGTERM, then waits; SIGKILL if it does not exit in time.
    public func stop() async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if await waitForExit(timeout: .seconds(5)) == nil { signal(SIGKILL) }
    }
}

/// A stand-in for systemd's notification socket: a datagram socket whose messages are kept.
public final class NotifyListener: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32
    private let messages = Shared<[(at: ContinuousClock.Instant, text: String)]>([])

    public init() throws {
        path = temporaryPath("notify", suffix: ".sock")
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw Timeout(what: "binding \(path): errno \(errno)") }
        let messages = messages
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { return }
                let text = String(decoding: buffer[..<count], as: UTF8.self)
                messages.update { $0.append((.now, text)) }
            }
        }.start()
    }

    /// Every message so far, with when it arrived.
    public var received: [(at: ContinuousClock.Instant, text: String)] { messages.value }

    deinit {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
        unlink(path)
    }
}
