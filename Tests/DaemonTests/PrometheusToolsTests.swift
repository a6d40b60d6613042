import Foundation
import Glibc
import Testing
import TestSupport

/// One sample line of Prometheus' text format: `name{k="v",...} value`.
struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// `nil` for a comment, a blank line, or a line that is not a sample.
    init?(line: String) {
        guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
        else { return nil }
        let series = line[..<space]
        self.value = value
        guard let brace = series.firstIndex(of: "{") else {
            name = String(series)
            labels = [:]
            return
        }
        name = String(series[..<brace])
        var labels: [String: String] = [:]
        var rest = series[series.index(after: brace)...].dropLast()  // without the closing brace
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ","))
            rest = rest[rest.index(equals, offsetBy: 2)...]  // past `="`
            guard let quote = rest.firstIndex(of: "\"") else { return nil }
            labels[key] = String(rest[..<quote])
            rest = rest[rest.index(after: quote)...]
        }
        self.labels = labels
    }
}

/// The metrics as Prometheus' own tools take them (spec §16): the alert rules load and do
/// what they say, and node_exporter's textfile collector serves two groups' files side by side.
@Suite struct PrometheusToolsTests {
    let rules = repositoryRoot.appendingPathComponent("config/allocatord.rules.yml").path

    @Test func theAlertRulesLoadAndPassTheirTests() async throws {
        let check = try await runProcess("/usr/bin/promtool", ["check", "rules", rules])
        #expect(check.status == 0, "\(check.output)\(check.errors)")
        let tests = repositoryRoot.appendingPathComponent("Tests/Prometheus/allocatord.rules.test.yml").path
        let test = try await runProcess("/usr/bin/promtool", ["test", "rules", tests])
        #expect(test.status == 0, "\(test.output)\(test.errors)")
    }

    /// Two daemons of two groups write their textfiles into one folder; node_exporter 1.5
    /// (which drops a file whose series repeat another's) serves both.
    @Test(.timeLimit(.minutes(1))) func nodeExporterServesTheFilesOfTwoGroups() async throws {
        let server = try await TestZooKeeper.shared.value
        let folder = temporaryPath("textfiles")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let groups = [uniqueGroup() + "x", uniqueGroup() + "y"]
        let daemons = try groups.map { group in
            try DaemonProcess(
                zk: server.connectString, group: group, member: "m",
                arguments: ["--partitions", "t:0-3", "--session-timeout", "4000", "--metrics-file", folder + "/allocatord-\(group).prom"])
        }
        defer { Task { for daemon in daemons { await daemon.stop() } } }
        for daemon in daemons { try await daemon.waitForFile("active") { $0.state == .active } }

        let port = try freeLoopbackPort()
        let exporter = try ChildProcess(
            "/usr/bin/prometheus-node-exporter",
            ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
             "--collector.textfile.directory=\(folder)"], errors: .discard)
        defer { exporter.signal(SIGKILL); _ = exporter.waitUntilExit() }
        let served = Shared<[PrometheusSample]>([])
        let both = await eventually(timeout: .seconds(20)) {
            guard let text = try? await runProcess("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/metrics"]), text.status == 0
            else { return false }
            let samples = text.output.split(separator: "\n").compactMap { PrometheusSample(line: String($0)) }
            served.update { $0 = samples }
            return groups.allSatisfy { group in
                samples.contains { $0.name == "allocatord_state" && $0.labels["group"] == group && $0.labels["state"] == "active" && $0.value == 1 }
            }
        }
        let errors = served.value.filter { $0.name == "node_textfile_scrape_error" && $0.value != 0 }
        #expect(both, "node_exporter does not serve both groups' metrics")
        #expect(errors.isEmpty, "node_exporter reports a textfile error")
    }

    private func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getsockname(descriptor, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
