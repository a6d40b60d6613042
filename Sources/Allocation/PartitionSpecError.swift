/// Why a partition spec (`TOPIC:IDS[,TOPIC:IDS...]`, spec §9) was refused.
public struct PartitionSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The whole spec, as given.
    public let spec: String
    /// The part of the spec that is wrong (one comma-separated item, or the whole spec).
    public let item: String
    /// What is wrong with it.
    public let reason: String

    /// An error about `item` of `spec` (or the whole `spec`), explained by `reason`.
    public init(spec: String, item: String, reason: String) {
        self.spec = spec
        self.item = item
        self.reason = reason
    }

    /// `invalid partition spec "SPEC": "ITEM": REASON`, without the item when it is the whole spec.
    public var description: String {
        item == spec
            ? "invalid partition spec \"\(spec)\": \(reason)"
            : "invalid partition spec \"\(spec)\": \"\(item)\": \(reason)"
    }
}
