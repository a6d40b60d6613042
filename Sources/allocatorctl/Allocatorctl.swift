import Allocation
import Allocator
import ArgumentParser
import Foundation

/// `allocatorctl`, the command-line client of allocatord (spec §10).
///
/// Exit codes: 0 success, 1 the daemon answered with an error, 2 usage, 3 cannot connect.
@main
struct Allocatorctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The command-line client of allocatord.",
        discussion: "The daemon's socket: --socket PATH, or --group G for /run/allocatord/G.sock.",
        version: "allocatorctl \(ProductVersion.current)",
        subcommands: [Get.self, Watch.self, Status.self, Members.self, Add.self, Remove.self, Repair.self, Ping.self, Plan.self])

    /// Runs the command with the spec's exit codes: ArgumentParser's usage errors (64) become 2.
    static func main() async {
        do {
            var command = try parseAsRoot(try SocketLocation.extract(from: Array(CommandLine.arguments.dropFirst())))
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            if let failure = error as? CommandFailure {
                FileHandle.standardError.write(Data((failure.description + "\n").utf8))
                Foundation.exit(failure.status)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(ExitStatus.usage)
        }
    }
}

/// The exit statuses of spec §10.
enum ExitStatus {
    static let daemonError: Int32 = 1
    static let usage: Int32 = 2
    static let cannotConnect: Int32 = 3
}

/// A failure that says which exit status it calls for.
struct CommandFailure: Error, CustomStringConvertible {
    let status: Int32
    let description: String
}

/// `allocatorctl plan`: the whole mapping a strategy gives, with no daemon and no ZooKeeper.
struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the mapping a strategy gives for members and partitions, as {\"MEMBER\": {\"TOPIC\": [ID, ...]}}.")

    @Option(help: "round-robin, range, consistent or exec:PATH.")
    var strategy: String

    @Option(help: "Member names, comma-separated.")
    var members: String?

    @Option(name: .customLong("members-file"), help: "A file with one member name a line.")
    var membersFile: String?

    @Option(help: "Partitions as TOPIC:IDS[,TOPIC:IDS...], e.g. orders:0-11,payments:3.")
    var partitions: String?

    @Option(name: .customLong("partitions-file"), help: "A file with one partition (TOPIC:ID) a line.")
    var partitionsFile: String?

    @Option(name: .customLong("exec-timeout"), help: "How long an exec: strategy may run, in milliseconds.")
    var execTimeout = 10_000

    func validate() throws {
        guard (members == nil) != (membersFile == nil) else {
            throw ValidationError("give exactly one of --members and --members-file")
        }
        guard (partitions == nil) != (partitionsFile == nil) else {
            throw ValidationError("give exactly one of --partitions and --partitions-file")
        }
        guard execTimeout > 0 else { throw ValidationError("--exec-timeout: \(execTimeout) is not a positive number of milliseconds") }
    }

    func run() async throws {
        let strategy: Strategy
        do {
            strategy = try Strategy(parsing: self.strategy)
        } catch {
            throw ValidationError("--strategy: \(error)")
        }
        let names = try memberNames()
        let partitions = try partitionList()
        do {
            let allocation = try await strategy.allocate(members: names, partitions: partitions, execTimeout: .milliseconds(execTimeout))
            print(allocation.json)
        } catch {
            throw CommandFailure(status: ExitStatus.daemonError, description: "\(error)")
        }
    }

    private func memberNames() throws -> [String] {
        let names = try membersFile.map { try lines(of: $0, option: "--members-file") }
            ?? (members ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for name in names {
            if let problem = MemberName.problem(with: name) {
                throw ValidationError("\(membersFile == nil ? "--members" : "--members-file"): \(problem)")
            }
        }
        return names
    }

    private func partitionList() throws -> [Partition] {
        if let partitionsFile {
            return try lines(of: partitionsFile, option: "--partitions-file").map { line in
                do {
                    return try Partition(parsing: line)
                } catch {
                    throw ValidationError("--partitions-file: \(error)")
                }
            }
        }
        do {
            return try PartitionSpec(parsing: partitions ?? "").partitions
        } catch {
            throw ValidationError("--partitions: \(error)")
        }
    }

    /// The non-empty lines of a file.
    private func lines(of path: String, option: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(option): cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("\(option): \(path) is not UTF-8")
        }
        return text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
    }
}
