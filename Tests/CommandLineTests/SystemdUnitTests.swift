import Foundation
import Testing
import TestSupport

/// The shipped systemd units (spec §11): `scripts/check-units` passes them (`systemd-analyze
/// verify` silent, exposure at most 2.0, the settings the spec names), and fails units broken
/// in each of the ways it is meant to catch. Offline: no running systemd, no installed daemon.
@Suite struct SystemdUnitTests {
    static let service = repositoryRoot.appendingPathComponent("systemd/allocatord@.service")
    static let socket = repositoryRoot.appendingPathComponent("systemd/allocatord@.socket")

    @Test func shippedUnitsPassTheCheck() async throws {
        let result = try await checkUnits([])
        #expect(result.status == 0, "\(result.output)\(result.errors)")
        #expect(result.errors.isEmpty, "\(result.errors)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("check-units: verify allocatord@orders.service (systemd/allocatord@.service): silent"))
        #expect(lines.contains("check-units: verify allocatord@orders.socket (systemd/allocatord@.socket): silent"))
        #expect(lines.contains("check-units: settings spec §9/§11/§12 ask of allocatord@orders.service: present"))
        #expect(lines.contains("check-units: settings spec §9/§11/§12 ask of allocatord@orders.socket: present"))
        #expect(lines.last == "check-units: all checks passed")
        #expect(!result.output.contains("FAIL"))

        let prefix = "check-units: exposure of allocatord@orders.service: "
        let exposureLine = try #require(lines.first(where: { $0.hasPrefix(prefix) }), "\(result.output)")
        let exposure = try #require(Double(String(exposureLine.dropFirst(prefix.count).prefix(while: { $0 != " " }))), "\(exposureLine)")
        #expect(exposure <= 2.0)
    }

    /// One way of breaking a shipped unit, and what the check must then say.
    enum Breakage: String, CaseIterable, Sendable {
        /// A misspelt key: `systemd-analyze verify` only warns, with exit status 0.
        case unknownKey
        /// ExecReload= names a command that does not exist.
        case missingCommand
        /// Every sandboxing line gone: the exposure is far above 2.0.
        case hardeningRemoved
        /// Root and ProtectSystem=full: still under 2.0, but not what spec §11 asks for.
        case rootWithWritableSystem
        /// The socket open to everyone instead of 0660 (spec §9).
        case socketModeChanged

        var brokenFile: String { self == .socketModeChanged ? "allocatord@.socket" : "allocatord@.service" }

        /// Keys of sandboxing lines, and prefixes of more of them (ProtectSystem=, PrivateTmp=, ...).
        static let sandboxKeys: Set<String> = [
            "User", "Group", "UMask", "NoNewPrivileges", "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC",
            "DevicePolicy", "ProcSubset", "CapabilityBoundingSet", "SystemCallArchitectures", "SystemCallErrorNumber",
        ]
        static let sandboxKeyPrefixes: [String] = ["Protect", "Private", "Restrict", "SystemCallFilter"]

        func edit(_ unit: String) -> String {
            switch self {
            case .unknownKey:
                unit.replacingOccurrences(of: "[Service]\n", with: "[Service]\nFrobnicate=yes\n")
            case .missingCommand:
                unit.replacingOccurrences(of: "ExecReload=/bin/kill ", with: "ExecReload=/bin/no-such-kill ")
            case .hardeningRemoved:
                Self.removingLines(of: unit) { key in
                    Self.sandboxKeys.contains(key) || Self.sandboxKeyPrefixes.contains(where: { key.hasPrefix($0) })
                }
            case .rootWithWritableSystem:
                Self.removingLines(of: unit) { key in key == "User" || key == "Group" }
                    .replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystem=full")
            case .socketModeChanged:
                unit.replacingOccurrences(of: "SocketMode=0660", with: "SocketMode=0666")
            }
        }

        /// What the check's output must contain.
        var messages: [String] {
            switch self {
            case .unknownKey:
                ["FAIL: systemd-analyze verify allocatord@orders.service printed:", "Unknown key 'Frobnicate'"]
            case .missingCommand:
                ["FAIL: systemd-analyze verify allocatord@orders.service printed:", "/bin/no-such-kill is not executable"]
            case .hardeningRemoved:
                ["FAIL: exposure of allocatord@orders.service is", "above 2.0", "NoNewPrivileges="]
            case .rootWithWritableSystem:
                ["FAIL: allocatord@orders.service lacks what spec §9/§11/§12 ask for:", "ProtectSystem=", "User=/DynamicUser="]
            case .socketModeChanged:
                ["FAIL: allocatord@orders.socket lacks what spec §9/§11/§12 ask for:", "SocketMode=0660"]
            }
        }

        /// How many problems the check reports: an unknown key in the service is seen by verify
        /// of both units (the socket loads its service) and by security.
        var problems: Int {
            switch self {
            case .unknownKey: 3
            case .hardeningRemoved: 2
            case .missingCommand, .rootWithWritableSystem, .socketModeChanged: 1
            }
        }

        /// `unit` without the lines whose key (the text before `=`) `isRemoved`.
        private static func removingLines(of unit: String, where isRemoved: (String) -> Bool) -> String {
            unit.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { line in !isRemoved(String(line.prefix(while: { character in character != "=" }))) }
                .joined(separator: "\n")
        }
    }

    @Test(arguments: Breakage.allCases)
    func brokenUnitsFailTheCheck(breakage: Breakage) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("check-units-\(breakage.rawValue)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for original in [Self.service, Self.socket] {
            var text = try String(contentsOf: original, encoding: .utf8)
            if original.lastPathComponent == breakage.brokenFile {
                let broken = breakage.edit(text)
                try #require(broken != text, "the edit \(breakage) no longer applies to \(original.lastPathComponent)")
                text = broken
            }
            let copy = directory.appendingPathComponent(original.lastPathComponent)
            try Data(text.utf8).write(to: copy)
            paths.append(copy.path)
        }

        let result = try await checkUnits(paths)
        #expect(result.status == 1, "\(result.output)\(result.errors)")
        for message in breakage.messages {
            #expect(result.output.contains(message), "\(result.output)")
        }
        #expect(result.output.hasSuffix("check-units: FAILED: \(breakage.problems) problem(s)\n"), "\(result.output)")
    }

    @Test func refusesAMissingUnitFile() async throws {
        let result = try await checkUnits(["/nonexistent/allocatord@.service"])
        #expect(result.status == 2)
        #expect(result.errors.contains("no such unit file: /nonexistent/allocatord@.service"), "\(result.errors)")
    }

    /// Runs `scripts/check-units` with `arguments`.
    private func checkUnits(_ arguments: [String]) async throws -> CommandResult {
        try await runProcess(repositoryRoot.appendingPathComponent("scripts/check-units").path, arguments)
    }
}
