import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

/// What a consumer next to the daemon relies on (spec §15, §16): consumer handover with
/// `release`, the release timeout, the supervised consumer (`--exec`) and `allocatorctl check`,
/// with real processes against a real ZooKeeper.
@Suite struct ConsumerTests {
    /// `a` holds t:0-3 alone with consumer handover; `b` joins; returns both and what `a` is
    /// revoking (published as `revoking`, no longer in `allocation`).
    func revokingGroup(
        _ server: TestZooKeeper, group: String, extra: [String] = []
    ) async throws -> (DaemonProcess, DaemonProcess, MemberDocument) {
        let common = ["--session-timeout", "4000", "--handover", "consumer", "--strategy", "sticky"] + extra
        let a = try DaemonProcess(zk: server.connectString, group: group, member: "a", arguments: ["--partitions", "t:0-3"] + common)
        try await a.waitForFile("all four") { $0.state == .active && $0.allocation["t"]?.count == 4 }
        // Every document a delivers, from its watch stream: on a busy machine the revoking
        // window (a release timeout) can pass between two looks at the file.
        let delivered = Shared<[MemberDocument]>([])
        let watch = try ChildProcess(
            productsDirectory.appendingPathComponent("allocatorctl").path, ["--socket", a.socket, "watch"],
            output: .lines { line in
                if let document = try? MemberDocument(json: line) { delivered.update { $0.append(document) } }
            })
        defer { watch.signal(SIGTERM) }
        guard await eventually({ !delivered.value.isEmpty }) else { throw Timeout(what: "a's watch; log:\n\(a.log)") }
        let b = try DaemonProcess(zk: server.connectString, group: group, member: "b", arguments: common)
        @Sendable func twoRevoking() -> MemberDocument? { delivered.value.first { $0.revoking["t"]?.count == 2 } }
        guard await eventually({ twoRevoking() != nil }), let revoking = twoRevoking() else {
            throw Timeout(what: "a: two revoking; delivered: \(delivered.value.map(\.json)); log:\n\(a.log)")
        }
        return (a, b, revoking)
    }

    @Test func aRevokedPartitionMovesOnlyOnceTheConsumerReleasesIt() async throws {
        let server = try await TestZooKeeper.shared.value
        let (a, b, revoking) = try await revokingGroup(server, group: uniqueGroup())
        defer { Task { await a.stop(); await b.stop() } }
        let observer = Observer()
        observer.follow(file: b.stateFile, member: "b")
        defer { observer.stop() }
        let revoked = Set(revoking.revoking["t"]!)
        #expect(revoking.allocation["t"]?.count == 2)
        #expect(Set(revoking.allocation["t"]!).isDisjoint(with: revoked))
        // Still a's, under its lease, on both clocks.
        #expect(revoking.validUntil.map { $0 > revoking.updatedAt } == true)
        #expect(revoking.validUntilBoottime != nil)

        // However long the consumer takes, b does not get them: the leader awaits a's
        // acknowledgement (status says so), and a gives none before the release.
        let status = try await runProduct("allocatorctl", ["--socket", a.socket, "status"])
        #expect(status.output.contains(#""revoking":2"#))
        #expect(await eventually(timeout: .seconds(30)) {
            (try? await runProduct("allocatorctl", ["--socket", b.socket, "status"]))?.output.contains(#""awaited":{"a""#) == true
        })
        #expect(a.fileDocument?.revoking["t"].map(Set.init) == revoked)

        let released = ContinuousClock.now
        let reply = try await runProduct("allocatorctl", ["--socket", a.socket, "release", "\(revoking.generation)"])
        #expect(reply.output == #"{"ok":true,"released":\#(revoking.generation)}"# + "\n")
        try await b.waitForFile("the released two") { Set($0.allocation["t"] ?? []) == revoked }
        try await a.waitForFile("nothing revoking") { $0.revoking.isEmpty && $0.allocation["t"]?.count == 2 }
        // b never published them before the release.
        let early = observer.documents(of: "b").filter { $0.at < released && !Set($0.document.allocation["t"] ?? []).isDisjoint(with: revoked) }
        #expect(early.isEmpty, "b published \(early.map(\.document.json)) before a's consumer released")
        let after = try await runProduct("allocatorctl", ["--socket", a.socket, "status"])
        #expect(after.output.contains(#""forced_releases":0"#))
    }

    @Test func aConsumerThatNeverReleasesIsOverruledByTheReleaseTimeout() async throws {
        let server = try await TestZooKeeper.shared.value
        let (a, b, revoking) = try await revokingGroup(server, group: uniqueGroup(), extra: ["--release-timeout", "3000"])
        defer { Task { await a.stop(); await b.stop() } }
        let revoked = Set(revoking.revoking["t"]!)
        try await b.waitForFile("the two, after the timeout") { Set($0.allocation["t"] ?? []) == revoked }
        try await a.waitForFile("nothing revoking") { $0.revoking.isEmpty }
        let status = try await runProduct("allocatorctl", ["--socket", a.socket, "status"])
        #expect(status.output.contains(#""forced_releases":1"#))
        #expect(a.log.contains("the consumer did not release in time"))
    }

    @Test func aStopWithConsumerHandoverWaitsForTheRelease() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try DaemonProcess(
            zk: server.connectString, group: group, member: "a",
            arguments: ["--partitions", "t:0-3", "--session-timeout", "4000", "--handover", "consumer"])
        defer { Task { await a.stop() } }
        try await a.waitForFile("all four") { $0.state == .active && $0.allocation["t"]?.count == 4 }
        a.signal(SIGTERM)
        let stopping = try await a.waitForFile("stopped, revoking everything") { $0.state == .stopped && !$0.revoking.isEmpty }
        #expect(stopping.allocation.isEmpty)
        #expect(stopping.revoking == ["t": [0, 1, 2, 3]])
        #expect(stopping.validUntil != nil)
        #expect(a.process.isRunning)
        _ = try await runProduct("allocatorctl", ["--socket", a.socket, "release", "\(stopping.generation)"])
        #expect(await a.waitForExit() == 0)
        #expect(a.fileDocument?.state == .stopped)
        #expect(a.fileDocument?.revoking.isEmpty == true)
    }

    // MARK: allocatorctl check

    @Test func checkIsHealthyOnlyWhileActiveAndAnswering() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("check")
        let nobody = try await runProduct("allocatorctl", ["--socket", folder + "/none.sock", "check"])
        #expect(nobody.status == 3)

        // Joining (no ZooKeeper answers on this port): unhealthy, with the state.
        let joining = try DaemonProcess(zk: "127.0.0.1:1", group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-3"])
        defer { Task { await joining.stop() } }
        #expect(await eventually { FileManager.default.fileExists(atPath: joining.socket) })
        // A long timeout: what is checked is the verdict, not how fast a starved daemon answers.
        let notYet = try await runProduct("allocatorctl", ["--socket", joining.socket, "check", "--timeout", "30"])
        #expect(notYet.status == 1)
        #expect(notYet.errors.contains("unhealthy: the member is joining"), "\(notYet.errors); log:\n\(joining.log)")

        let daemon = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a", arguments: ["--partitions", "t:0-3", "--session-timeout", "4000"])
        defer { Task { await daemon.stop() } }
        try await daemon.waitForFile("active") { $0.state == .active }
        let healthy = try await runProduct("allocatorctl", ["--socket", daemon.socket, "check", "--timeout", "30"])
        #expect(healthy.status == 0)
        #expect(healthy.output.contains("healthy: active"))

        // Stopped (paused): it answers nothing, and its lease runs out.
        daemon.signal(SIGSTOP)
        let paused = try await runProduct("allocatorctl", ["--socket", daemon.socket, "check", "--timeout", "1"])
        daemon.signal(SIGCONT)
        #expect(paused.status == 1)
        #expect(paused.errors.contains("did not answer"))
    }

    // MARK: The supervised consumer

    /// A consumer script: logs `start PID ENV...`, `hup` on SIGHUP, `usr1` on SIGUSR1, `term`
    /// on SIGTERM (then exits 0), and exits with the status in file `exit` once it appears.
    func consumerScript(in folder: String) throws -> (script: String, log: String) {
        let log = folder + "/consumer.log"
        let script = folder + "/consumer.sh"
        try """
            #!/bin/sh
            echo "start $$ $ALLOCATORD_GROUP $ALLOCATORD_MEMBER $ALLOCATORD_SOCKET $ALLOCATORD_STATE_FILE ${NOTIFY_SOCKET:-no-notify}" >> \(log)
            trap 'echo hup >> \(log)' HUP
            trap 'echo usr1 >> \(log)' USR1
            trap 'echo "term $(date +%s%N)" >> \(log); exit 0' TERM
            while :; do
                if [ -f \(folder)/exit ]; then status=$(cat \(folder)/exit); rm -f \(folder)/exit; echo "exit $status" >> \(log); exit "$status"; fi
                sleep 0.05
            done
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return (script, log)
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func theSupervisedConsumerRunsWhileActiveHearsOfChangesAndStopsFirst() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let folder = temporaryPath("consumer")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (script, log) = try consumerScript(in: folder)
        // The daemon's secrets and systemd's variables, which the consumer must not get. The
        // credential guards a root of this test's own.
        let root = uniquePath()
        let credential = ["ALLOCATORD_ZK_AUTH": "consumer:secret"]
        let secrets = credential.merging([
            "NOTIFY_SOCKET": folder + "/notify", "CREDENTIALS_DIRECTORY": folder, "LISTEN_FDNAMES": "none",
            "WATCHDOG_PID": "1",
        ]) { $1 }
        let a = try DaemonProcess(
            zk: server.connectString, group: group, member: "a",
            arguments: ["--root", root, "--partitions", "t:0-3", "--session-timeout", "4000", "--exec", "--", script],
            environment: secrets, folder: folder + "/a")
        defer { Task { await a.stop() } }
        try await a.waitForFile("active") { $0.state == .active }
        #expect(await eventually { self.lines(log).first?.hasPrefix("start ") == true })
        let start = lines(log)[0].split(separator: " ").map(String.init)
        #expect(Array(start.dropFirst(2)) == [group, "a", a.socket, a.stateFile, "no-notify"])
        // Its environment: the five variables, none of the daemon's secrets nor systemd's; its
        // descriptors: its standard three (and the script the shell reads).
        let pid = try #require(Int32(start[1]))
        let environment = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8).split(separator: "\0").map { String($0.prefix { $0 != "=" }) }
        #expect(Set(environment).isSuperset(of: ["ALLOCATORD_SOCKET", "ALLOCATORD_STATE_FILE", "ALLOCATORD_GROUP", "ALLOCATORD_MEMBER", "ALLOCATORD_PID"]))
        #expect(Set(environment).isDisjoint(with: secrets.keys), "\(environment)")
        #expect(!environment.contains { $0.hasPrefix("ALLOCATORD_CONSUMER") })
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int32.init).sorted()
        let others = descriptors.filter { $0 > 2 }.map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "?" }
        #expect(others.allSatisfy { $0 == script }, "descriptors beyond 0-2: \(others)")

        // A change of the share: SIGHUP, once the file shows it.
        let b = try DaemonProcess(
            zk: server.connectString, group: group, member: "b", arguments: ["--root", root, "--session-timeout", "4000"],
            environment: credential)
        defer { Task { await b.stop() } }
        try await a.waitForFile("shared") { $0.state == .active && $0.members == ["a", "b"] }
        #expect(await eventually { self.lines(log).contains("hup") })
        // The daemon's own signals are passed on.
        a.signal(SIGUSR1)
        #expect(await eventually { self.lines(log).contains("usr1") })

        // SIGTERM: the consumer stops before the member leaves, and the daemon exits 0.
        a.signal(SIGTERM)
        #expect(await a.waitForExit() == 0)
        #expect(lines(log).last?.hasPrefix("term ") == true)
        #expect(lines(log).filter { $0.hasPrefix("start") }.count == 1)
        try await b.waitForFile("alone") { $0.members == ["b"] && $0.allocation["t"]?.count == 4 }
    }

    @Test func aConsumerThatExitsEndsTheDaemonWithItsStatusOrIsRestartedOnFailure() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("consumer")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (script, log) = try consumerScript(in: folder)

        let restarting = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-3", "--session-timeout", "4000", "--exec-restart", "on-failure", "--exec", "--", script],
            folder: folder + "/a")
        defer { Task { await restarting.stop() } }
        try await restarting.waitForFile("active") { $0.state == .active }
        #expect(await eventually { self.lines(log).contains { $0.hasPrefix("start") } })
        try "3".write(toFile: folder + "/exit", atomically: true, encoding: .utf8)
        // Failed: started again (a second later), the daemon still in the group.
        #expect(await eventually { self.lines(log).filter { $0.hasPrefix("start") }.count == 2 })
        #expect(restarting.process.isRunning)
        #expect(restarting.log.contains("exited with status 3 by itself"))
        // A clean exit ends the daemon with 0, even with on-failure.
        try "0".write(toFile: folder + "/exit", atomically: true, encoding: .utf8)
        #expect(await restarting.waitForExit(timeout: .seconds(30)) == 0)
        #expect(restarting.fileDocument?.state == .stopped)

        // exec-restart never (the default): the daemon leaves and exits with the status.
        try FileManager.default.removeItem(atPath: log)
        let exiting = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-3", "--session-timeout", "4000", "--exec", "--", script], folder: folder + "/b")
        defer { Task { await exiting.stop() } }
        try await exiting.waitForFile("active") { $0.state == .active }
        #expect(await eventually { self.lines(log).contains { $0.hasPrefix("start") } })
        try "7".write(toFile: folder + "/exit", atomically: true, encoding: .utf8)
        #expect(await exiting.waitForExit(timeout: .seconds(30)) == 7)
        #expect(exiting.fileDocument?.state == .stopped)

        // A program that cannot start: 127, like a shell's "command not found".
        let missing = try DaemonProcess(
            zk: server.connectString, group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-3", "--exec", "--", folder + "/no-such-consumer"], folder: folder + "/c")
        defer { Task { await missing.stop() } }
        #expect(await missing.waitForExit(timeout: .seconds(30)) == 127)
        #expect(missing.log.contains("the consumer could not start"))
    }

    @Test func theConsumerIsStoppedBeforeTheLeaseCanRunOut() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("consumer")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let (script, log) = try consumerScript(in: folder)
        let port = Int(server.connectString.split(separator: ":").last!)!
        let proxy = try TCPProxy(port: port)
        defer { proxy.stop() }
        let a = try DaemonProcess(
            zk: "127.0.0.1:\(proxy.port)", group: uniqueGroup(), member: "a",
            arguments: ["--partitions", "t:0-3", "--session-timeout", "4000", "--exec-stop-timeout", "1000", "--exec", "--", script],
            folder: folder + "/a")
        defer { Task { await a.stop() } }
        try await a.waitForFile("active") { $0.state == .active }
        #expect(await eventually { self.lines(log).contains { $0.hasPrefix("start") } })
        let observer = Observer()
        observer.follow(file: a.stateFile, member: "a")
        defer { observer.stop() }

        // Cut off: suspended; SIGTERM comes a stop timeout before the lease ends.
        proxy.blackhole()
        #expect(await eventually { self.lines(log).contains { $0.hasPrefix("term ") } })
        // When the consumer ran its trap (not when this test, maybe starved, saw the line).
        let term = try #require(lines(log).first { $0.hasPrefix("term ") })
        let stoppedAt = Date(timeIntervalSince1970: try #require(Double(term.dropFirst(5))) / 1e9)
        // The lease of the last document that had one (active, then suspended).
        let lease = try #require(observer.documents(of: "a").compactMap(\.document.validUntil).last)
        #expect(stoppedAt < lease, "the consumer was stopped at \(stoppedAt), after the lease's end \(lease)")
        // The member noticed too (its guard may have stopped the consumer first: the lease was
        // not renewed).
        #expect(await eventually { observer.documents(of: "a").contains { $0.document.state == .suspended || $0.document.state == .lost } })

        // Back (the session lived): active again, and the consumer starts again. (Counted
        // from the heal: on a busy machine a renewal may come late enough for the guard to
        // stop and the daemon to start the consumer once more before the cut.)
        let beforeHeal = lines(log).count
        proxy.heal()
        try await a.waitForFile(timeout: .seconds(60), "active again") { $0.state == .active }
        let restarted = await eventually { self.lines(log).dropFirst(beforeHeal).contains { $0.hasPrefix("start") } }
        #expect(restarted, "consumer log:\n\(lines(log).joined(separator: "\n"))\ndaemon log:\n\(a.log.suffix(4000))")
    }
}
