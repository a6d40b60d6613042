import Foundation
import Glibc
import Logging

/// The member's document in a file (spec §8), replaced atomically: written to a temporary file
/// in the same folder, fsynced, renamed over the old one, and the folder fsynced, so a reader
/// sees the old document or the new one, never a part. The folder is created if missing.
///
/// No other local user can redirect the write (spec §13): the temporary file has an
/// unpredictable name and is created exclusively (`O_EXCL | O_NOFOLLOW`), so a symlink or a
/// file placed in the folder beforehand is never opened, only passed over; and `rename`
/// replaces a symlink at `path` itself, never what it points to.
struct StateFile: Sendable {
    let path: String
    /// The name of the next temporary file, in the target's folder.
    private let temporaryName: @Sendable () -> String

    /// Why the document could not be written.
    struct WriteError: Error, CustomStringConvertible {
        let path: String
        let step: String
        let code: Int32
        var description: String { "cannot \(step) \(path): \(String(cString: strerror(code)))" }
    }

    init(path: String) {
        let prefix = Self.temporaryPrefix(of: path)
        self.init(path: path) { "\(prefix)\(UInt64.random(in: .min ... .max).hexadecimal).tmp" }
    }

    /// A file whose temporary files are named by `temporaryName` (tests choose names that are
    /// taken).
    init(path: String, temporaryName: @escaping @Sendable () -> String) {
        self.path = path
        self.temporaryName = temporaryName
    }

    /// How many taken names `write` passes over before giving up.
    private static let attempts = 8

    /// Writes `text` (and a newline) in place of the file's document.
    func write(_ text: String) throws(WriteError) {
        let folder = (path as NSString).deletingLastPathComponent
        try createFolder(folder)
        let (temporary, descriptor) = try createTemporary(in: folder)
        let bytes = Array((text + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw WriteError(path: temporary, step: "write", code: code)
            }
            written += result
        }
        if fsync(descriptor) != 0 {
            let code = errno
            close(descriptor)
            unlink(temporary)
            throw WriteError(path: temporary, step: "fsync", code: code)
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw WriteError(path: path, step: "rename onto", code: code)
        }
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }

    /// A new temporary file in `folder`, created by this call and by nobody before it: a name
    /// that is taken (by a leftover, or by a symlink someone planted) is passed over.
    private func createTemporary(in folder: String) throws(WriteError) -> (path: String, descriptor: Int32) {
        var lastPath = folder
        for _ in 0..<Self.attempts {
            let temporary = "\(folder)/\(temporaryName())"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if descriptor >= 0 { return (temporary, descriptor) }
            guard errno == EEXIST else { throw WriteError(path: temporary, step: "create", code: errno) }
            lastPath = temporary
        }
        throw WriteError(path: lastPath, step: "create a temporary file like", code: EEXIST)
    }

    /// Removes temporary files a crashed writer may have left (symlinks are removed, never
    /// followed).
    func removeLeftovers() {
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = Self.temporaryPrefix(of: path)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            unlink("\(folder)/\(name)")
        }
    }

    /// `.NAME.`: temporary files are `.NAME.<16 hex digits>.tmp`.
    private static func temporaryPrefix(of path: String) -> String {
        ".\((path as NSString).lastPathComponent)."
    }

    private func createFolder(_ folder: String) throws(WriteError) {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue { return }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw WriteError(path: folder, step: "create the folder", code: errno == 0 ? EACCES : errno)
        }
    }
}

extension UInt64 {
    /// Sixteen lowercase hexadecimal digits.
    fileprivate var hexadecimal: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
