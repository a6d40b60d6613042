/// Why a partition string (`TOPIC:ID`, spec §2) was refused.
public struct PartitionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text that was refused, as given.
    public let input: String
    /// What is wrong with it, e.g. `id "01" has a leading zero`.
    public let reason: String

    /// An error about `input`, explained by `reason`.
    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    /// `invalid partition "INPUT": REASON`.
    public var description: String { "invalid partition \"\(input)\": \(reason)" }
}
