import Allocation
import Allocator
import Foundation
import Glibc
import Testing
import TestSupport

extension FaultSuite {
    /// Issue 14: a flood of `watch` clients that never read must neither lapse the member's
    /// lease nor take its memory (spec §13).
    @Suite(.serialized) struct SocketFloodFaultTests {
        static let partitionCount = 50_000
        static let watchers = 400

        /// Resident memory of a process, in bytes.
        static func residentBytes(_ pid: Int32) -> Int {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                  let kilobytes = Int(line.split(separator: " ")[1])
            else { return -1 }
            return kilobytes * 1024
        }

        @Test(.timeLimit(.minutes(1))) func watchersThatNeverReadNeitherLapseTheLeaseNorKeepMemory() async throws {
            let server = try await TestZooKeeper.shared.value
            let cluster = try Cluster(
                zk: server.connectString,
                arguments: ["--session-timeout", "2000", "--partitions", "t:0-\(Self.partitionCount - 1)"])
            // With the unit's malloc settings (systemd/allocatord@.service). The observer follows
            // the file alone: the check below is of the file's renewals, and a document its watch
            // stream saw first would be kept as that sighting, not the file's (the poller, parsing
            // a 50 000-partition document, lost that race beside two busy loops).
            let daemon = try cluster.start(
                "a", ["--max-clients", "\(Self.watchers + 100)"],
                environment: ["MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"], watch: false)
            let partitions = partitionNames("t", 0..<Self.partitionCount)
            try await cluster.waitForAgreement(partitions: partitions)
            let pid = daemon.process.processIdentifier
            let baseline = Self.residentBytes(pid)
            let floodStarted = ContinuousClock.now

            // They connect, ask to watch, and never read; then they all leave at once, while the
            // daemon is publishing to them.
            let peak = Shared(baseline)
            let sampling = Task {
                while !Task.isCancelled {
                    let resident = Self.residentBytes(pid)
                    peak.update { $0 = max($0, resident) }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            var clients: [RawSocket] = []
            for _ in 0..<Self.watchers {
                guard let client = RawSocket(path: daemon.socket) else { continue }
                client.write(Array("watch\n".utf8))
                clients.append(client)
            }
            #expect(clients.count == Self.watchers)
            try await Task.sleep(for: .seconds(4))  // two lease renewals a second
            clients.removeAll()
            let left = ContinuousClock.now
            // Memory goes back (the unit's MALLOC_TRIM_THRESHOLD_), the daemon still answers.
            let settledMemory = await eventually(timeout: .seconds(8)) { Self.residentBytes(pid) < baseline + 16 << 20 }
            sampling.cancel()
            let get = try await runProduct("allocatorctl", ["--socket", daemon.socket, "get"])
            #expect(get.status == 0, "\(get.errors)")
            let end = ContinuousClock.now

            // The lease never lapsed: each document of the file was replaced before its
            // valid_until, all active, and the last one still runs.
            let written = cluster.observer.documents(of: "a").filter { $0.source == "file" }
            let file = written.suffix(from: written.lastIndex { $0.at <= floodStarted } ?? 0)
            #expect(file.count > 4, "\(file.count) renewals seen")
            for (previous, next) in zip(file, file.dropFirst()) {
                #expect(previous.document.state == .active, "\(previous.document.json)")
                let leaseEnd = try #require(previous.leaseEnd)
                #expect(next.at <= leaseEnd, "lease lapsed for \((next.at - leaseEnd).milliseconds) ms at +\((leaseEnd - floodStarted).milliseconds) ms")
            }
            if let last = file.last?.leaseEnd { #expect(last > end, "the last lease ran out") }

            let peakMB = peak.value >> 20, baselineMB = baseline >> 20, afterMB = Self.residentBytes(pid) >> 20
            // Without shared lines each watcher held its own copy of the ~300 KB document (more than the kernel takes).
            #expect(peak.value < baseline + 40 << 20, "resident \(baselineMB) MB before, \(peakMB) MB at the peak")
            #expect(settledMemory, "resident \(baselineMB) MB before, \(afterMB) MB \((ContinuousClock.now - left).milliseconds) ms after the clients left")
            await cluster.stopAll()
            #expect(daemon.process.termination == .exited(0))
            FaultSummary.writeLine(
                "watch flood (\(Self.watchers) non-reading watchers, \(Self.partitionCount) partitions)",
                "lease never lapsed over \(file.count) renewals; resident \(baselineMB) MB before, \(peakMB) MB peak, \(afterMB) MB after")
        }
    }
}
