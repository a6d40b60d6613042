/// Reads a mapping in the shape `allocatorctl plan` prints and an `exec:` allocator prints,
/// `{"MEMBER": {"TOPIC": [ID, ...]}}`, from JSON text.
///
/// Unlike a decoder into a Swift `Dictionary`, it keeps members whose names are canonically
/// equivalent Unicode (`"é"` and `"e\u{301}"`) apart, as everywhere else in this target, and it
/// reads a 100 000-partition mapping in a few milliseconds. Any JSON whitespace and string
/// escape is accepted; a member or a topic repeated is read as many times as it appears.
public enum MappingText {
    /// One member's entry: its topics, each with its ids, in the order of the text.
    public typealias Share = [(topic: String, ids: [Int])]

    /// The mapping in `text`, members in the order of the text.
    /// - Throws: `MappingTextError` with the byte offset and what was expected there.
    public static func parse(_ text: [UInt8]) throws(MappingTextError) -> [(member: String, share: Share)] {
        var reader = JSONReader(text)
        var result: [(member: String, share: Share)] = []
        do {
            try reader.object { reader, member throws(JSONReader.Failure) in
                var share: Share = []
                try reader.object { reader, topic throws(JSONReader.Failure) in share.append((topic, try reader.integers())) }
                result.append((member, share))
            }
            try reader.end()
        } catch {
            throw MappingTextError(offset: error.offset, expected: error.expected)
        }
        return result
    }
}

/// JSON text that is not a mapping `{"MEMBER": {"TOPIC": [ID, ...]}}`: where, and what was
/// expected there.
public struct MappingTextError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset in the text.
    public let offset: Int
    public let expected: String

    public var description: String { "not a mapping {\"MEMBER\": {\"TOPIC\": [ID, ...]}}: expected \(expected) at byte \(offset)" }
}
