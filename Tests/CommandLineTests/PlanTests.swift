import Allocation
import Foundation
import Testing
import TestSupport

/// `allocatorctl plan` (spec §10): any strategy, offline, the exit codes of the spec.
@Suite struct PlanTests {
    @Test(arguments: ["round-robin", "range", "consistent", "sticky"])
    func printsTheStrategysWholeMapping(strategy: String) async throws {
        let result = try await runProduct("allocatorctl", [
            "plan", "--strategy", strategy, "--members", "c,a,b", "--partitions", "orders:0-11,payments:3",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let expected = try #require(try Strategy(parsing: strategy).pure).allocate(
            members: ["a", "b", "c"], partitions: try PartitionSpec(parsing: "orders:0-11,payments:3").partitions)
        #expect(result.output == expected.json + "\n")
    }

    @Test func readsLargeInputsFromFiles() async throws {
        let directory = URL(fileURLWithPath: temporaryPath("plan"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let members = (0..<50).map { "member-\($0)" }
        let partitions = (0..<2000).map { Partition(topic: "t\($0 % 7)", id: $0) }
        try Data(members.joined(separator: "\n").utf8).write(to: directory.appendingPathComponent("members"))
        try Data((partitions.map(\.description).joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("partitions"))
        let result = try await runProduct("allocatorctl", [
            "plan", "--strategy", "consistent",
            "--members-file", directory.appendingPathComponent("members").path,
            "--partitions-file", directory.appendingPathComponent("partitions").path,
        ])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == PureStrategy.consistent.allocate(members: members, partitions: partitions).json + "\n")
    }

    @Test func runsAnExecStrategy() async throws {
        let path = temporaryPath("plan-exec")
        try Data("#!/bin/sh\ncat >/dev/null\necho '{\"a\": {\"t\": [1, 0]}}'\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        defer { unlink(path) }
        let result = try await runProduct("allocatorctl", ["plan", "--strategy", "exec:" + path, "--members", "a", "--partitions", "t:0-1"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == #"{"a":{"t":[0,1]}}"# + "\n")
    }

    /// A join and a leave through `plan --current`, as an operator previews them: sticky moves
    /// exactly the joiner's share, then exactly the leaver's, and keeps max − min ≤ 1.
    @Test func stickyTakesTheCurrentMappingAPlanPrinted() async throws {
        let spec = "orders:0-40,payments:0-9"
        let partitions = try PartitionSpec(parsing: spec).partitions
        let start = try await plan(["--strategy", "consistent", "--members", "a,b,c", "--partitions", spec])
        let joined = try await plan(["--strategy", "sticky", "--members", "a,b,c,d", "--partitions", spec], current: start)
        let left = try await plan(["--strategy", "sticky", "--members", "a,c,d", "--partitions", spec], current: joined)
        for (before, after, changed) in [(start, joined, "d"), (joined, left, "b")] {
            let (beforeMapping, afterMapping) = (try mapping(before), try mapping(after))
            let old = try Allocation.validated(mapping: beforeMapping, members: Array(beforeMapping.keys), partitions: partitions)
            let new = try Allocation.validated(mapping: afterMapping, members: Array(afterMapping.keys), partitions: partitions)
            let expected = PureStrategy.sticky.allocate(members: new.members, partitions: partitions, current: CurrentHoldings(mapping: beforeMapping))
            #expect(after == expected.json + "\n")
            let moved = partitions.filter { old.owner(of: $0) != new.owner(of: $0) }.count
            #expect(moved == (changed == "d" ? new : old).partitions(of: changed).count)
            let counts = new.members.map { new.partitions(of: $0).count }
            #expect(counts.max()! - counts.min()! <= 1)
        }
    }

    @Test(arguments: ["consistent", "sticky"])
    func weightsGiveSharesInProportion(strategy: String) async throws {
        let output = try await plan(["--strategy", strategy, "--members", "a,b,c", "--partitions", "t:0-49", "--weights", "b=3,c=1"])
        let counts = try mapping(output).mapValues { $0.values.reduce(0) { $0 + $1.count } }
        #expect(counts == ["a": 10, "b": 30, "c": 10])
    }

    @Test func roundRobinSaysItIgnoresWeights() async throws {
        let result = try await runProduct("allocatorctl", ["plan", "--strategy", "round-robin", "--members", "a,b", "--partitions", "t:0-3", "--weights", "a=2"])
        #expect(result.status == 0)
        #expect(result.errors.contains("round-robin ignores --weights"))
        #expect(result.output == PureStrategy.roundRobin.allocate(members: ["a", "b"], partitions: try PartitionSpec(parsing: "t:0-3").partitions).json + "\n")
    }

    /// allocatorctl is the socket client and `plan`: it must run where the ZooKeeper C library
    /// is not installed.
    @Test func allocatorctlDoesNotLinkTheZooKeeperLibrary() async throws {
        let result = try await runProcess("/usr/bin/ldd", [productsDirectory.appendingPathComponent("allocatorctl").path])
        #expect(result.status == 0)
        #expect(result.output.contains("libc.so"))
        #expect(!result.output.contains("zookeeper"), "\(result.output)")
    }

    /// Runs `allocatorctl plan`, with `current` in a file for `--current`; returns its output.
    private func plan(_ arguments: [String], current: String? = nil) async throws -> String {
        var arguments = ["plan"] + arguments
        if let current {
            let path = temporaryPath("plan-current")
            try Data(current.utf8).write(to: URL(fileURLWithPath: path))
            arguments += ["--current", path]
        }
        let result = try await runProduct("allocatorctl", arguments)
        #expect(result.status == 0, "\(result.errors)")
        return result.output
    }

    private func mapping(_ output: String) throws -> [String: [String: [Int]]] {
        try JSONDecoder().decode([String: [String: [Int]]].self, from: Data(output.utf8))
    }

    @Test(arguments: [
        (["plan", "--strategy", "fastest", "--members", "a", "--partitions", "t:0"], 2, "fastest"),
        (["plan", "--strategy", "consistent", "--members", "a", "--partitions", "t:0", "--current", "/dev/null"], 2, "only sticky"),
        (["plan", "--strategy", "sticky", "--members", "a", "--partitions", "t:0", "--current", "/nonexistent"], 2, "cannot read"),
        (["plan", "--strategy", "sticky", "--members", "a", "--partitions", "t:0", "--weights", "a=0"], 2, "from 1 to 100"),
        (["plan", "--strategy", "sticky", "--members", "a", "--partitions", "t:0", "--weights", "a=101"], 2, "from 1 to 100"),
        (["plan", "--strategy", "sticky", "--members", "a", "--partitions", "t:0", "--weights", "z=2"], 2, "not one of the members"),
        (["plan", "--strategy", "sticky", "--members", "a", "--partitions", "t:0", "--weights", "a"], 2, "NAME=WEIGHT"),
        (["plan", "--strategy", "exec:relative/path", "--members", "a", "--partitions", "t:0"], 2, "relative/path"),
        (["plan", "--strategy", "range", "--members", "a", "--partitions", "t:01"], 2, "leading zero"),
        (["plan", "--strategy", "range", "--members", "a", "--partitions", "bad topic:1"], 2, "bad topic"),
        (["plan", "--strategy", "range", "--members", "a,,b", "--partitions", "t:0"], 2, "--members"),
        (["plan", "--strategy", "range", "--members", "a/b", "--partitions", "t:0"], 2, "--members"),
        (["plan", "--strategy", "range", "--partitions", "t:0"], 2, "--members"),
        (["plan", "--strategy", "range", "--members", "a"], 2, "--partitions"),
        (["plan", "--strategy", "range", "--members", "a", "--partitions-file", "/nonexistent"], 2, "cannot read"),
        (["plan", "--strategy", "exec:/nonexistent/allocate", "--members", "a", "--partitions", "t:0"], 1, "could not start"),
        (["frobnicate"], 2, "frobnicate"),
        (["set-strategy"], 2, "Missing expected argument"),
        (["--socket", "/nonexistent/allocatord.sock", "set-strategy", "sticky"], 3, "/nonexistent/allocatord.sock"),
    ] as [([String], Int32, String)])
    func refusesBadInputWithTheSpecsExitCodes(arguments: [String], status: Int32, message: String) async throws {
        let result = try await runProduct("allocatorctl", arguments)
        #expect(result.status == status)
        #expect(result.errors.contains(message), "\(result.errors)")
        #expect(result.output.isEmpty)
    }
}

/// `--current` files that cannot be a current mapping.
@Suite struct PlanCurrentFileTests {
    @Test(arguments: [
        (#"{"a": {"t": [0]}, "b": {"t": [0]}}"#, #"t:0 is held by both "a" and "b""#),
        (#"{"a": {"t": [1, 1]}}"#, #"t:1 is held twice by "a""#),
        (#"{"a": {"t": [-1]}}"#, "t:-1"),
        (#"{"a": {"bad topic": [1]}}"#, "bad topic"),
        (#"["a"]"#, "is not a mapping"),
    ])
    func refusesWhatIsNotAMapping(file: String, message: String) async throws {
        let path = temporaryPath("plan-current")
        try Data(file.utf8).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let result = try await runProduct("allocatorctl", [
            "plan", "--strategy", "sticky", "--members", "a,b", "--partitions", "t:0-3", "--current", path,
        ])
        #expect(result.status == 2)
        #expect(result.errors.contains(message), "\(result.errors)")
        #expect(result.output.isEmpty)
    }
}
