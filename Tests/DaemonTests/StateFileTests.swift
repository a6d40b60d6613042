import Foundation
import Glibc
import Testing
import TestSupport

@testable import Daemon

/// The state file cannot be redirected by another local user (spec §13): a symlink planted
/// where the daemon writes is never followed.
@Suite struct StateFileTests {
    let folder: String
    /// A file the planted symlinks point at: it must never change.
    let victim: String

    init() throws {
        folder = temporaryPath("statefile")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        victim = folder + "/victim"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
    }

    private func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    private func plantSymlink(_ name: String) throws {
        try FileManager.default.createSymbolicLink(atPath: folder + "/" + name, withDestinationPath: victim)
    }

    @Test func aSymlinkAtTheOldPredictableTemporaryNameIsNotFollowed() throws {
        // What the reported attack used: `.NAME.PID.tmp`.
        try plantSymlink(".state.json.\(getpid()).tmp")
        try StateFile(path: folder + "/state.json").write("{\"a\":1}")
        #expect(contents(victim) == "precious\n")
        #expect(contents(folder + "/state.json") == "{\"a\":1}\n")
    }

    @Test func aTakenTemporaryNameIsPassedOver() throws {
        try plantSymlink(".state.json.planted.tmp")
        let names = [".state.json.planted.tmp", ".state.json.free.tmp"]
        let calls = Shared(0)
        let file = StateFile(path: folder + "/state.json") { names[min(calls.update { $0 += 1 } - 1, 1)] }
        try file.write("{\"b\":2}")
        #expect(calls.value == 2)
        #expect(contents(victim) == "precious\n")
        #expect(contents(folder + "/state.json") == "{\"b\":2}\n")
    }

    @Test func onlyTakenNamesMeanAnErrorAndNothingWritten() throws {
        try plantSymlink(".state.json.planted.tmp")
        let file = StateFile(path: folder + "/state.json") { ".state.json.planted.tmp" }
        #expect(throws: StateFile.WriteError.self) { try file.write("{\"c\":3}") }
        #expect(contents(victim) == "precious\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/state.json"))
    }

    @Test func aSymlinkAtTheFileItselfIsReplacedNotFollowed() throws {
        try plantSymlink("state.json")
        try StateFile(path: folder + "/state.json").write("{\"d\":4}")
        #expect(contents(victim) == "precious\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/state.json")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)
    }

    @Test func leftoversAreRemovedAndSymlinksAmongThemNotFollowed() throws {
        try plantSymlink(".state.json.0123456789abcdef.tmp")
        try Data().write(to: URL(fileURLWithPath: folder + "/.state.json.fedcba9876543210.tmp"))
        StateFile(path: folder + "/state.json").removeLeftovers()
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["victim"])
        #expect(contents(victim) == "precious\n")
    }
}
