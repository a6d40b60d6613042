import Glibc
import Testing

@testable import Daemon

/// The daemon's end of a consumer guard's socket (`GuardedConsumer.readReports`), over a real
/// socket pair as the daemon makes it.
@Suite struct GuardSocketTests {
    /// A guard that exits with a command unread (the daemon sent it as the guard ended): the
    /// kernel reports the reset first, and the guard's last reports must still be read, or the
    /// daemon takes the guard for killed and stops instead of starting its consumer again.
    @Test func reportsSentBeforeAGuardEndsWithACommandUnreadAreRead() throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &ends) == 0)
        let (daemon, guardEnd) = (ends[0], ends[1])
        defer { close(daemon) }
        let ending = ConsumerEnding(status: .exited(129), cause: .itself, killed: false)
        let command = GuardCommand.signal(SIGHUP).text
        try #require(send(daemon, command, command.utf8.count, Int32(MSG_NOSIGNAL)) == command.utf8.count)
        for report in [GuardReport.started(pid: 4242), .ended(ending)] {
            let text = report.text
            try #require(send(guardEnd, text, text.utf8.count, Int32(MSG_NOSIGNAL)) == text.utf8.count)
        }
        close(guardEnd)

        var reports: [GuardReport] = []
        GuardedConsumer.readReports(from: daemon) { reports.append($0) }
        #expect(reports == [.started(pid: 4242), .ended(ending)])
    }

    /// The usual end: the reports, then the guard's end closes.
    @Test func reportsAreReadUntilTheGuardsEndCloses() throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &ends) == 0)
        defer { close(ends[0]) }
        for text in ["started 17", "not a report", GuardReport.expired.text] {
            try #require(send(ends[1], text, text.utf8.count, Int32(MSG_NOSIGNAL)) == text.utf8.count)
        }
        close(ends[1])
        var reports: [GuardReport] = []
        GuardedConsumer.readReports(from: ends[0]) { reports.append($0) }
        #expect(reports == [.started(pid: 17), .expired])
    }
}
