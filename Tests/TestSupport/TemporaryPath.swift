import Foundation
import Synchronization

/// A new path in the temporary folder, `PREFIX-XXXXXXXX` then `suffix` (nothing is made there),
/// removed with whatever is in it when the test process exits: a test's daemons, stopped in a
/// task of its `defer`, may still write in their folders as the test ends, and a machine that
/// runs the suite often had thousands of them left.
public func temporaryPath(_ prefix: String, suffix: String = "") -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))\(suffix)").path
    TemporaryPaths.register(path)
    return path
}

/// The paths `temporaryPath` gave out, removed at the process's exit.
enum TemporaryPaths {
    private static let paths = Mutex<[String]>([])
    private static let removalAtExit: Void = {
        atexit { TemporaryPaths.removeAll() }
    }()

    static func register(_ path: String) {
        _ = removalAtExit
        paths.withLock { $0.append(path) }
    }

    private static func removeAll() {
        for path in paths.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}
