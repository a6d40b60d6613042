/// Why a ``LineServer`` could not start listening.
public struct LineServerError: Error, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// Something that is not a socket is at the path; the server leaves it alone.
        case notASocket
        /// Another process is listening on the socket at the path.
        case inUse
        /// The server is already listening, or was closed.
        case notIdle
    }

    /// What went wrong.
    public var code: Code
    /// The socket path, or the descriptor, concerned.
    public var target: String

    /// Makes an error.
    public init(code: Code, target: String) {
        self.code = code
        self.target = target
    }

    /// A sentence for logs and error messages.
    public var description: String {
        switch code {
        case .notASocket: "\(target) exists and is not a socket"
        case .inUse: "another process is listening on \(target)"
        case .notIdle: "the line server cannot listen on \(target): it is already listening or closed"
        }
    }
}
