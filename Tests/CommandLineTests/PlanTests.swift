import Allocation
import Foundation
import Testing
import TestSupport

/// `allocatorctl plan` (spec §10): any strategy, offline, the exit codes of the spec.
@Suite struct PlanTests {
    @Test(arguments: ["round-robin", "range", "consistent"])
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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString.prefix(8))")
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
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plan-exec-\(UUID().uuidString.prefix(8))").path
        try Data("#!/bin/sh\ncat >/dev/null\necho '{\"a\": {\"t\": [1, 0]}}'\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        defer { unlink(path) }
        let result = try await runProduct("allocatorctl", ["plan", "--strategy", "exec:" + path, "--members", "a", "--partitions", "t:0-1"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == #"{"a":{"t":[0,1]}}"# + "\n")
    }

    @Test(arguments: [
        (["plan", "--strategy", "fastest", "--members", "a", "--partitions", "t:0"], 2, "fastest"),
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
    ] as [([String], Int32, String)])
    func refusesBadInputWithTheSpecsExitCodes(arguments: [String], status: Int32, message: String) async throws {
        let result = try await runProduct("allocatorctl", arguments)
        #expect(result.status == status)
        #expect(result.errors.contains(message), "\(result.errors)")
        #expect(result.output.isEmpty)
    }
}
