import Foundation

/// A system call of a test's socket failed, or a reply did not come in time.
struct TestSocketError: Error, CustomStringConvertible {
    var description: String

    /// The error of the call that just failed, from `errno`.
    static func errno(_ call: String) -> TestSocketError {
        TestSocketError(description: "\(call): \(String(cString: strerror(Foundation.errno)))")
    }
}
