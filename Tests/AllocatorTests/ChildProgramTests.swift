import ExecAllocation
import Foundation
import Glibc
import Testing
import TestSupport

/// The programs the daemon runs to their end or their timeout (the `exec:` allocator, the
/// rebalance hook).
@Suite struct ChildProgramTests {
    /// Past its timeout a program is killed with what it started, even what ignores SIGTERM: a
    /// shell's background job ran on, and each timed-out run of a hung allocator left more
    /// behind.
    @Test func aProgramPastItsTimeoutIsStoppedWithWhatItStarted() async throws {
        let pidFile = temporaryPath("child") + ".pid"
        let program = ChildProgram(
            executable: "/bin/sh", arguments: ["-c", "(trap '' TERM; exec sleep 600) & echo $! > \(pidFile); wait"],
            timeout: .seconds(2))
        await #expect(throws: ChildProgram.Failure.timedOut) { try await program.run(input: []) }
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let gone = await eventually(timeout: .seconds(10)) { !ProcessTable.isRunning(pid) }
        if !gone { kill(pid, SIGKILL) }
        #expect(gone, "the background job \(pid) outlived its program's timeout")
    }
}
