import Allocator
import Foundation
import Glibc
import Testing
import TestSupport
import ZooKeeper

/// Spec §16: SIGTERM or SIGINT at any point of a start ends the daemon with exit status 0, after
/// leaving whatever it had joined, and its socket file removed; never by the signal's default
/// action. (Before `main` runs, while the dynamic loader maps the libraries, no program can
/// handle a signal: the earliest point here is the moment the daemon's main thread holds them.)
@Suite struct SignalsAtStartTests {
    /// The points of a start a signal is sent at, each an event the test waits for.
    enum Point: String, CaseIterable {
        /// The main thread holds the signals (`/proc/PID/status` shows them blocked).
        case signalsHeld
        /// The socket file appears.
        case socket
        /// The first document (joining) is written.
        case firstDocument
        /// The member is active.
        case active
    }

    /// Whether the main thread of `pid` has SIGTERM blocked.
    static func holdsSignals(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
              let mask = UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << (UInt64(SIGTERM) - 1)) != 0
    }

    @Test(arguments: Point.allCases, [SIGTERM, SIGINT])
    func aStopSignalAtAnyPointOfAStartEndsWithStatusZero(point: Point, signal: Int32) async throws {
        let server = try await TestZooKeeper.shared.value
        for attempt in 1...3 {
            let group = uniqueGroup()
            let daemon = try DaemonProcess(
                zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3", "--session-timeout", "20000"])
            defer { Task { await daemon.stop() } }
            let pid = daemon.process.processIdentifier
            let reached: Bool
            switch point {
            case .signalsHeld:
                // As early as can be seen: no pause between looks.
                let deadline = ContinuousClock.now + .seconds(30)
                while !Self.holdsSignals(pid), daemon.process.isRunning, ContinuousClock.now < deadline {}
                reached = Self.holdsSignals(pid)
            case .socket:
                reached = await eventually { FileManager.default.fileExists(atPath: daemon.socket) }
            case .firstDocument:
                reached = await eventually { daemon.fileDocument != nil }
            case .active:
                reached = await eventually { daemon.fileDocument?.state == .active }
            }
            #expect(reached, "\(point) not reached; log:\n\(daemon.log)")
            daemon.signal(signal)
            let ended = await daemon.process.exited(timeout: .seconds(30))
            #expect(ended == .exited(0), "attempt \(attempt) at \(point): \(String(describing: ended)); log:\n\(daemon.log)")
            #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket file was left behind")
            if let document = daemon.fileDocument { #expect(document.state == .stopped, "\(document.json)") }
            // Nothing joined is left: the member's node is gone with its closed session.
            let client = try await server.client()
            let path = "/kiel/groups/\(group)/members"
            // Within 5 s (this test's own client may be slow to connect on a busy machine), well
            // before the 20 s session timeout would remove a node whose session was not closed.
            let left = await eventually(timeout: .seconds(5)) { (try? await client.children(path))?.names.isEmpty ?? true }
            await client.close()
            // (ZooKeeperClient.close used to return at once to a second caller while the first
            // caller's close ran: the daemon could exit before the server had it, 1 stop in 80.)
            #expect(left, "the member's node outlived the daemon at \(point); log:\n\(daemon.log)")
        }
    }

    /// Joining a ZooKeeper that never answers: the stop still ends it with 0 at once.
    @Test func aStopWhileZooKeeperNeverAnswersEndsWithStatusZero() async throws {
        let daemon = try DaemonProcess(zk: "127.0.0.1:1", group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await daemon.stop() } }
        #expect(await eventually { FileManager.default.fileExists(atPath: daemon.socket) })
        daemon.signal(SIGTERM)
        #expect(await daemon.process.exited(timeout: .seconds(30)) == .exited(0), "\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }
}
