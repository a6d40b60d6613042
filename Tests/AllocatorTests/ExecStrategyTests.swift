import Allocation
import Allocator
import Foundation
import Testing
import TestSupport

/// `exec:PATH` strategies: a real program is the allocator; its failures keep the last good
/// allocation (spec §6).
@Suite struct ExecStrategyTests {
    /// A round-robin allocator in Python, as a user would write one.
    static let roundRobin = """
        #!/usr/bin/python3
        import json, sys
        request = json.load(sys.stdin)
        mapping = {member: {} for member in request["members"]}
        for index, partition in enumerate(request["partitions"]):
            topic, pid = partition.rsplit(":", 1)
            member = request["members"][index % len(request["members"])]
            mapping[member].setdefault(topic, []).append(int(pid))
        print(json.dumps(mapping))
        """

    private func program(_ text: String) throws -> String {
        let directory = URL(fileURLWithPath: temporaryPath("allocatord-exec"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("allocate").path
        try write(text, to: path)
        return path
    }

    private func write(_ text: String, to path: String) throws {
        // Replace, never rewrite in place: a running program keeps its file.
        let temporary = path + ".new"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        chmod(temporary, 0o755)
        rename(temporary, path)
    }

    @Test func membersAgreeOnAnExternalAllocation() async throws {
        let server = try await TestZooKeeper.shared.value
        let path = try program(Self.roundRobin)
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", strategy: .exec(path: path), seed: "t:0-4,u:0")
        let b = try RunningMember(server, group: group, name: "b", strategy: .exec(path: path))
        defer { Task { await a.stop(); await b.stop() } }
        let documents = try await waitForAgreement([a, b], partitionCount: 6)
        let expected = PureStrategy.roundRobin.allocate(members: ["a", "b"], partitions: try PartitionSpec(parsing: "t:0-4,u:0").partitions)
        for document in documents {
            #expect(document.strategy == "exec:\(path)")
            #expect(document.allocation == expected.share(of: document.member))
        }
    }

    @Test(arguments: [
        ("crash", "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)", "exited with status 3: boom"),
        ("garbage", "print('nope')", "printed no mapping"),
        ("incomplete", "import json, sys\nr = json.load(sys.stdin)\nprint(json.dumps({r['members'][0]: {'t': [0]}}))", "invalid allocation"),
        ("stranger", "import json, sys\nr = json.load(sys.stdin)\nprint(json.dumps({'zz': {'t': [0]}}))", "not a member"),
        ("hang", "import time\ntime.sleep(30)", "did not finish within"),
        ("killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal"),
    ])
    func aFailingAllocatorKeepsTheLastGoodAllocation(name: String, body: String, reason: String) async throws {
        let server = try await TestZooKeeper.shared.value
        let path = try program(Self.roundRobin)
        let group = uniqueGroup(name)
        // A timeout short enough for `hang`, long enough for Python to start on a busy machine
        // (at 500 ms the good program itself timed out again and again under the full suite).
        let a = try RunningMember(
            server, group: group, name: "a", strategy: .exec(path: path), seed: "t:0-3", execTimeout: .seconds(3))
        defer { Task { await a.stop() } }
        let good = try await a.waitFor("active") { $0.state == .active && $0.partitionCount == 4 }

        try write("#!/usr/bin/python3\n" + body + "\n", to: path)
        _ = try await a.member.commands().add([Partition(topic: "t", id: 4)])
        #expect(await eventually(timeout: .seconds(15)) { await a.member.status.lastError?.contains(reason) == true })
        let kept = try #require(a.latest)
        #expect(kept.state == .active)
        #expect(kept.generation == good.generation)
        #expect(kept.allocation == good.allocation)
        #expect(kept.partitionCount == 4)
    }

    @Test func aFailureIsTriedAgainWithoutAChange() async throws {
        let server = try await TestZooKeeper.shared.value
        // Fails on its first run only (as a program might while its machine is overloaded); the
        // second run waits until the test has seen the first one's error (a busy machine may
        // otherwise retry and clear it before the test looks).
        let path = try program(Self.roundRobin.replacingOccurrences(of: "import json, sys\n", with: """
            import json, os, sys, time
            folder = os.path.dirname(sys.argv[0])
            if not os.path.exists(os.path.join(folder, "ran-once")):
                open(os.path.join(folder, "ran-once"), "w").close()
                sys.exit(1)
            while not os.path.exists(os.path.join(folder, "go")):
                time.sleep(0.01)

            """))
        let a = try RunningMember(
            server, group: uniqueGroup(), name: "a", strategy: .exec(path: path), seed: "t:0-3", execTimeout: .seconds(60))
        defer { Task { await a.stop() } }
        #expect(await eventually(timeout: .seconds(30)) { await a.member.status.lastError?.contains("exited with status 1") == true })
        _ = FileManager.default.createFile(atPath: (path as NSString).deletingLastPathComponent + "/go", contents: nil)
        // Nothing changes in the group; the member tries again by itself.
        let active = try await a.waitFor("active after the retry") { $0.state == .active }
        #expect(active.allocation["t"] == [0, 1, 2, 3])
    }

    @Test func aMissingProgramIsReported() async throws {
        let server = try await TestZooKeeper.shared.value
        let a = try RunningMember(server, group: uniqueGroup(), name: "a", strategy: .exec(path: "/nonexistent/allocate"), seed: "t:0")
        defer { Task { await a.stop() } }
        // A generous wait: under load the join and the election come first.
        #expect(await eventually(timeout: .seconds(30)) { await a.member.status.lastError?.contains("could not start") == true })
        #expect(a.latest?.state == .joining)
        #expect(a.latest?.allocation.isEmpty == true)
    }
}
