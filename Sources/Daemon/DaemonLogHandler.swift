import Allocation
import Allocator
import Foundation
import Logging
import Synchronization
import SystemdNotifier

/// The daemon's log records, in one of three forms (`log-format`):
///
/// - `journal`: under systemd, when standard error is the journal's stream, one native journal
///   record per event, with the metadata as fields (`GROUP=`, `MEMBER=`, `EPOCH=`, `STATE=`, ...),
///   so that `journalctl GROUP=orders` selects a group's records;
/// - `json`: one JSON object per line on standard error (`time`, `level`, `logger`, `message`,
///   then the metadata);
/// - `text`: `TIME LEVEL label: message key=value` lines on standard error.
///
/// The level follows swift-log's contract: the daemon's level (`log-level`, changed by a
/// reload) applies to every logger that has not been given its own; setting one logger's level
/// changes that logger only.
struct DaemonLogHandler: LogHandler {
    enum Format: String, Sendable {
        case text, json, journal
    }

    /// The daemon's level, for every logger without one of its own.
    static let level = Mutex(Logger.Level.info)

    private var ownLevel: Logger.Level?
    var logLevel: Logger.Level {
        get { ownLevel ?? Self.level.withLock { $0 } }
        set { ownLevel = newValue }
    }
    var metadata: Logger.Metadata = [:]
    let label: String
    let format: Format

    init(label: String, format: Format) {
        self.label = label
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }.sorted { $0.key < $1.key }
        let message = "\(event.message)"
        switch format {
        case .journal:
            let fields = [("SYSLOG_IDENTIFIER", "allocatord"), ("LOGGER", label)]
                + all.map { (Self.fieldName($0.key), "\($0.value)") }
            if Journal.send(message: message + Self.details(all), priority: Self.priority(event.level), fields: fields) { return }
            write("\(MemberDocument.timestamp(Date())) \(event.level) \(label): \(message)\(Self.details(all))")
        case .json:
            var output: [UInt8] = Array("{\"time\":\"\(MemberDocument.timestamp(Date()))\",\"level\":\"\(event.level)\",\"logger\":".utf8)
            JSONText.appendString(label, to: &output)
            output += Array(",\"message\":".utf8)
            JSONText.appendString(message, to: &output)
            for (key, value) in all where !["time", "level", "logger", "message"].contains(key) {
                output.append(UInt8(ascii: ","))
                JSONText.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                JSONText.appendString("\(value)", to: &output)
            }
            output.append(UInt8(ascii: "}"))
            write(String(decoding: output, as: UTF8.self))
        case .text:
            write("\(MemberDocument.timestamp(Date())) \(event.level) \(label): \(message)\(Self.details(all))")
        }
    }

    private func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// ` key=value` for each metadata entry.
    private static func details(_ metadata: [(key: String, value: Logger.MetadataValue)]) -> String {
        metadata.map { " \($0.key)=\($0.value)" }.joined()
    }

    /// A metadata key as a journal field name: capitals, `_` for anything but letters and digits.
    static func fieldName(_ key: String) -> String {
        String(key.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
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
