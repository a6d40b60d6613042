/// Why a mapping from an `exec:` allocator (spec §6) was refused: what is wrong, and with which
/// member and partitions.
public struct MappingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of fault.
    public enum Code: String, Sendable, Equatable {
        /// A member that is not in the group was given partitions.
        case unknownMember
        /// A partition that is not in the set was given out (or a topic with an id it cannot have).
        case unknownPartition
        /// A partition was given out more than once.
        case assignedTwice
        /// Partitions of the set were given to no one.
        case unassigned
    }

    /// The kind of fault, for callers that react differently to each.
    public let code: Code
    /// A sentence naming the member and partitions at fault.
    public let message: String

    /// An error of kind `code`, explained by `message`.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `invalid allocation: ` and the message.
    public var description: String { "invalid allocation: \(message)" }
}
