import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

/// The daemon's surfaces as operators touch them: systemd notifications, reload, the hook,
/// the state file's folder, allocatorctl's exit codes, the socket's permissions.
@Suite struct SurfacesTests {
    @Test func systemdHearsReadyStatusWatchdogReloadingAndStopping() async throws {
        let server = try await TestZooKeeper.shared.value
        let notify = try NotifyListener()
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-2"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        #expect(await eventually { notify.received.contains { $0.text.hasPrefix("READY=1") } })

        // WATCHDOG=1 at half of WATCHDOG_USEC (2 s): never a gap systemd would act on, and not
        // much more often than every second.
        #expect(await eventually { notify.received.filter { $0.text == "WATCHDOG=1" }.count >= 4 })
        let beats = notify.received.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        let gaps = zip(beats.dropFirst(), beats).map { $0 - $1 }.sorted()
        #expect(gaps.allSatisfy { $0 < .seconds(2) }, "\(gaps)")
        #expect(gaps[gaps.count / 2] >= .milliseconds(800), "\(gaps)")

        // A status line after each change.
        let reply = try await runProduct("allocatorctl", ["--socket", daemon.socket, "add", "t:3"])
        #expect(reply.status == 0)
        #expect(await eventually { notify.received.contains { $0.text.contains("STATUS=active") && $0.text.contains("of 4 partitions") } })

        // SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1.
        let count = notify.received.count
        daemon.signal(SIGHUP)
        #expect(await eventually { notify.received.dropFirst(count).contains { $0.text.hasPrefix("READY=1") } })
        let reload = notify.received.dropFirst(count).map(\.text)
        #expect(reload.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
        #expect(await eventually { daemon.log.contains("SIGHUP: applied") })

        await daemon.stop()
        #expect(notify.received.contains { $0.text == "STOPPING=1" })
    }

    @Test func aReloadAppliesLiveSettingsAndNamesTheOthers() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("reload")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = folder + "/config.yaml"
        try Data("log-level: info\n".utf8).write(to: URL(fileURLWithPath: config))
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--config", config, "--partitions", "t:0"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }

        let marker = folder + "/hook-ran"
        try Data("log-level: debug\non-rebalance: cat > \(marker)\nsession-timeout: 5000\n".utf8).write(to: URL(fileURLWithPath: config))
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("needing a restart: session-timeout") })
        // The new hook runs on the next change, with the document on stdin.
        _ = try await runProduct("allocatorctl", ["--socket", daemon.socket, "add", "t:1"])
        #expect(await eventually { (FileManager.default.contents(atPath: marker).flatMap { try? MemberDocument(json: $0) })?.partitionCount == 2 })

        // An invalid file is refused and the running configuration kept.
        try Data("session-timeout: soon\n".utf8).write(to: URL(fileURLWithPath: config))
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("keeping the running one") })
        #expect(daemon.process.isRunning)
    }

    @Test func aReloadBeforeTheFirstAllocationTellsSystemdNothingAboutReadiness() async throws {
        // No ZooKeeper answers: the daemon stays joining, so it is not ready.
        let notify = try NotifyListener()
        let daemon = try DaemonProcess(
            zk: "127.0.0.1:1", group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0"],
            environment: ["NOTIFY_SOCKET": notify.path])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("joining") { $0.state == .joining }
        daemon.signal(SIGHUP)
        #expect(await eventually { daemon.log.contains("SIGHUP: ") })
        #expect(!notify.received.contains { $0.text.hasPrefix("READY=1") || $0.text.hasPrefix("RELOADING=1") },
                "\(notify.received.map(\.text))")
    }

    @Test func theHookNeverBlocksAndItsFailuresAreLogged() async throws {
        let server = try await TestZooKeeper.shared.value
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0", "--on-rebalance", "sleep 30", "--hook-timeout", "300"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        for id in 1...3 {
            _ = try await runProduct("allocatorctl", ["--socket", daemon.socket, "add", "t:\(id)"])
        }
        // Rebalancing went on while the hook hung.
        try await daemon.waitForFile(timeout: .seconds(5), "4 partitions") { $0.partitionCount == 4 }
        #expect(await eventually { daemon.log.contains("on-rebalance hook did not finish") })

        let failing = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "b", arguments: ["--partitions", "t:0", "--on-rebalance", "exit 7"])
        defer { Task { await failing.stop() } }
        #expect(await eventually { failing.log.contains("on-rebalance hook failed") && failing.log.contains("status=7") })
    }

    @Test func theStateFileFolderIsCreatedAndAnUnwritableOneIsRetried() async throws {
        let server = try await TestZooKeeper.shared.value
        let base = temporaryPath("state")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        // A folder that does not exist yet.
        let group = uniqueGroup()
        let deepFile = base + "/x/y/state.json"
        let deep = try DaemonProcess(
            zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0", "--state-file", deepFile])
        defer { Task { await deep.stop() } }
        #expect(await eventually {
            FileManager.default.contents(atPath: deepFile).flatMap { try? MemberDocument(json: $0) }?.state == .active
        })

        // A file that cannot be written any more (a folder comes in its place; a folder there at
        // start is a configuration error): logged, retried and reported in status `last_error`;
        // once it can be written, the current document goes in and `last_error` is null again.
        let blocked = base + "/blocked.json"
        let daemon = try DaemonProcess(
            zk: server.connectString, group: group, member: "b", arguments: ["--state-file", blocked, "--session-timeout", "2000"])
        defer { Task { await daemon.stop() } }
        #expect(await eventually {
            FileManager.default.contents(atPath: blocked).flatMap { try? MemberDocument(json: $0) }?.state == .active
        })
        // A renewal may rename a new file in between: until the folder is in its place.
        #expect(await eventually {
            try? FileManager.default.removeItem(atPath: blocked)
            return (try? FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: true)) != nil
        })
        let status = ["--socket", daemon.socket, "status"]
        #expect(await eventually { daemon.log.contains("cannot write the state file") })
        let reported = try await eventually {
            try await runProduct("allocatorctl", status).output.contains(#""last_error":"cannot rename onto \#(blocked)"#)
        }
        let reply = try await runProduct("allocatorctl", status).output
        #expect(reported, "\(reply)")
        try FileManager.default.removeItem(atPath: blocked)
        #expect(await eventually {
            FileManager.default.contents(atPath: blocked).flatMap { try? MemberDocument(json: $0) }?.state == .active
        })
        #expect(try await runProduct("allocatorctl", status).output.contains(#""last_error":null"#))
        // Once the daemons are stopped (a renewal may be writing its temporary file right now).
        await daemon.stop()
        await deep.stop()
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func allocatorctlExitCodesAgainstARunningDaemon() async throws {
        let server = try await TestZooKeeper.shared.value
        let daemon = try DaemonProcess(zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        let socket = ["--socket", daemon.socket]

        #expect(try await runProduct("allocatorctl", socket + ["ping"]).output == #"{"ok":true}"# + "\n")
        let status = try await runProduct("allocatorctl", socket + ["status"])
        #expect(status.status == 0)
        #expect(status.output.contains(#""state":"active""#))
        #expect(status.output.contains(#""version":"\#(ProductVersion.current)""#), "\(status.output)")
        let members = try await runProduct("allocatorctl", socket + ["members"])
        #expect(members.status == 0)
        #expect(members.output.contains("MEMBER"))
        // Each member's version, from its node: a rolling upgrade's progress.
        #expect(members.output.contains("ALLOCATORD") && members.output.contains(ProductVersion.current), "\(members.output)")
        #expect(try await eventually { try await runProduct("allocatorctl", socket + ["members"]).output.contains("all members agree") })
        #expect(try await runProduct("allocatorctl", socket + ["members", "--json"]).output.contains(#""agree":true"#))
        // The daemon answers with an error: 1.
        let bad = try await runProduct("allocatorctl", socket + ["add", "t:01"])
        #expect(bad.status == 1)
        #expect(bad.errors.contains("bad_spec"))
        #expect(try await runProduct("allocatorctl", socket + ["repair"]).status == 1)
        // Usage: 2. Cannot connect: 3.
        #expect(try await runProduct("allocatorctl", socket + ["frobnicate"]).status == 2)
        #expect(try await runProduct("allocatorctl", ["--socket", daemon.folder + "/none.sock", "get"]).status == 3)
    }

    @Test func mutatingCommandsAreRefusedToOtherUsers() async throws {
        let server = try await TestZooKeeper.shared.value
        let daemon = try DaemonProcess(zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        #expect(try socketMode(daemon.socket) == 0o660)
        // Let "nobody" reach the socket, then try to add as nobody.
        chmod(daemon.folder, 0o755)
        chmod(daemon.socket, 0o666)
        let asNobody = try await runProcess("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups",
            productsDirectory.appendingPathComponent("allocatorctl").path, "--socket", daemon.socket, "add", "t:9",
        ])
        #expect(asNobody.status == 1)
        #expect(asNobody.errors.contains("forbidden"))
        let read = try await runProcess("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups",
            productsDirectory.appendingPathComponent("allocatorctl").path, "--socket", daemon.socket, "get",
        ])
        #expect(read.status == 0)
    }

    @Test func theSocketAnswersBadInputWithErrorsAndStaysUsable() async throws {
        let server = try await TestZooKeeper.shared.value
        let daemon = try DaemonProcess(zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        // socat sends everything, half-closes its side, and prints what comes back.
        func exchange(_ input: String) async throws -> [String] {
            let result = try await runProcess("/usr/bin/socat", ["-t", "3", "-", "UNIX-CONNECT:\(daemon.socket)"], input: input)
            return result.output.split(separator: "\n").map(String.init)
        }
        let replies = try await exchange("ping\nfrobnicate\nadd t:01\nadd\n\u{00}\u{01}binary\nget\nrelease\nrelease -1\nrelease 1e3\nrelease 99999999999999999999\nrelease 3\n")
        #expect(replies.count == 11)
        for reply in replies[6...9] { #expect(reply.contains(#""code":"bad_epoch""#)) }
        // Without consumer handover a release frees nothing, and says it heard.
        #expect(replies[10] == #"{"ok":true,"released":3}"#)
        #expect(replies[0] == #"{"ok":true}"#)
        #expect(replies[1].contains(#""code":"unknown_command""#))
        #expect(replies[2].contains(#""code":"bad_spec""#))
        #expect(replies[3].contains(#""code":"bad_spec""#))
        #expect(replies[4].contains(#""code":"unknown_command""#))
        #expect((try? MemberDocument(json: Data(replies[5].utf8)))?.state == .active)

        // The whole mapping and the whole set, for the view of the document.
        let views = try await exchange("assignments\npartitions\n")
        #expect(views.count == 2)
        let document = try MemberDocument(json: Data(replies[5].utf8))
        #expect(views.first == #"{"generation":\#(document.generation),"assignments":{"a":{"t":[0,1,2,3]}}}"#)
        #expect(views.last == #"{"count":4,"partitions":["t:0","t:1","t:2","t:3"]}"#)

        // Bytes that are not UTF-8: an error, and the connection goes on.
        let bytes = Array("ping\n".utf8) + [0xFF, 0xFE, 0x0A] + Array("ping\n".utf8)
        let invalid = try await runProcess("/usr/bin/socat", ["-t", "3", "-", "UNIX-CONNECT:\(daemon.socket)"], bytes: bytes)
        let lines = invalid.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == #"{"ok":true}"#)
        #expect(lines.dropFirst().first?.contains(#""code":"invalid_utf8""#) == true)
        #expect(lines.last == #"{"ok":true}"#)
        // A line over 64 KiB: an error, then that connection closes; the daemon goes on.
        let long = try await exchange(String(repeating: "x", count: 70_000) + "\nping\n")
        #expect(long.count == 1)
        #expect(long.first?.contains(#""code":"line_too_long""#) == true)
        #expect(try await exchange("ping\n") == [#"{"ok":true}"#])
        #expect(daemon.process.isRunning)
    }

    private func socketMode(_ path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Timeout(what: "stat \(path)") }
        return info.st_mode & 0o777
    }
}

/// The metrics (spec §16): on the socket and in a file, in Prometheus' text format.
@Suite struct MetricsTests {
    @Test func theSocketAndTheFileCarryTheMetricsAnOperatorAlertsOn() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("metrics")
        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-5", "--session-timeout", "4000", "--metrics-file", folder + "/allocatord.prom"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        // A change it sees through (the first allocation may come before its watch does).
        let add = try await runProduct("allocatorctl", ["--socket", daemon.socket, "add", "t:6"])
        #expect(add.status == 0, "\(add.errors)")
        try await daemon.waitForFile("seven") { $0.state == .active && $0.allocation["t"]?.count == 7 }

        let reply = try await runProcess("/usr/bin/socat", ["-t", "3", "-", "UNIX-CONNECT:\(daemon.socket)"], input: "metrics\nping\n")
        let lines = reply.output.split(separator: "\n").map(String.init)
        // Several lines, ending with OpenMetrics' EOF; the connection goes on.
        #expect(lines.last == #"{"ok":true}"#)
        #expect(lines.dropLast().last == "# EOF")
        let group = daemon.group
        /// The value of the series `name` whose labels include `labels` (every series also
        /// carries `group` and `member`).
        func value(_ name: String, _ labels: [String: String] = [:], in lines: [String]) -> Double? {
            let wanted = labels.merging(["group": group, "member": "a"]) { given, _ in given }
            return lines.lazy.compactMap { PrometheusSample(line: $0) }
                .first { sample in sample.name == name && wanted.allSatisfy { key, value in sample.labels[key] == value } }?.value
        }
        #expect(value("allocatord_state", ["state": "active"], in: lines) == 1)
        #expect(value("allocatord_state", ["state": "joining"], in: lines) == 0)
        #expect(value("allocatord_leader", in: lines) == 1)
        #expect(value("allocatord_share_partitions", in: lines) == 7)
        #expect(value("allocatord_partitions", in: lines) == 7)
        #expect(value("allocatord_members", in: lines) == 1)
        #expect(value("allocatord_epoch", in: lines).map { $0 >= 1 } == true)
        #expect(value("allocatord_rebalances_total", in: lines).map { $0 >= 1 } == true)
        #expect(value("allocatord_zookeeper_requests_total", in: lines).map { $0 > 0 } == true)
        #expect(value("allocatord_socket_clients", in: lines) == 1)
        #expect(value("allocatord_rebalance_duration_seconds_bucket", ["le": "0.005"], in: lines) != nil)
        #expect(lines.contains(#"# TYPE allocatord_state gauge"#))
        #expect(value("allocatord_build_info", ["version": ProductVersion.current], in: lines) == 1)
        // Every series is labelled with the group and the member; every family has its help.
        let samples = lines.compactMap { PrometheusSample(line: $0) }
        #expect(samples.allSatisfy { $0.labels["group"] == group && $0.labels["member"] == "a" })
        let families = Set(lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(families == helped, "no help: \(families.subtracting(helped).sorted())")
        // promtool (Debian's prometheus) finds nothing to say.
        let text = lines.dropLast().joined(separator: "\n") + "\n"
        let check = try await runProcess("/usr/bin/promtool", ["check", "metrics"], input: text)
        #expect(check.status == 0 && check.output.isEmpty && check.errors.isEmpty, "\(check.output)\(check.errors)")

        // The file: the same text without EOF, replaced every few seconds.
        #expect(await eventually { FileManager.default.fileExists(atPath: folder + "/allocatord.prom") })
        let file = try String(contentsOfFile: folder + "/allocatord.prom", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(value("allocatord_state", ["state": "active"], in: file) == 1)
        #expect(!file.contains("# EOF"))
    }
}
