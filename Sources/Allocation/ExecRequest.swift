/// What an `exec:PATH` allocator reads on standard input (spec §6): the members and the
/// partitions, both sorted by their UTF-8 bytes and without duplicates, as
/// `{"members":[...],"partitions":[...]}`.
public struct ExecRequest: Sendable, Equatable {
    /// The members, sorted by UTF-8 bytes, each once.
    public let members: [String]
    /// The partitions, sorted (`Partition` order, the strings' bytes), each once.
    public let partitions: [Partition]

    /// The request for these members and partitions, given in any order and possibly repeated.
    public init(members: [String], partitions: [Partition]) {
        self.members = sortedUniqueNames(members)
        self.partitions = sortedUniquePartitions(partitions)
    }

    /// The request as one line of compact JSON, without the newline, e.g.
    /// `{"members":["a","b"],"partitions":["t:0","t:1"]}`.
    public var json: String {
        var output: [UInt8] = []
        JSONText.appendRaw("{\"members\":", to: &output)
        JSONText.appendArray(members, to: &output)
        JSONText.appendRaw(",\"partitions\":", to: &output)
        JSONText.appendArray(partitions.map(\.description), to: &output)
        JSONText.appendRaw("}", to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Whether both carry the same members (by UTF-8 bytes) and partitions.
    public static func == (a: ExecRequest, b: ExecRequest) -> Bool {
        a.partitions == b.partitions && a.members.elementsEqual(b.members, by: utf8Equal)
    }
}
