import Allocation
import ExecAllocation
import ArgumentParser
import ControlProtocol
import Foundation

/// `allocatorctl`, the command-line client of allocatord (spec §10).
///
/// Exit codes: 0 success, 1 the daemon answered with an error, 2 usage, 3 cannot connect.
@main
struct Allocatorctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The command-line client of allocatord.",
        discussion: "The daemon's socket: --socket PATH, or --group G for \(DaemonSocket.defaultPath(group: "G")).",
        version: "allocatorctl \(ProductVersion.current)",
        subcommands: [
            Get.self, Watch.self, Status.self, Members.self, Add.self, Remove.self, Repair.self, SetStrategy.self, Release.self,
            Check.self, Ping.self, Plan.self,
        ])

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

    @Option(help: "round-robin, range, consistent, sticky or exec:PATH.")
    var strategy: String

    @Option(help: "Member names, comma-separated.")
    var members: String?

    @Option(name: .customLong("members-file"), help: "A file with one member name a line.")
    var membersFile: String?

    @Option(help: "Partitions as TOPIC:IDS[,TOPIC:IDS...], e.g. orders:0-11,payments:3.")
    var partitions: String?

    @Option(name: .customLong("partitions-file"), help: "A file with one partition (TOPIC:ID) a line.")
    var partitionsFile: String?

    @Option(help: "Members' weights as NAME=W[,NAME=W...], W from 1 to \(MemberWeights.maximum); others weigh 1 (consistent, sticky).")
    var weights: String?

    @Option(help: "sticky: a file with the current mapping, in the shape plan prints.")
    var current: String?

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
        let weights = try memberWeights(of: names)
        if current != nil && strategy != .sticky {
            throw ValidationError("--current: only sticky looks at the current mapping, not \(strategy)")
        }
        if !weights.areAllOne(for: names) && strategy.pure?.honoursWeights != true {
            FileHandle.standardError.write(Data("allocatorctl: \(strategy) ignores --weights\n".utf8))
        }
        let holdings = try current.map(currentHoldings(in:)) ?? CurrentHoldings()
        do {
            let allocation = try await strategy.allocate(
                members: names, partitions: partitions, weights: weights, current: holdings, execTimeout: .milliseconds(execTimeout))
            FileHandle.standardOutput.write(Data(allocation.jsonUTF8 + [UInt8(ascii: "\n")]))
        } catch {
            throw CommandFailure(status: ExitStatus.daemonError, description: "\(error)")
        }
    }

    /// `--weights NAME=W,...`: each name one of `names` (split at its last `=`), each weight a
    /// whole number from 1 to `MemberWeights.maximum`.
    private func memberWeights(of names: [String]) throws -> MemberWeights {
        guard let weights, !weights.isEmpty else { return MemberWeights() }
        var result: [(member: String, weight: Int)] = []
        for entry in weights.split(separator: ",", omittingEmptySubsequences: false) {
            guard let equals = entry.lastIndex(of: "=") else {
                throw ValidationError("--weights: \"\(entry)\" is not NAME=WEIGHT")
            }
            let name = String(entry[..<equals])
            guard let weight = Int(entry[entry.index(after: equals)...]), (1...MemberWeights.maximum).contains(weight) else {
                throw ValidationError("--weights: the weight of \"\(name)\" is not a whole number from 1 to \(MemberWeights.maximum)")
            }
            guard names.contains(where: { $0.utf8.elementsEqual(name.utf8) }) else {
                throw ValidationError("--weights: \"\(name)\" is not one of the members")
            }
            result.append((name, weight))
        }
        return MemberWeights(result)
    }

    /// The mapping in the file `--current` names, `{"MEMBER": {"TOPIC": [ID, ...]}}`: every
    /// partition valid and held by one member only. Members and partitions no longer in the
    /// group are allowed (sticky ignores them).
    private func currentHoldings(in path: String) throws -> CurrentHoldings {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--current: cannot read \(path)")
        }
        let mapping: [(member: String, share: MappingText.Share)]
        do {
            mapping = try MappingText.parse(Array(data))
        } catch {
            throw ValidationError("--current: \(path) is \(error)")
        }
        var seen: [[UInt8]: Set<Int>] = [:]  // topic bytes → ids held (Partition hashing cost 10 ms here)
        var holdings: [(member: String, partitions: [Partition])] = []
        // In UTF-8 order, so that the fault reported does not depend on the file's order.
        for (member, share) in mapping.sorted(by: { utf8Precedes($0.member, $1.member) }) {
            var held: [Partition] = []
            for (topic, ids) in share.sorted(by: { utf8Precedes($0.topic, $1.topic) }) {
                let topicKey = Array(topic.utf8)
                var seenInTopic = seen.removeValue(forKey: topicKey) ?? []  // out of the dictionary: no copy on insert
                defer { seen[topicKey] = seenInTopic }
                for id in ids {
                    let partition = Partition(topic: topic, id: id)
                    if held.isEmpty || held.last!.topic != topic || id < 0 {
                        // Checked once a topic (and for a negative id): the spec's rules.
                        do {
                            _ = try Partition(parsing: partition.description)
                        } catch {
                            throw ValidationError("--current: \(error)")
                        }
                    }
                    guard seenInTopic.insert(id).inserted else {
                        let other = held.contains(partition) ? member
                            : holdings.first { $0.partitions.contains(partition) }?.member ?? member
                        let who = other.utf8.elementsEqual(member.utf8) ? "twice by \"\(member)\"" : "by both \"\(other)\" and \"\(member)\""
                        throw ValidationError("--current: \(partition) is held \(who)")
                    }
                    held.append(partition)
                }
            }
            holdings.append((member, held))
        }
        return CurrentHoldings(holdings)
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
