import Foundation
import SocketServer
import TestSupport

/// A ``LineHandler`` with commands for each behaviour the tests look at:
/// `ping` → `pong`; `echo TEXT` → TEXT (both answered at once, on the event loop, when
/// nothing is before them); `slow MS TEXT` → TEXT after MS milliseconds;
/// `peer` → `PID UID GID`; `bytes N` → a line of N `y`s; `count N` → a stream of `0` to `N-1`;
/// `watch` → a stream the test feeds through ``watchers``; `latest` → the same, keeping only the
/// newest line the server has not taken (as the daemon's `watch` does); `flood` → an endless
/// stream of 1000-byte lines, as fast as the server takes them; `block` → `released` once
/// ``gate`` is open. Protocol errors are answered `error CODE`.
final class TestHandler: LineHandler {
    /// The continuations of the `watch` streams, in order of the requests.
    let watchers = Shared<[AsyncStream<ReplyLine>.Continuation]>([])
    /// How many `watch` and `flood` streams were ended by the server (cancelled).
    let cancelledStreams = Shared(0)
    /// How many `too_slow` replies the server asked for (each is a client cut off).
    let tooSlowReplies = Shared(0)
    /// How many `block` requests are waiting.
    let blocked = Shared(0)
    /// `block` requests are answered once this is true.
    let gate = Shared(false)

    func handle(_ line: String, from peer: PeerCredentials) async -> LineReply {
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        let argument = parts.count > 1 ? String(parts[1]) : ""
        switch parts[0] {
        case "ping":
            return .line("pong")
        case "echo":
            return .line(ReplyLine(argument))
        case "slow":
            let words = argument.split(separator: " ", maxSplits: 1)
            try? await Task.sleep(for: .milliseconds(Int(words[0])!))
            return .line(ReplyLine(words.count > 1 ? String(words[1]) : ""))
        case "peer":
            return .line(ReplyLine("\(peer.pid) \(peer.uid) \(peer.gid)"))
        case "bytes":
            return .line(ReplyLine(String(repeating: "y", count: Int(argument)!)))
        case "count":
            let count = Int(argument)!
            return .stream(AsyncStream { continuation in
                for number in 0..<count { continuation.yield(ReplyLine("\(number)")) }
                continuation.finish()
            })
        case "watch", "latest":
            let (stream, continuation) = AsyncStream<ReplyLine>.makeStream(
                bufferingPolicy: parts[0] == "latest" ? .bufferingNewest(1) : .unbounded)
            let cancelledStreams = cancelledStreams
            continuation.onTermination = { termination in
                if case .cancelled = termination { cancelledStreams.update { $0 += 1 } }
            }
            watchers.update { $0.append(continuation) }
            return .stream(stream)
        case "flood":
            let (stream, continuation) = AsyncStream.makeStream(of: ReplyLine.self, bufferingPolicy: .bufferingOldest(64))
            let cancelledStreams = cancelledStreams
            continuation.onTermination = { termination in
                if case .cancelled = termination { cancelledStreams.update { $0 += 1 } }
            }
            let filler = ReplyLine(String(repeating: "x", count: 1000))
            Task {
                while true {
                    switch continuation.yield(filler) {
                    case .enqueued: continue
                    case .dropped: try? await Task.sleep(for: .milliseconds(1))
                    case .terminated: return
                    @unknown default: return
                    }
                }
            }
            return .stream(stream)
        case "block":
            blocked.update { $0 += 1 }
            let gate = gate
            _ = await eventually(timeout: .seconds(30)) { gate.value }
            return .line("released")
        default:
            return .line(ReplyLine("unknown \(line)"))
        }
    }

    /// `ping` and `echo TEXT` are answered at once, on the event loop, so that the tests take
    /// both ways a reply can go.
    func immediateReply(to line: String) -> ReplyLine? {
        if line == "ping" { return "pong" }
        if line.hasPrefix("echo ") { return ReplyLine(String(line.dropFirst(5))) }
        return nil
    }

    func reply(to error: LineProtocolError) -> String {
        switch error {
        case .lineTooLong(let limit): return "error line_too_long \(limit)"
        case .invalidUTF8: return "error invalid_utf8"
        case .tooManyClients(let limit): return "error too_many_clients \(limit)"
        case .tooSlow:
            tooSlowReplies.update { $0 += 1 }
            return "error too_slow"
        case .idle(let timeout): return "error idle \(timeout.milliseconds)"
        }
    }
}
