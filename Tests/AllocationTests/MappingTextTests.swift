import Allocation
import Testing

/// `MappingText`: the mapping shape read back from any JSON text, canonically equivalent names
/// kept apart, anything else refused with where and what.
@Suite struct MappingTextTests {
    @Test func readsBackWhatAllocationWrites() throws {
        var inputs = RandomInputs(seed: 21)
        for _ in 0..<200 {
            let allocation = PureStrategy.consistent.allocate(
                members: inputs.members(inputs.int(in: 0...10)), partitions: inputs.partitions(inputs.int(in: 0...80), topics: 3))
            let parsed = try MappingText.parse(Array(allocation.json.utf8))
            #expect(parsed.map { Array($0.member.utf8) } == allocation.members.map { Array($0.utf8) })
            for (member, share) in parsed {
                #expect(share.map(\.topic) == share.map(\.topic).sorted(by: utf8Precedes))
                #expect(share.flatMap { topic, ids in ids.map { Partition(topic: topic, id: $0) } }.sorted()
                    == allocation.partitions(of: member).sorted())
            }
        }
    }

    @Test func decodesEscapesAndWhitespace() throws {
        let text = " {\n \"e\\u0301\" : { \"t\" : [ 1 , -2 ] } , \"\\u00e9\\\"\\\\\\/\\n\\ud83d\\ude00\":{}, \"x\": {\"a\": [], \"a\": [3]}}\t"
        let parsed = try MappingText.parse(Array(text.utf8))
        #expect(parsed.map { Array($0.member.utf8) } == [Array("e\u{301}".utf8), Array("é\"\\/\n😀".utf8), Array("x".utf8)])
        #expect(parsed[0].share.map(\.topic) == ["t"] && parsed[0].share[0].ids == [1, -2])
        #expect(parsed[1].share.isEmpty)
        #expect(parsed[2].share.map(\.ids) == [[], [3]])
    }

    @Test(arguments: [
        (#"[]"#, 0, "\"{\""),
        (#"{"a": {"t": [1.5]}}"#, 13, "an integer"),
        (#"{"a": {"t": [01]}}"#, 13, "an integer"),
        (#"{"a": {"t": [1e3]}}"#, 13, "an integer"),
        (#"{"a": {"t": [99999999999999999999]}}"#, 13, "fits 64 bits"),
        (#"{"a": {"t": [1]}} x"#, 18, "the end"),
        (#"{"a": {"t": [1]}"#, 16, "\",\" or \"}\""),
        (#"{"a": {"t": "1"}}"#, 12, "\"[\""),
        (#"{"a\q": {}}"#, 4, "an escape"),
        (#"{"\ud800": {}}"#, 8, "surrogate"),
        ("{\"a\u{1}\": {}}", 3, "control character"),
    ] as [(String, Int, String)])
    func refusesWhatIsNotAMapping(text: String, offset: Int, expected: String) {
        #expect {
            try MappingText.parse(Array(text.utf8))
        } throws: { error in
            guard let error = error as? MappingTextError else { return false }
            return error.offset == offset && error.expected.contains(expected)
        }
    }

    @Test func refusesBytesThatAreNotUTF8() {
        #expect(throws: MappingTextError.self) { try MappingText.parse([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x7B, 0x7D, 0x7D]) }
    }
}
