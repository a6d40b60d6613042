import Allocator
import Foundation
import Logging
import Synchronization

/// Log lines on standard error: `LEVEL label: message key=value`. Under systemd (the journal
/// is on standard error: `JOURNAL_STREAM`) each line starts with its syslog priority, `<3>`,
/// so the journal keeps the level.
struct DaemonLogHandler: LogHandler {
    /// The daemon's level, shared by every logger so that a reload changes it everywhere.
    static let level = Mutex(Logger.Level.info)

    var logLevel: Logger.Level {
        get { Self.level.withLock { $0 } }
        set { Self.level.withLock { $0 = newValue } }
    }
    var metadata: Logger.Metadata = [:]
    let label: String
    let journal: Bool

    init(label: String, journal: Bool) {
        self.label = label
        self.journal = journal
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let details = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let prefix = journal ? "<\(Self.priority(event.level))>" : "\(MemberDocument.timestamp(Date())) \(event.level) "
        let line = "\(prefix)\(label): \(event.message)\(details)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
