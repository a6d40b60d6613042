import Foundation
import Testing
import TestSupport

/// `man/allocatord.8.in`, allocatord(8) of the Debian package, is written by hand (allocatord
/// parses its flags itself): it must list exactly the options `allocatord --help` lists.
/// `scripts/test-package` checks the packaged page the same way; this catches a drift on every
/// `swift test`, without a release build.
@Suite struct ManualPageTests {
    static let page = repositoryRoot.appendingPathComponent("man/allocatord.8.in")

    @Test func allocatordsPageHasEveryOptionOfItsHelp() async throws {
        let help = try await runProduct("allocatord", ["--help"])
        #expect(help.status == 0, "\(help.errors)")
        let documented = try Self.documentedOptions()
        let missing = Self.options(in: help.output).subtracting(documented)
        #expect(missing.isEmpty, "allocatord --help lists options man/allocatord.8.in lacks: \(missing.sorted())")
    }

    @Test func allocatordsPageHasNoOptionItsHelpLacks() async throws {
        let help = try await runProduct("allocatord", ["--help"])
        let extra = try Self.documentedOptions().subtracting(Self.options(in: help.output)).subtracting(["--help"])
        #expect(extra.isEmpty, "man/allocatord.8.in documents options allocatord --help lacks: \(extra.sorted())")
    }

    /// The options of the page's OPTIONS section: the first `--name` of each `.TP` item's tag line.
    static func documentedOptions() throws -> Set<String> {
        let lines = try String(contentsOf: page, encoding: .utf8).replacingOccurrences(of: "\\-", with: "-")
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: ".SH OPTIONS"),
            let end = lines[(start + 1)...].firstIndex(where: { $0.hasPrefix(".SH ") })
        else { throw PageError.noOptionsSection }
        var found: Set<String> = []
        for (index, line) in lines[start..<end].enumerated() where line == ".TP" {
            let tag = lines[start + index + 1]
            if let option = tag.firstMatch(of: #/--[a-z][a-z-]*/#) { found.insert(String(option.output)) }
        }
        return found
    }

    /// Every `--name` in `text`.
    static func options(in text: String) -> Set<String> {
        Set(text.matches(of: #/--[a-z][a-z-]*/#).map { String($0.output) })
    }

    enum PageError: Error { case noOptionsSection }
}
