import Allocation
import Allocator
import Configuration
import Recipes
import Foundation
import Glibc
import SocketServer
import ZooKeeper

/// The socket's commands (spec §9), one line each, answered with one JSON object a line.
struct CommandHandler: LineHandler {
    let member: GroupMember
    let broadcaster: DocumentBroadcaster
    let publisher: DocumentPublisher
    let live: LiveSettings

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
                return .line(ReplyLine(try json(await statusObject())))
            case "members":
                return .line(ReplyLine(try json(await membersObject())))
            case "assignments":
                guard let (generation, allocation) = await member.currentAllocation else {
                    throw CommandError("no_view", "no allocation yet")
                }
                return .line(ReplyLine(#"{"generation":\#(generation),"assignments":\#(allocation.json)}"#))
            case "partitions":
                guard let partitions = await member.partitions else { throw CommandError("no_view", "no view yet") }
                return .line(ReplyLine(try json(["partitions": partitions.map(\.description), "count": partitions.count])))
            case "add", "remove":
                try authorize(peer, command)
                let partitions: [Partition]
                do {
                    partitions = try PartitionSpec(parsing: argument).partitions
                } catch {
                    throw CommandError("bad_spec", "\(error)")
                }
                let count = command == "add" ? try await member.add(partitions) : try await member.remove(partitions)
                return .line(ReplyLine(try json(["ok": true, "partition_count": count])))
            case "repair":
                try authorize(peer, command)
                return .line(ReplyLine(try json(["ok": true, "partition_count": try await member.repair()])))
            default:
                throw CommandError("unknown_command", "unknown command \"\(command.prefix(64))\"; commands: get, watch, status, members, assignments, partitions, add, remove, repair, ping")
            }
        } catch let error as CommandError {
            return .line(ReplyLine(Self.errorLine(code: error.code, message: error.message)))
        } catch {
            return .line(ReplyLine(Self.errorLine(code: Self.code(for: error), message: "\(error)")))
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

    /// `{"error":{"code":…,"message":…}}`.
    static func errorLine(code: String, message: String) -> String {
        (try? json(["error": ["code": code, "message": message]])) ?? #"{"error":{"code":"internal","message":""}}"#
    }

    private static func code(for error: any Error) -> String {
        switch error {
        case is MemberError: "not_connected"
        case let error as SharedSetError:
            switch error {
            case .malformed: "partition_set_malformed"
            case .tooLarge: "partition_set_too_large"
            case .invalidItem: "bad_spec"
            case .notMalformed: "not_malformed"
            case .changedMeanwhile: "conflict"
            }
        case is ZooKeeperError: "zookeeper"
        default: "internal"
        }
    }

    private func authorize(_ peer: PeerCredentials, _ command: String) throws {
        guard live.socketWriters == .owner else { return }
        guard peer.uid == 0 || peer.uid == getuid() else {
            throw CommandError("forbidden", "\(command) is only for root and the daemon's user (uid \(getuid())); see socket-writers")
        }
    }

    private func statusObject() async -> [String: Any] {
        let status = await member.status
        var object: [String: Any] = [
            "connection": Self.name(of: status.connection),
            "member": status.member,
            "state": status.state.rawValue,
            "generation": status.generation,
            "members": status.memberCount,
            "partitions": status.partitionCount,
            "share": status.shareCount,
            "partitions_znode_bytes": status.partitionSetSize,
            "partitions_znode_limit": status.partitionSetLimit,
            "uptime_ms": status.uptime.milliseconds,
            "watchers": broadcaster.subscriberCount,
        ]
        object["session_id"] = status.sessionID.map { "0x" + String($0, radix: 16) } ?? NSNull()
        object["session_timeout_ms"] = status.sessionTimeout.map { $0.milliseconds } ?? NSNull()
        object["strategy"] = status.strategy ?? NSNull()
        object["last_rebalance_at"] = status.lastRebalanceAt.map(MemberDocument.timestamp) ?? NSNull()
        object["last_rebalance_ms"] = status.lastRebalanceDuration.map { Double($0.milliseconds) } ?? NSNull()
        object["partitions_malformed"] = status.partitionSetMalformed ?? NSNull()
        let errors = [status.lastError, publisher.stateFileError].compactMap { $0 }
        object["last_error"] = errors.isEmpty ? NSNull() : errors.joined(separator: "; ")
        return object
    }

    private func membersObject() async throws -> [String: Any] {
        let report = try await member.memberReport()
        let agreed = Set(report.map { "\($0.metadata?.generation ?? -1)/\($0.metadata?.digest ?? "")" }).count == 1
            && report.allSatisfy { $0.metadata != nil }
        return [
            "members": report.map { entry -> [String: Any] in
                guard let metadata = entry.metadata else { return ["member": entry.member, "metadata": NSNull()] }
                return [
                    "member": entry.member, "host": metadata.host, "pid": metadata.pid, "strategy": metadata.strategy,
                    "generation": metadata.generation, "digest": metadata.digest,
                ]
            },
            "agree": agreed,
        ]
    }

    private static func name(of state: SessionState) -> String {
        switch state {
        case .connecting: "connecting"
        case .connected: "connected"
        case .suspended: "suspended"
        case .expired: "expired"
        case .authFailed: "auth_failed"
        case .closed: "closed"
        }
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

/// One line of JSON, keys sorted.
private func json(_ object: [String: Any]) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}
