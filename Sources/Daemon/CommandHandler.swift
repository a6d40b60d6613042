import Allocation
import Allocator
import Configuration
import ControlProtocol
import Coordination
import Recipes
import Foundation
import Glibc
import SocketServer
import ZooKeeper

/// The socket's commands (spec §9), one line each, answered with one JSON object a line.
struct CommandHandler: LineHandler {
    let member: Member
    let broadcaster: DocumentBroadcaster
    let publisher: DocumentPublisher
    let live: LiveSettings
    let metrics: MetricsExporter

    /// `get` and `ping` (without arguments), answered on the event loop: the document is
    /// cached, encoded once for every client, nothing to wait for.
    func immediateReply(to line: String) -> ReplyLine? {
        switch line {
        case "get": broadcaster.latest ?? "{}"
        case "ping": #"{"ok":true}"#
        default: nil
        }
    }

    func handle(_ line: String, from peer: PeerCredentials) async -> LineReply {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let (command, argument) = trimmed.firstIndex(of: " ").map {
            (String(trimmed[..<$0]), trimmed[$0...].trimmingCharacters(in: .whitespaces))
        } ?? (trimmed, "")
        if argument.isEmpty, let reply = immediateReply(to: command) { return .line(reply) }
        do {
            switch command {
            case "get", "ping":
                throw CommandError("unknown_command", "\(command) takes no argument")
            case "watch":
                return .stream(broadcaster.subscribe())
            case "status":
                return .line(ReplyLine(ReplyEncoder.line(StatusReply(
                    status: await member.status, watchers: broadcaster.subscriberCount, stateFileError: publisher.stateFileError))))
            case "metrics":
                let text = metrics.text(status: await member.status, watchStreams: broadcaster.subscriberCount)
                return .line(ReplyLine(lines: text + "# EOF"))
            case "members":
                return .line(ReplyLine(ReplyEncoder.line(try await membersReply())))
            case "assignments":
                let (summary, grants) = try await member.commands().assignments()
                guard let summary else { throw CommandError("no_view", "no allocation yet") }
                return .line(ReplyLine(Self.assignmentsLine(epoch: summary.epoch, grants: grants)))
            case "partitions":
                let partitions = try await member.commands().partitions()
                return .line(ReplyLine(ReplyEncoder.line(PartitionsReply(count: partitions.count, partitions: partitions.map(\.description)))))
            case "add", "remove":
                try authorize(peer, command)
                let partitions: [Partition]
                do {
                    partitions = try PartitionSpec(parsing: argument).partitions
                } catch {
                    throw CommandError("bad_spec", "\(error)")
                }
                let commands = try await member.commands()
                let count = command == "add" ? try await commands.add(partitions) : try await commands.remove(partitions)
                return .line(ReplyLine(ReplyEncoder.line(PartitionCountReply(partitionCount: count))))
            case "set-strategy":
                try authorize(peer, command)
                let words = argument.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard (1...2).contains(words.count), words.count == 1 || words[1] == "force" else {
                    throw CommandError("bad_strategy", "set-strategy NAME [force]")
                }
                let strategy: Strategy
                do {
                    strategy = try Strategy(parsing: words[0])
                } catch {
                    throw CommandError("bad_strategy", "\(error)")
                }
                let change = try await member.commands().setStrategy(strategy, force: words.count == 2)
                return .line(ReplyLine(ReplyEncoder.line(
                    StrategyReply(strategy: change.strategy.name, previous: change.previous.name, changed: change.written))))
            case "release":
                // The consumer's word (spec §15): anyone who may read the share may say it.
                guard let epoch = Int64(argument), epoch >= 0 else {
                    throw CommandError("bad_epoch", "release EPOCH: EPOCH is the document's generation, a number ≥ 0")
                }
                await member.release(epoch: epoch)
                return .line(ReplyLine(ReplyEncoder.line(ReleaseReply(released: epoch))))
            case "repair":
                try authorize(peer, command)
                return .line(ReplyLine(ReplyEncoder.line(PartitionCountReply(partitionCount: try await member.commands().repair()))))
            default:
                throw CommandError("unknown_command", "unknown command \"\(command.prefix(64))\"; commands: get, watch, status, metrics, members, assignments, partitions, add, remove, release, repair, set-strategy, ping")
            }
        } catch let error as CommandError {
            return .line(ReplyLine(Self.errorLine(code: error.code, message: error.message)))
        } catch let error as GroupCommandError {
            return .line(ReplyLine(Self.errorLine(code: error.code.rawValue, message: error.message)))
        } catch {
            return .line(ReplyLine(Self.errorLine(code: GroupCommandError.Code.internalError.rawValue, message: "\(error)")))
        }
    }

    func reply(to error: LineProtocolError) -> String {
        switch error {
        case .lineTooLong(let limit): Self.errorLine(code: "line_too_long", message: "a line is limited to \(limit) bytes; closing the connection")
        case .invalidUTF8: Self.errorLine(code: "invalid_utf8", message: "the line is not UTF-8")
        case .tooManyClients(let limit): Self.errorLine(code: "too_many_clients", message: "the daemon serves at most \(limit) clients at once")
        case .tooSlow: Self.errorLine(code: "too_slow", message: "the client does not read its replies; closing the connection")
        case .idle(let timeout): Self.errorLine(code: "idle", message: "no request for \(timeout.milliseconds) ms; closing the connection")
        }
    }

    /// `{"generation":E,"assignments":{"MEMBER":{"TOPIC":[ID,...]}}}`: every grant's partitions,
    /// members and topics in UTF-8 order, ids ascending.
    static func assignmentsLine(epoch: Int64, grants: [String: Grant]) -> String {
        var output = Array("{\"generation\":\(epoch),\"assignments\":{".utf8)
        for (index, member) in grants.keys.sorted(by: utf8Precedes).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(member, to: &output)
            output.append(UInt8(ascii: ":"))
            PartitionShare.named(grants[member]!.partitions).append(to: &output)
        }
        output += Array("}}".utf8)
        return String(decoding: output, as: UTF8.self)
    }

    /// `{"error":{"code":…,"message":…}}`.
    static func errorLine(code: String, message: String) -> String {
        ReplyEncoder.line(ErrorReply(code: code, message: message))
    }

    private func authorize(_ peer: PeerCredentials, _ command: String) throws {
        guard live.socketWriters == .owner else { return }
        guard peer.uid == 0 || peer.uid == getuid() else {
            throw CommandError("forbidden", "\(command) is only for root and the daemon's user (uid \(getuid())); see socket-writers")
        }
    }

    private func membersReply() async throws -> MembersReply {
        let commands = try await member.commands()
        let report = try await commands.members()
        let summary = try await commands.assignments().summary
        let awaited = summary?.awaited ?? [:]
        return MembersReply(
            members: report.map { MembersReply.Entry(report: $0, awaited: awaited[$0.member] != nil) },
            epoch: summary?.epoch ?? 0, digest: summary?.digest ?? "",
            agree: awaited.isEmpty && summary != nil && report.allSatisfy { $0.record != nil })
    }
}

/// An error answer: a stable code and a message.
struct CommandError: Error {
    let code: String
    let message: String
    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
}
