import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport
import ZooKeeper

/// `allocatord` as a real process against a real ZooKeeper (spec §8–§12).
@Suite struct DaemonTests {
    @Test func theFileAndGetAgreeAndReadyComesAfterBoth() async throws {
        let server = try await TestZooKeeper.shared.value
        let notify = try NotifyListener()
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-5", "--session-timeout", "2000"],
            environment: ["NOTIFY_SOCKET": notify.path])
        defer { Task { await daemon.stop() } }

        let document = try await daemon.waitForFile("active") { $0.state == .active }
        #expect(document.allocation == ["t": [0, 1, 2, 3, 4, 5]])
        let reply = try await runProduct("allocatorctl", ["--socket", daemon.socket, "get"])
        #expect(reply.status == 0)
        let fromSocket = try MemberDocument(json: Data(reply.output.utf8))
        #expect(fromSocket.generation == document.generation)
        #expect(fromSocket.allocation == document.allocation)

        #expect(await eventually { notify.received.contains { $0.text.contains("READY=1") } })
        let ready = try #require(notify.received.first { $0.text.contains("READY=1") })
        #expect(ready.text.contains("STATUS=active, generation"))
    }

    @Test func sigtermPublishesStoppedAndTheOthersRebalanceAtOnce() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let notify = try NotifyListener()
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-9", "--session-timeout", "10000"])
        let b = try DaemonProcess(
            zk: server.connectString, group: group, member: "b", arguments: ["--session-timeout", "10000"],
            environment: ["NOTIFY_SOCKET": notify.path])
        defer { Task { await a.stop(); await b.stop() } }
        try await a.waitForFile("two members") { $0.state == .active && $0.members == ["a", "b"] }
        try await b.waitForFile("two members") { $0.state == .active && $0.members == ["a", "b"] }

        let stopped = Date.now
        b.signal(SIGTERM)
        #expect(await b.waitForExit() == 0)
        let last = try #require(b.fileDocument)
        #expect(last.state == .stopped)
        #expect(last.allocation.isEmpty)
        #expect(last.validUntil == nil)
        #expect(notify.received.contains { $0.text.contains("STOPPING=1") })
        // a takes everything well within the 10 s session timeout: b left the group. When a
        // made that document (its `updated_at`), not when this test, maybe starved, read it.
        let alone = try await a.waitForFile("alone") { $0.members == ["a"] && $0.allocation["t"]?.count == 10 }
        #expect(alone.updatedAt.timeIntervalSince(stopped) < 5, "a took over \(alone.updatedAt.timeIntervalSince(stopped)) s after b's SIGTERM")
    }

    @Test func aProgramNamedOnlyInZooKeeperIsNeverRun() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let folder = temporaryPath("exec")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let program = folder + "/allocate", ran = folder + "/ran"
        // Leaves a mark, then allocates everything to the first member.
        let script = """
            #!/usr/bin/python3
            import json, sys
            open("\(ran)", "a").write("ran\\n")
            r = json.load(sys.stdin)
            print(json.dumps({m: ({} if i else {"t": [int(p.split(":")[1]) for p in r["partitions"]]}) for i, m in enumerate(r["members"])}))
            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: program))
        chmod(program, 0o755)
        // Whoever can write the group node names the program (the reported attack).
        let zk = try await server.client()
        defer { Task { await zk.close() } }
        try await zk.ensurePath("/kiel/groups/\(group)")
        try await zk.setData("/kiel/groups/\(group)", Array(#"{"strategy":"exec:\#(program)"}"#.utf8))

        let adopting = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await adopting.stop() } }
        #expect(await adopting.waitForExit() == 78)
        #expect(adopting.log.contains("exec:\(program)\", a program named in ZooKeeper"))
        #expect(adopting.log.contains("--strategy exec:\(program)"))
        #expect(!FileManager.default.fileExists(atPath: ran))

        // A member configured with that same program follows the group and runs it.
        let configured = try DaemonProcess(
            zk: server.connectString, group: group, member: "b", arguments: ["--partitions", "t:0-3", "--strategy", "exec:\(program)"])
        defer { Task { await configured.stop() } }
        let document = try await configured.waitForFile("active") { $0.state == .active }
        #expect(document.allocation == ["t": [0, 1, 2, 3]])
        #expect(FileManager.default.fileExists(atPath: ran))
    }

    @Test func watchDeliversEveryGenerationInOrder() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await a.stop() } }
        try await a.waitForFile("active") { $0.state == .active }

        let lines = Shared<[String]>([])
        let watcher = try ChildProcess(
            productsDirectory.appendingPathComponent("allocatorctl").path, ["--socket", a.socket, "watch"],
            output: .lines { line in lines.update { $0.append(String(decoding: line, as: UTF8.self)) } })
        // The watch has its first document (4 partitions) before anything changes.
        #expect(await eventually { !lines.value.isEmpty })
        for id in 4..<14 {
            let reply = try await runProduct("allocatorctl", ["--socket", a.socket, "add", "t:\(id)"])
            #expect(reply.status == 0, "\(reply.errors)")
        }
        try await a.waitForFile("14 partitions") { $0.partitionCount == 14 }
        #expect(await eventually { lines.value.compactMap { try? MemberDocument(json: Data($0.utf8)) }.last?.partitionCount == 14 })
        watcher.signal(SIGTERM)
        let documents = lines.value.map { try? MemberDocument(json: Data($0.utf8)) }
        #expect(documents.allSatisfy { $0 != nil })
        let generations = documents.compactMap { $0?.generation }
        #expect(generations == generations.sorted())
        // One document per add: every generation was delivered.
        #expect(Set(documents.compactMap { $0?.partitionCount }) == Set(4...14))
    }

    @Test func aReaderPollingTheFileNeverSeesAPartialDocument() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-499"])
        defer { Task { await a.stop() } }
        try await a.waitForFile("active") { $0.state == .active }
        let path = a.stateFile
        let reads = Task.detached { () -> (Int, Int) in
            var good = 0, bad = 0
            for _ in 0..<5000 {
                if let data = FileManager.default.contents(atPath: path), (try? MemberDocument(json: data)) != nil {
                    good += 1
                } else {
                    bad += 1
                }
            }
            return (good, bad)
        }
        var members: [DaemonProcess] = []
        for index in 0..<3 {
            members.append(try DaemonProcess(zk: server.connectString, group: group, member: "m\(index)"))
        }
        let (good, bad) = await reads.value
        for member in members { await member.stop() }
        #expect(bad == 0)
        #expect(good == 5000)
    }

    @Test func theCLibrarysLogGoesThroughSwiftLog() async throws {
        let server = try await TestZooKeeper.shared.value
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0", "--log-level", "debug"])
        try await daemon.waitForFile("active") { $0.state == .active }
        await daemon.stop()
        let lines = daemon.log.split(separator: "\n")
        // The library's INFO lines arrive as debug under the label zookeeper.c, never raw.
        #expect(lines.contains { $0.contains(" debug zookeeper.c: ZOO_INFO@") })
        #expect(lines.filter { $0.contains("ZOO_") }.allSatisfy { $0.contains("zookeeper.c: ZOO_") })
    }

    @Test(arguments: [
        ["--session-timeout", "abc"], ["--strategy", "fastest"], ["--frobnicate"], ["--partitions", "t:01"],
        ["--zk", "nohost"], ["--log-level", "loud"], ["--socket", "/tmp/" + String(repeating: "s", count: 103)],
        ["--state-file", "/tmp"],
    ])
    func invalidConfigurationExits78NamingTheField(arguments: [String]) async throws {
        let result = try await runProduct("allocatord", ["--group", "g"] + arguments)
        #expect(result.status == 78)
        #expect(result.errors.contains(arguments[0].dropFirst(2)) || result.errors.contains(arguments[0]))
    }

    /// `--check-config` (spec §16): exit 0 or 78 with the field and the value, without
    /// connecting anywhere: a listener in place of ZooKeeper never sees a connection.
    @Test func checkConfigValidatesWithoutConnecting() async throws {
        let listener = try LoopbackListener()
        let folder = temporaryPath("allocatord")
        let valid = try await runProduct("allocatord", [
            "--check-config", "--group", "orders", "--zk", "127.0.0.1:\(listener.port)", "--member", "m1",
            "--state-file", folder + "/orders.json", "--socket", folder + "/orders.sock",
        ])
        #expect(valid.status == 0, "\(valid.errors)")
        #expect(valid.output.contains("the configuration is valid: group orders") && valid.output.contains("member m1"), "\(valid.output)")
        #expect(listener.acceptedAny == false, "--check-config connected to ZooKeeper")
        #expect(!FileManager.default.fileExists(atPath: folder), "--check-config made the state folder")

        let invalid = try await runProduct("allocatord", ["--check-config", "--group", "orders", "--session-timeout", "fast"])
        #expect(invalid.status == 78)
        #expect(invalid.errors.contains("session-timeout") && invalid.errors.contains("fast"), "\(invalid.errors)")
        #expect(invalid.output.isEmpty)
    }

    @Test func bothProgramsPrintTheOneVersion() async throws {
        let daemon = try await runProduct("allocatord", ["--version"])
        #expect(daemon.status == 0 && daemon.output == "allocatord \(ProductVersion.current)\n", "\(daemon.output)")
        let client = try await runProduct("allocatorctl", ["--version"])
        #expect(client.status == 0 && client.output == "allocatorctl \(ProductVersion.current)\n", "\(client.output)")
    }

    /// A group guarded by a credential: a member given it in a file with CRLF joins (the
    /// file's line ending is not the password's); one given another password for that user is
    /// refused by ZooKeeper and exits 78 naming zk-auth, without the password.
    @Test func aCredentialZooKeeperRefusesEndsTheDaemonWith78() async throws {
        let server = try await TestZooKeeper.shared.value
        let root = uniquePath(), group = uniqueGroup()
        let owner = try await server.client(digestCredential: "owner:right")
        for path in [root, root + "/groups", root + "/groups/" + group] {
            _ = try await owner.create(path, acl: ACL.creatorAllWorldRead)
        }
        await owner.close()
        let folder = temporaryPath("auth")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func credentialFile(_ text: String) throws -> String {
            let path = folder + "/\(UUID().uuidString.prefix(8))"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            return path
        }

        let refused = try DaemonProcess(
            zk: server.connectString, group: group, member: "a",
            arguments: ["--root", root, "--partitions", "t:0-3", "--zk-auth-file", try credentialFile("owner:wrong\r\n")],
            folder: folder + "/refused")
        defer { Task { await refused.stop() } }
        #expect(await refused.waitForExit(timeout: .seconds(30)) == 78, "\(refused.log)")
        #expect(refused.log.contains("zk-auth") && refused.log.contains("user owner"), "\(refused.log)")
        #expect(!refused.log.contains("wrong"))

        let welcome = try DaemonProcess(
            zk: server.connectString, group: group, member: "a",
            arguments: ["--root", root, "--partitions", "t:0-3", "--zk-auth-file", try credentialFile("owner:right\r\n")],
            folder: folder + "/welcome")
        defer { Task { await welcome.stop() } }
        try await welcome.waitForFile(timeout: .seconds(60), "active with the right password") { $0.state == .active }
    }

    /// Options are read up to `--` (spec §16): after `--exec --`, `--help`, `-h`, `--version`
    /// and `--check-config` are the consumer's arguments.
    @Test func optionsStopAtTheDoubleDash() async throws {
        let consumer = ["/bin/echo", "--version", "-h", "--help", "--check-config"]
        let checked = try await runProduct("allocatord", ["--check-config", "--group", "g", "--exec", "--"] + consumer)
        #expect(checked.status == 0, "\(checked.errors)")
        #expect(checked.output.contains("consumer " + consumer.joined(separator: " ")), "\(checked.output)")
        // Without --check-config before `--`, no option of the daemon's is found there: it
        // would start (here it lacks its group, and says so), never print its usage or version.
        let started = try await runProduct("allocatord", ["--exec", "--"] + consumer)
        #expect(started.status == 78, "\(started.output)")
        #expect(started.errors.contains("group") && started.output.isEmpty, "\(started.output)\(started.errors)")
        // Before `--` they are the daemon's.
        let help = try await runProduct("allocatord", ["--help", "--exec", "--", "/bin/echo"])
        #expect(help.status == 0 && help.output.contains("USAGE: allocatord"))
    }

    /// The consumer's guard is the daemon's binary in a mode only the daemon starts: by hand,
    /// even with its variable, it refuses to run and starts nothing.
    @Test func theConsumerGuardModeRefusesToRunByHand() async throws {
        let marker = temporaryPath("guard")
        let arguments = ["--consumer-guard", "5000", "none", "--", "/usr/bin/touch", marker]
        let bare = try await runProduct("allocatord", arguments)
        #expect(bare.status == 64)
        #expect(bare.errors.contains("--consumer-guard is not an option"), "\(bare.errors)")
        let withVariable = try await runProcess(
            productsDirectory.appendingPathComponent("allocatord").path, arguments,
            environment: ["ALLOCATORD_CONSUMER_GUARD": "\(getpid())"])
        #expect(withVariable.status == 64)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func aConnectStringWhoseHostsDoNotResolveExits78() async throws {
        let folder = temporaryPath("allocatord")
        let result = try await runProduct("allocatord", [
            "--group", "g", "--zk", "nosuchhost.invalid:2181", "--state-file", folder + "/g.json", "--socket", folder + "/g.sock",
        ])
        #expect(result.status == 78)
        #expect(result.errors.contains(#"invalid zk "nosuchhost.invalid:2181": no host of nosuchhost.invalid:2181 resolves"#), "\(result.errors)")
    }

    @Test func aStrategyMismatchExits78() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--strategy", "range"])
        defer { Task { await a.stop() } }
        try await a.waitForFile("active") { $0.state == .active }
        let b = try DaemonProcess(zk: server.connectString, group: group, member: "b", arguments: ["--strategy", "consistent"])
        #expect(await b.waitForExit() == 78)
        #expect(b.log.contains("\"range\""))
    }
}

/// A TCP socket listening on a free loopback port, that can tell whether anyone connected.
final class LoopbackListener {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(descriptor, raw, length) == 0 && listen(descriptor, 16) == 0 && getsockname(descriptor, raw, &length) == 0
            }
        }
        guard descriptor >= 0, bound else { throw POSIXError(.EADDRNOTAVAIL) }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether a connection is waiting to be accepted (accepts it).
    var acceptedAny: Bool { accept(descriptor, nil, nil) >= 0 }

    deinit { close(descriptor) }
}
