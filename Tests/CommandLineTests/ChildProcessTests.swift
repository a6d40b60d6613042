import Foundation
import Glibc
import Testing
import TestSupport

/// The suite's way of running programs (TestSupport's `ChildProcess`): what the tests that
/// start daemons, consumers and watchers rely on.
@Suite struct ChildProcessTests {
    @Test func aChildStartedFromAThreadThatBlocksSIGTERMStillEndsOnIt() async throws {
        let started = Shared<ChildProcess?>(nil)
        Thread {
            var blocked = sigset_t()
            sigemptyset(&blocked)
            sigaddset(&blocked, SIGTERM)
            pthread_sigmask(SIG_BLOCK, &blocked, nil)
            started.update { $0 = try? ChildProcess("/bin/sleep", ["60"]) }
        }.start()
        #expect(await eventually { started.value != nil })
        let child = try #require(started.value)
        child.signal(SIGTERM)
        #expect(await child.exited() == .signaled(SIGTERM))
    }

    @Test func aChildHasNoDescriptorOfTheSuiteButItsThree() throws {
        let descriptor = open("/dev/null", O_RDONLY)  // not close-on-exec
        defer { close(descriptor) }
        let result = try runBlocking("/bin/sh", ["-c", "test -e /proc/$$/fd/\(descriptor)"])
        #expect(result.status == 1, "descriptor \(descriptor) was inherited")
    }

    @Test func inputOutputAndExitStatusComeThrough() throws {
        let result = try runBlocking("/bin/sh", ["-c", "tr a-z A-Z; echo oops >&2; exit 3"], input: Array("hello\n".utf8))
        #expect(result.status == 3)
        #expect(result.output == "HELLO\n")
        #expect(result.errors == "oops\n")
    }

    @Test func aProgramThatCannotStartIsAnError() {
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess("/nonexistent/program") }
    }
}
