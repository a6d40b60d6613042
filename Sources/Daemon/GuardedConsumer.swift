import Configuration
import Foundation
import Glibc
import Synchronization

/// One run of the supervised consumer under its guard (`ConsumerGuard`), as the daemon holds
/// it: the socket to the guard, and the guard's reports.
final class GuardedConsumer: Sendable {
    /// What the guard says, then `.vanished` if it ended without saying how the consumer did;
    /// the stream ends once the guard is gone (reaped).
    let reports: AsyncStream<GuardReport>
    private let continuation: AsyncStream<GuardReport>.Continuation
    /// The daemon's end of the socket, until the guard is gone.
    private let descriptor: Mutex<Int32?>

    /// Starts the guard (on `SpawnThread`), which starts `program` with `environment` (and no
    /// descriptor of the daemon's but its standard output and error) unless `lease` has ended
    /// by then. Commands may be sent at once: the socket holds them until the guard reads.
    init(program: ConsumerProgram, lease: Int64?, environment: [String: String]) {
        (reports, continuation) = AsyncStream.makeStream(of: GuardReport.self)
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            descriptor = Mutex(nil)
            continuation.yield(.couldNotStart(errno: errno))
            continuation.finish()
            return
        }
        let guardEnd = ends[1]
        descriptor = Mutex(ends[0])
        var variables = environment
        variables[ConsumerGuard.environmentKey] = "\(getpid())"
        let arguments = [CommandLine.arguments.first ?? "allocatord"]
            + ConsumerGuard.arguments(stopTimeout: program.stopTimeout, lease: lease, program: program.launchArguments)
        SpawnThread.shared.submit { [self, variables] in
            let started = ProcessSpawn.start(
                path: "/proc/self/exe", arguments: arguments, environment: variables, input: .null, descriptor3: guardEnd,
                newGroup: false)
            close(guardEnd)
            switch started {
            case .success(let pid):
                Thread { self.follow(guard: pid) }.start()
            case .failure(let error):
                closeSocket()
                continuation.yield(.couldNotStart(errno: error.code))
                continuation.finish()
            }
        }
    }

    /// Tells the guard; nothing once it is gone.
    func send(_ command: GuardCommand) {
        let text = Array(command.text.utf8)
        descriptor.withLock { descriptor in
            guard let descriptor else { return }
            _ = Glibc.send(descriptor, text, text.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
    }

    /// Reads the guard's reports until its socket closes, then reaps it (on a thread of its own:
    /// both block).
    private func follow(guard pid: pid_t) {
        var concluded = false
        Self.readReports(from: descriptor.withLock { $0 } ?? -1) { report in
            switch report {
            case .ended, .couldNotStart, .expired: concluded = true
            case .started, .vanished: break
            }
            continuation.yield(report)
        }
        closeSocket()
        var status: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &status, 0) } while reaped == -1 && errno == EINTR
        if !concluded {
            continuation.yield(.vanished(guardStatus: reaped == pid ? ConsumerEnding.Status(waitStatus: status) : nil))
        }
        continuation.finish()
    }

    /// Hands each report read from `socket` to `take`, until the guard's end is closed.
    ///
    /// A guard that ends with a command unread (sent as it exits) makes the kernel report
    /// `ECONNRESET` once, before the reports still queued: they are read after it.
    static func readReports(from socket: Int32, _ take: (GuardReport) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count < 0, errno == EINTR || errno == ECONNRESET { continue }
            guard count > 0 else { return }
            if let report = GuardReport(text: String(decoding: buffer[..<count], as: UTF8.self)) { take(report) }
        }
    }

    private func closeSocket() {
        descriptor.withLock { descriptor in
            if let open = descriptor { close(open) }
            descriptor = nil
        }
    }
}
