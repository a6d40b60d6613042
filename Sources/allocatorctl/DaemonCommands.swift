import ArgumentParser
import ControlProtocol
import Foundation

/// Where the daemon's socket is: `--socket PATH`, or `--group G` for
/// `/run/allocatord/G.sock`. Taken out of the arguments before parsing, so they may stand
/// before the command as the spec writes them (`allocatorctl --group G get`).
enum SocketLocation {
    nonisolated(unsafe) static var path = DaemonSocket.defaultPath(group: "default")

    /// Removes `--socket`/`--group` (and their values) from `arguments`, remembering the path.
    static func extract(from arguments: [String]) throws -> [String] {
        var remaining: [String] = []
        var iterator = arguments.makeIterator()
        var given: String?
        while let argument = iterator.next() {
            for (option, toPath) in [("--socket", { (value: String) in value }), ("--group", { DaemonSocket.defaultPath(group: $0) })] {
                if argument == option {
                    guard let value = iterator.next() else { throw ValidationError("\(option) needs a value") }
                    given = toPath(value)
                } else if argument.hasPrefix(option + "=") {
                    given = toPath(String(argument.dropFirst(option.count + 1)))
                }
            }
            if argument == "--socket" || argument == "--group" || argument.hasPrefix("--socket=") || argument.hasPrefix("--group=") {
                continue
            }
            remaining.append(argument)
        }
        if let given { path = given }
        return remaining
    }
}

/// Sends one command and prints the daemon's one-line answer; an error answer exits 1.
func exchange(_ command: String) throws -> String {
    let client = try SocketClient(path: SocketLocation.path)
    try client.send(command)
    guard let reply = client.readLine() else {
        throw CommandFailure(status: ExitStatus.cannotConnect, description: "the daemon closed the connection without answering")
    }
    if let error = try? JSONDecoder().decode(ErrorReply.self, from: Data(reply.utf8)).error {
        throw CommandFailure(status: ExitStatus.daemonError, description: "allocatord: \(error.message) (\(error.code))")
    }
    return reply
}

/// A command whose answer is printed as it comes.
protocol SimpleCommand: ParsableCommand {
    var line: String { get }
}

extension SimpleCommand {
    func run() throws {
        print(try exchange(line))
    }
}

struct Get: SimpleCommand {
    static let configuration = CommandConfiguration(abstract: "Print this member's document (spec §8).")
    var line: String { "get" }
}

struct Status: SimpleCommand {
    static let configuration = CommandConfiguration(abstract: "Print the daemon's status.")
    var line: String { "status" }
}

struct Ping: SimpleCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the daemon answers.")
    var line: String { "ping" }
}

struct Repair: SimpleCommand {
    static let configuration = CommandConfiguration(
        abstract: "Overwrite a partition set that does not parse with the last good one.")
    var line: String { "repair" }
}

struct Add: SimpleCommand {
    static let configuration = CommandConfiguration(abstract: "Add partitions to the group: TOPIC:IDS[,TOPIC:IDS...].")
    @Argument(help: "e.g. orders:0-11,payments:3") var spec: String
    var line: String { "add \(spec)" }
}

struct Remove: SimpleCommand {
    static let configuration = CommandConfiguration(abstract: "Remove partitions from the group: TOPIC:IDS[,TOPIC:IDS...].")
    @Argument(help: "e.g. orders:0-11,payments:3") var spec: String
    var line: String { "remove \(spec)" }
}

struct SetStrategy: SimpleCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-strategy",
        abstract: "Change the group's strategy (written at the group node's version read).",
        discussion: """
            The leader plans with the new strategy at once and moves what it moves with the usual
            handover. Refused for exec:PATH (configure every member instead), and while live
            members are configured with another strategy (they would refuse to join again),
            unless --force.
            """)
    @Argument(help: "round-robin, range, consistent or sticky") var name: String
    @Flag(help: "Change it even though members are configured with another strategy.") var force = false
    var line: String { "set-strategy \(name)" + (force ? " force" : "") }
}

struct Release: SimpleCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say, as the consumer, that it stopped working on everything revoked up to EPOCH (--handover consumer).")
    @Argument(help: "The generation of the document whose revoking partitions it released.") var epoch: Int64
    var line: String { "release \(epoch)" }
}

/// `allocatorctl check`: a health probe (spec §16).
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 only while the member is active with a valid lease; else 1 with the reason.",
        discussion: """
            For systemd's ExecStartPost=, Kubernetes exec probes and load balancer checks. The
            daemon must answer `status` within --timeout (a daemon whose work is stuck does not),
            and its document must be active with valid_until in the future (or an empty share,
            which has no lease). Exit 3 if it cannot be reached.
            """)

    @Option(help: "Seconds to wait for each of the daemon's answers.") var timeout: Double = 5

    func run() throws {
        let client = try SocketClient(path: SocketLocation.path)
        client.setReadTimeout(.milliseconds(Int(timeout * 1000)))
        try client.send("status")
        guard let status = client.readLine() else {
            throw unhealthy("the daemon did not answer status within \(timeout) s")
        }
        try client.send("get")
        guard let line = client.readLine(), let document = try? JSONDecoder().decode(Document.self, from: Data(line.utf8)) else {
            throw unhealthy("the daemon did not answer get within \(timeout) s")
        }
        guard document.state == "active" else {
            let error = (try? JSONDecoder().decode(StatusReply.self, from: Data(status.utf8)))?.lastError
            throw unhealthy("the member is \(document.state)" + (error.map { " (\($0))" } ?? ""))
        }
        if let text = document.validUntil {
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let until = parser.date(from: text), until > Date.now else {
                throw unhealthy("the lease ran out at \(text)")
            }
        }
        if let boottime = document.validUntilBoottime {
            guard boottime > BootClock.now() else {
                throw unhealthy("the lease ran out (by CLOCK_BOOTTIME)")
            }
        }
        let share = document.allocation.values.reduce(0) { $0 + $1.count }
        print("healthy: active at generation \(document.generation) with \(share) partitions")
    }

    /// What `check` reads of the document (spec §8).
    private struct Document: Decodable {
        let state: String
        let generation: Int64
        let allocation: [String: [Int]]
        let validUntil: String?
        let validUntilBoottime: Int64?

        enum CodingKeys: String, CodingKey {
            case state, generation, allocation, validUntil = "valid_until", validUntilBoottime = "valid_until_boottime_ns"
        }
    }

    private func unhealthy(_ reason: String) -> CommandFailure {
        CommandFailure(status: ExitStatus.daemonError, description: "unhealthy: \(reason)")
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the document now and after every change, until interrupted.")

    func run() throws {
        let client = try SocketClient(path: SocketLocation.path)
        try client.send("watch")
        while let line = client.readLine() {
            FileHandle.standardOutput.write(Data((line + "\n").utf8))  // Unbuffered: one line per change.
        }
    }
}

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the group's members: who leads, what each acknowledged, whom the leader awaits.")

    @Flag(help: "Print the daemon's raw answer.") var json = false

    func run() throws {
        let reply = try exchange("members")
        guard !json else {
            print(reply)
            return
        }
        guard let answer = try? JSONDecoder().decode(MembersReply.self, from: Data(reply.utf8)) else {
            throw CommandFailure(status: ExitStatus.daemonError, description: "allocatord: the members answer does not parse: \(reply.prefix(200))")
        }
        let columns = ["MEMBER", "ROLE", "HOST", "PID", "ALLOCATORD", "STRATEGY", "ACKED_EPOCH", "AWAITED"]
        let rows = [columns] + answer.members.map { member in
            let record = member.record
            return [
                member.member, member.role, record?.host ?? "-", record?.pid.map(String.init) ?? "-", record?.allocatord ?? "-",
                record?.strategy ?? "-", record.map { String($0.ackedEpoch) } ?? "-", member.awaited ? "yes" : "no",
            ]
        }
        let widths = columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        print(answer.agree ? "all members agree at epoch \(answer.epoch)" : "members do not agree (yet) at epoch \(answer.epoch)")
    }
}
