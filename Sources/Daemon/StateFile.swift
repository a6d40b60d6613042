import Foundation
import Glibc
import Logging

/// The member's document in a file (spec §8), replaced atomically: written to a temporary file
/// in the same folder, fsynced, renamed over the old one, and the folder fsynced, so a reader
/// sees the old document or the new one, never a part. A document equal to the one in the file
/// is not written again. The folder is created if missing.
struct StateFile: Sendable {
    let path: String

    /// Why the document could not be written.
    struct WriteError: Error, CustomStringConvertible {
        let path: String
        let step: String
        let code: Int32
        var description: String { "cannot \(step) \(path): \(String(cString: strerror(code)))" }
    }

    /// Writes `text` (and a newline) in place of the file's document.
    func write(_ text: String) throws(WriteError) {
        let folder = (path as NSString).deletingLastPathComponent
        try createFolder(folder)
        let temporary = "\(folder)/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw WriteError(path: temporary, step: "create", code: errno) }
        var bytes = Array((text + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw WriteError(path: temporary, step: "write", code: code)
            }
            written += result
        }
        bytes = []
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

    /// Removes a temporary file a crashed writer may have left.
    func removeLeftovers() {
        let folder = (path as NSString).deletingLastPathComponent
        let prefix = ".\((path as NSString).lastPathComponent)."
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            unlink("\(folder)/\(name)")
        }
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
