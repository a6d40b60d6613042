import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Bad input everywhere: the daemon never crashes, and never publishes anything but the
    /// strategy's result for a view it read (less partitions still being handed over to it), or
    /// an empty share.
    @Suite(.serialized) struct BadInputTests {
        // Long enough that a loaded CI machine cannot make a lease lapse between renewals here:
        // these schedules are about bad input, not session loss.
        static let arguments = ["--session-timeout", "4000"]

        /// Every document with a share must carry `strategy`'s share for its members and one of
        /// the partition sets the test had written (`sets`, found by count), less partitions its
        /// previous holder has not released yet (docs/allocator.md, "Handovers"): never a
        /// partition outside the strategy's share.
        static func expectOnlyStrategyResults(
            _ cluster: Cluster, _ strategy: Strategy, sets: [[String]], sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let sets = sets.map { $0.map { try! Partition(parsing: $0) }.sorted() }
            for observation in cluster.observer.observations where !observation.document.allocation.isEmpty {
                let document = observation.document
                let candidates = sets.filter { $0.count == document.partitionCount }
                let published = Set(partitions(of: document))
                let matches = candidates.contains { set in
                    let share = strategy.pure!.allocate(members: document.members, partitions: set).partitions(of: document.member)
                    return published.isSubset(of: Set(share))
                }
                #expect(matches, "not the strategy's result for any view: \(document.json)", sourceLocation: sourceLocation)
            }
        }

        /// A JSON object of the daemon's status, through its socket.
        static func status(_ daemon: DaemonProcess) async -> [String: Any]? {
            let socket = daemon.socket
            guard let line = await RawSocket.command("status", to: socket) else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }

        @Test(.timeLimit(.minutes(1))) func corruptPartitionDataFromAnotherClient() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(zk: server.connectString, arguments: Self.arguments + ["--partitions", "t:0-7"])
            for name in ["a", "b"] { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitionNames("t", 0..<8))
            let writer = try await ZNodeWriter(server)
            let path = "/kiel/groups/\(cluster.group)/partitions"
            var random = SystemRandomNumberGenerator()
            let garbage: [[UInt8]] = [
                Array("not json".utf8), Array(#"{"t:0": true}"#.utf8), Array("[1, 2]".utf8), Array(#"["t:01"]"#.utf8),
                Array(#"["t:0", 5]"#.utf8), Array(#"["x"]"#.utf8), Array(#"["t:0", "t:-1"]"#.utf8), Array("[\"t:0\"".utf8),
                [0xFF, 0xFE, 0x00, 0x80], (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) },
                Array(String(repeating: "[", count: 100_000).utf8),  // deep nesting
                Array(("[" + (0..<30_000).map { "\"t:\($0)x\"" }.joined(separator: ",") + "]").utf8),  // big, one bad item each
            ]
            for (index, data) in garbage.enumerated() {
                try await writer.set(path, data)
                // Reported, not crashed, not written over; the share stays the last good one.
                let reported = await eventually { await Self.status(cluster["a"])?["partitions_malformed"] is String }
                #expect(reported, "garbage #\(index) not reported")
                #expect(await eventually { await Self.status(cluster["b"])?["partitions_malformed"] is String })
                #expect(try await writer.get(path) == data, "garbage #\(index) was written over")
                let add = try await runProduct("allocatorctl", ["--socket", cluster["a"].socket, "add", "t:99"])
                #expect(add.status == 1, "add over garbage #\(index): \(add.output)")
                #expect(cluster["a"].process.isRunning && cluster["b"].process.isRunning)
                #expect(cluster["a"].fileDocument?.partitionCount == 8)
            }
            // repair writes the last good set back (conditionally on the garbage's version).
            let repair = try await runProduct("allocatorctl", ["--socket", cluster["b"].socket, "repair"])
            #expect(repair.status == 0, "\(repair.errors)")
            try await cluster.waitForAgreement(partitions: partitionNames("t", 0..<8), "after repair")
            // A valid set from another client is taken up.
            try await writer.set(path, Array(#"["t:0", "t:1", "t:2", "u:0"]"#.utf8))
            let settled = try await cluster.waitForAgreement(partitions: ["t:0", "t:1", "t:2", "u:0"], "after a good write")
            await writer.close()
            await cluster.stopAll()
            Self.expectOnlyStrategyResults(
                cluster, .consistent, sets: [(0..<8).map { "t:\($0)" }, ["t:0", "t:1", "t:2", "u:0"]])
            cluster.expectNoOverlap("corrupt partition data from another client", settledAt: settled, partitions: ["t:0", "t:1", "t:2", "u:0"])
        }

        /// A group node of garbage when a member starts (or starts a new session): the member
        /// says so in `status`'s `last_error`, tries again, and joins once the node is repaired.
        /// It exited with status 1, and systemd's start limit could leave it down after the
        /// repair (spec §13: the members recover by themselves once the data allows it).
        @Test(.timeLimit(.minutes(1))) func aGroupNodeOfGarbageAtStartIsWaitedOut() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(zk: server.connectString, arguments: Self.arguments + ["--partitions", "t:0-3"])
            let writer = try await ZNodeWriter(server)
            defer { Task { await writer.close() } }
            let group = "/kiel/groups/\(cluster.group)"
            try await writer.set(group, Array(#"{"strategy":7}"#.utf8))
            let a = try cluster.start("a")
            let reported = await eventually {
                (await Self.status(a)?["last_error"] as? String)?.contains("do not parse: \"strategy\" is not a string") == true
            }
            #expect(reported, "no last_error about the group node; log:\n\(a.log)")
            #expect(a.process.isRunning, "a exited: \(a.log)")
            try await writer.set(group, [])
            try await cluster.waitForAgreement(["a"], partitions: partitionNames("t", 0..<4), "a, the group node repaired")
            #expect((await Self.status(a)?["last_error"]).map { $0 is NSNull } == true)
            await cluster.stopAll()
        }

        @Test(.timeLimit(.minutes(1))) func memberNodesWithGarbageData() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(zk: server.connectString, arguments: Self.arguments + ["--partitions", "t:0-8"])
            for name in ["a", "b"] { try cluster.start(name) }
            let partitions = partitionNames("t", 0..<9)
            try await cluster.waitForAgreement(partitions: partitions)
            let writer = try await ZNodeWriter(server)
            let members = "/kiel/groups/\(cluster.group)/members"
            var random = SystemRandomNumberGenerator()
            let garbage: [(String, [UInt8])] = [
                ("g-bytes", (0..<512).map { _ in UInt8.random(in: 0...255, using: &random) }),
                ("g-json", Array(#"{"generation":"many","digest":7,"version":99}"#.utf8)),
                ("g-big", Array(repeating: 0x7B, count: 200_000)),
                ("g-empty", []),
                ("ü-unicode", Array("\u{0}\u{1}".utf8)),
            ]
            for (name, data) in garbage { try await writer.createEphemeral(members + "/" + name, data) }
            // The daemons' own nodes overwritten with garbage too.
            try await writer.set(members + "/a", [0xC0, 0xFF, 0xEE])
            let all = (["a", "b"] + garbage.map(\.0)).sorted(by: utf8Precedes)
            for name in ["a", "b"] {
                try await cluster[name].waitForFile("\(name) sees the garbage members") { $0.members == all && $0.state == .active }
            }
            let report = try await runProduct("allocatorctl", ["--socket", cluster["a"].socket, "members"])
            #expect(report.status == 0, "\(report.errors)")
            // The garbage members leave with their session; the group settles back.
            await writer.close()
            let settled = try await cluster.waitForAgreement(partitions: partitions, "after the garbage left")
            #expect(cluster["a"].process.isRunning && cluster["b"].process.isRunning)
            await cluster.stopAll()
            Self.expectOnlyStrategyResults(cluster, .consistent, sets: [(0..<9).map { "t:\($0)" }])
            // Partitions given to the garbage members have no observed holder meanwhile: only the
            // end is checked for ownership.
            cluster.expectNoOverlap("member znodes with garbage data", settledAt: settled, partitions: partitions)
        }

        /// An `exec:` allocator that behaves (kiel's round-robin) until told to crash, die by a
        /// signal, hang, print invalid JSON or an invalid mapping.
        static let allocatorScript = #"""
            #!/usr/bin/env python3
            import json, os, sys, time
            mode = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mode")).read().strip()
            view = json.load(sys.stdin)
            members, partitions = view["members"], view["partitions"]
            mapping = {m: {} for m in members}
            for i, p in enumerate(partitions):
                topic, pid = p.rsplit(":", 1)
                mapping[members[i % len(members)]].setdefault(topic, []).append(int(pid))
            if mode == "crash": sys.exit(3)
            if mode == "signal": os.kill(os.getpid(), 11)
            if mode == "hang": time.sleep(60)
            if mode == "json": print("{not json"); sys.exit(0)
            if mode == "missing": mapping[members[0]] = {}
            if mode == "twice":
                for m in members: mapping[m] = {"t": [0]}
            if mode == "stranger": mapping["stranger"] = mapping.pop(members[0])
            if mode == "shape": print(json.dumps([members, partitions])); sys.exit(0)
            print(json.dumps(mapping))
            """#

        @Test(.timeLimit(.minutes(1))) func anExecAllocatorThatCrashesHangsOrLies() async throws {
            let server = try await TestZooKeeper.shared.value
            let folder = temporaryPath("exec")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let script = folder + "/allocator.py"
            try Data(Self.allocatorScript.utf8).write(to: URL(fileURLWithPath: script))
            chmod(script, 0o755)
            func mode(_ mode: String) throws { try Data(mode.utf8).write(to: URL(fileURLWithPath: folder + "/mode")) }
            try mode("good")

            let cluster = try Cluster(
                zk: server.connectString,
                arguments: Self.arguments + ["--strategy", "exec:" + script, "--exec-timeout", "700", "--partitions", "t:0-5"])
            for name in ["a", "b"] { try cluster.start(name) }
            try await cluster.waitForAgreement(partitions: partitionNames("t", 0..<6))
            var sets: [[String]] = [(0..<6).map { "t:\($0)" }]
            var count = 6
            var settled = ContinuousClock.now
            for bad in ["crash", "signal", "hang", "json", "missing", "twice", "stranger", "shape"] {
                try mode(bad)
                let last = try #require(cluster["a"].fileDocument)
                let add = try await runProduct("allocatorctl", ["--socket", cluster["a"].socket, "add", "t:\(count)"])
                #expect(add.status == 0, "\(add.errors)")
                count += 1
                // The leader, which runs the program (spec §14), reports the error (the good
                // round before cleared the last one); the last good allocation (and its
                // generation) stays.
                let reported = await eventually(timeout: .seconds(5)) {
                    for name in ["a", "b"] {
                        guard let status = await Self.status(cluster[name]), status["role"] as? String == "leader" else { continue }
                        return (status["last_error"] as? String)?.isEmpty == false
                    }
                    return false
                }
                #expect(reported, "\(bad): no error reported")
                #expect(cluster["a"].process.isRunning && cluster["b"].process.isRunning, "\(bad)")
                let now = try #require(cluster["a"].fileDocument)
                #expect(
                    now.generation == last.generation && now.allocation == last.allocation,
                    "\(bad): \(last.json) then \(now.json)\n--- a:\n\(cluster["a"].log.suffix(3000))\n--- b:\n\(cluster["b"].log.suffix(3000))")
                // Good again: the next view is allocated.
                try mode("good")
                let fix = try await runProduct("allocatorctl", ["--socket", cluster["b"].socket, "add", "u:\(count)"])
                #expect(fix.status == 0)
                sets.append((0..<count).map { "t:\($0)" } + ["u:\(count)"])
                try await cluster.waitForAgreement(partitions: Set(sets.last!), "\(bad) then good")
                _ = try await runProduct("allocatorctl", ["--socket", cluster["b"].socket, "remove", "u:\(count)"])
                sets.append((0..<count).map { "t:\($0)" })
                settled = try await cluster.waitForAgreement(partitions: Set(sets.last!), "\(bad): u removed")
            }
            await cluster.stopAll()
            Self.expectOnlyStrategyResults(cluster, .roundRobin, sets: sets)
            // Only the leader runs the program (spec §14): followers follow its grants, so a slow
            // program delays a handover but never makes one overlap.
            cluster.expectNoOverlap("exec: allocator that crashes, hangs, prints bad JSON or a bad mapping", settledAt: settled, partitions: Set(sets.last!))
        }
    }
}
