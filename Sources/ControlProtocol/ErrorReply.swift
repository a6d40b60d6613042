/// `{"error":{"code":…,"message":…}}`: the answer to a request that failed (spec §9), a stable
/// code and a message for people.
public struct ErrorReply: Codable, Sendable, Equatable {
    /// What went wrong.
    public struct Body: Codable, Sendable, Equatable {
        /// A stable word: `unknown_command`, `bad_spec`, `invalid_utf8`, `not_leader`, ….
        public var code: String
        /// What happened and, where it helps, what to do.
        public var message: String
    }

    public var error: Body

    public init(code: String, message: String) {
        error = Body(code: code, message: message)
    }
}
