/// Why a strategy name (spec §6) was refused.
public struct StrategyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name that was refused, as given.
    public let input: String
    /// What is wrong with it.
    public let reason: String

    /// An error about `input`, explained by `reason`.
    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    /// `invalid strategy "NAME": REASON`.
    public var description: String { "invalid strategy \"\(input)\": \(reason)" }
}
