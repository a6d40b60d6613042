/// A partition of a topic, `TOPIC:ID` (spec §2). Placeholder until the Allocation layer lands.
public struct Partition: Hashable, Sendable {
    public var topic: String
    public var id: Int

    public init(topic: String, id: Int) {
        self.topic = topic
        self.id = id
    }
}
