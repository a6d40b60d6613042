import Allocation
import Allocator
import Configuration
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
                return .line(ReplyLine(try json(await statusObject())))
            case "metrics":
                let text = metrics.text(status: await member.status, watchStreams: broadcaster.subscriberCount)
                return .line(ReplyLine(lines: text + "# EOF"))
            case "members":
                return .line(ReplyLine(try json(await membersObject())))
            case "assignments":
                let (summary, grants) = try await member.commands().assignments()
                guard let summary else { throw CommandError("no_view", "no allocation yet") }
                return .line(ReplyLine(Self.assignmentsLine(epoch: summary.epoch, grants: grants)))
            case "partitions":
                let partitions = try await member.commands().partitions()
                return .line(ReplyLine(try json(["partitions": partitions.map(\.description), "count": partitions.count])))
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
                return .line(ReplyLine(try json(["ok": true, "partition_count": count])))
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
                return .line(ReplyLine(try json([
                    "ok": true, "strategy": change.strategy.name, "previous": change.previous.name, "changed": change.written,
                ])))
            case "release":
                // The consumer's word (spec §15): anyone who may read the share may say it.
                guard let epoch = Int64(argument), epoch >= 0 else {
                    throw CommandError("bad_epoch", "release EPOCH: EPOCH is the document's generation, a number ≥ 0")
                }
                await member.release(epoch: epoch)
                return .line(ReplyLine(#"{"ok":true,"released":\#(epoch)}"#))
            case "repair":
                try authorize(peer, command)
                return .line(ReplyLine(try json(["ok": true, "partition_count": try await member.commands().repair()])))
            default:
                throw CommandError("unknown_command", "unknown command \"\(command.prefix(64))\"; commands: get, watch, status, metrics, members, assignments, partitions, add, remove, release, repair, set-strategy, ping")
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

    /// `{"generation":E,"assignments":{"MEMBER":{"TOPIC":[ID,...]}}}`: every grant's partitions,
    /// members and topics in UTF-8 order, ids ascending.
    static func assignmentsLine(epoch: Int64, grants: [String: Grant]) -> String {
        var output = Array("{\"generation\":\(epoch),\"assignments\":{".utf8)
        for (index, member) in grants.keys.sorted(by: utf8Precedes).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendString(member, to: &output)
            output.append(UInt8(ascii: ":"))
            Grant.appendShare(grants[member]!.partitions, to: &output)
        }
        output += Array("}}".utf8)
        return String(decoding: output, as: UTF8.self)
    }

    /// `{"error":{"code":…,"message":…}}`.
    static func errorLine(code: String, message: String) -> String {
        (try? json(["error": ["code": code, "message": message]])) ?? #"{"error":{"code":"internal","message":""}}"#
    }

    private static func code(for error: any Error) -> String {
        switch error {
        case is MemberError: "not_connected"
        case is RepairError: "not_leader"
        case let error as SharedSetError:
            switch error {
            case .malformed: "partition_set_malformed"
            case .tooLarge: "partition_set_too_large"
            case .invalidItem: "bad_spec"
            case .notMalformed: "not_malformed"
            case .changedMeanwhile: "conflict"
            }
        case let error as StrategyChangeError:
            switch error {
            case .program: "bad_strategy"
            case .notPinned: "not_pinned"
            case .membersConfigured: "members_configured"
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
            "version": ProductVersion.current,
        ]
        object["session_id"] = status.sessionID.map { "0x" + String($0, radix: 16) } ?? NSNull()
        object["session_timeout_ms"] = status.sessionTimeout.map { $0.milliseconds } ?? NSNull()
        object["strategy"] = status.strategy ?? NSNull()
        object["last_rebalance_at"] = status.lastRebalanceAt.map(MemberDocument.timestamp) ?? NSNull()
        object["last_rebalance_ms"] = status.lastRebalanceDuration.map { Double($0.milliseconds) } ?? NSNull()
        object["partitions_malformed"] = status.partitionSetMalformed ?? NSNull()
        object["role"] = status.role.rawValue
        object["leader"] = status.leader ?? NSNull()
        object["awaited"] = status.awaited
        object["awaited_ms"] = status.awaitedFor.mapValues(\.milliseconds)
        object["revoking"] = status.revokingCount
        object["forced_releases"] = status.forcedReleases
        let errors = [status.lastError, publisher.stateFileError].compactMap { $0 }
        object["last_error"] = errors.isEmpty ? NSNull() : errors.joined(separator: "; ")
        return object
    }

    /// Every member with its record, its role and whether the leader awaits it (spec §14);
    /// `agree` once nobody is awaited and every member is allocatord's.
    private func membersObject() async throws -> [String: Any] {
        let commands = try await member.commands()
        let report = try await commands.members()
        let summary = try await commands.assignments().summary
        let awaited = summary?.awaited ?? [:]
        return [
            "members": report.map { entry -> [String: Any] in
                var object: [String: Any] = [
                    "member": entry.member, "role": entry.leads ? "leader" : "follower",
                    "awaited": awaited[entry.member] != nil,
                ]
                guard let record = entry.record else {
                    object["metadata"] = NSNull()
                    return object
                }
                object["host"] = record.host ?? NSNull()
                object["pid"] = record.pid.map { Int($0) } ?? NSNull()
                object["allocatord"] = record.release ?? NSNull()
                object["strategy"] = record.strategy ?? NSNull()
                object["acked_epoch"] = record.ackedEpoch
                object["weight"] = record.weight
                return object
            },
            "epoch": summary?.epoch ?? 0,
            "digest": summary?.digest ?? "",
            "agree": awaited.isEmpty && summary != nil && report.allSatisfy { $0.record != nil },
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
