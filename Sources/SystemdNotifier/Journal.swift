import CSystemd
import Glibc

/// The systemd journal's native protocol (`sd_journal_sendv`): one record per log event, with
/// fields a query can select (`journalctl GROUP=orders EPOCH=17`).
public enum Journal {
    /// Whether standard error is the journal's stream (`JOURNAL_STREAM` names its device and
    /// inode): only then does a native record land where the unit's output would have.
    public static func isStandardError(journalStream: String?) -> Bool {
        guard let journalStream else { return false }
        let parts = journalStream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Sends one record: `MESSAGE`, `PRIORITY` (syslog's 0–7) and `fields`, whose names must be
    /// journal field names (capitals, digits and `_`, not starting with `_`); others are
    /// dropped. Returns whether the journal took it.
    @discardableResult
    public static func send(message: String, priority: Int, fields: [(name: String, value: String)]) -> Bool {
        var entries = ["MESSAGE=" + message, "PRIORITY=\(priority)"]
        for field in fields where isFieldName(field.name) { entries.append(field.name + "=" + field.value) }
        // One buffer, an `iovec` for each entry in it.
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        for entry in entries {
            let start = storage.count
            storage += entry.utf8
            ranges.append(start..<storage.count)
        }
        return storage.withUnsafeMutableBytes { bytes in
            let vectors = ranges.map { iovec(iov_base: bytes.baseAddress! + $0.lowerBound, iov_len: $0.count) }
            return sd_journal_sendv(vectors, Int32(vectors.count)) == 0
        }
    }

    /// Whether `name` may be a field's name.
    static func isFieldName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first != UInt8(ascii: "_"), name.utf8.count <= 64 else { return false }
        return name.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_") }
    }
}
