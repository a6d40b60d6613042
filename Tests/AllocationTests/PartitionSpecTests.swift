import Allocation
import Testing

@Suite struct PartitionSpecTests {
    @Test func parsesIDsAndRangesIntoASortedSet() throws {
        let spec = try PartitionSpec(parsing: "orders:0-11,payments:3")
        #expect(spec.partitions.count == 13)
        #expect(spec.partitions.first == Partition(topic: "orders", id: 0))
        #expect(spec.partitions[1] == Partition(topic: "orders", id: 1))
        #expect(spec.partitions[2] == Partition(topic: "orders", id: 10))
        #expect(spec.partitions.last == Partition(topic: "payments", id: 3))
        #expect(spec.description == "orders:0-11,payments:3")
    }

    @Test func mergesRepeatedTopicsAndOverlaps() throws {
        let spec = try PartitionSpec(parsing: "t:1-3,t:7,u:0,t:2-4,t:7")
        #expect(spec.partitions.map(\.description) == ["t:1", "t:2", "t:3", "t:4", "t:7", "u:0"])
        #expect(spec.description == "t:1-4,t:7,u:0")
    }

    @Test func continuesTheTopicOfTheItemBefore() throws {
        #expect(try PartitionSpec(parsing: "t:1-3,7,9,u:0,5").description == "t:1-3,t:7,t:9,u:0,u:5")
        #expect(try PartitionSpec(parsing: "t:5-5").description == "t:5")
        #expect(try PartitionSpec(parsing: "t:4,5").description == "t:4,t:5")
    }

    @Test func formatsAnySetCompactlyAndReadsItBack() throws {
        var inputs = RandomInputs(seed: 11)
        for _ in 0..<200 {
            let spec = PartitionSpec(partitions: inputs.partitions(inputs.int(in: 1...60), topics: 3))
            #expect(try PartitionSpec(parsing: spec.description) == spec)
        }
        #expect(PartitionSpec(partitions: []).description == "")
    }

    @Test func acceptsExactlyTheMaximumCount() throws {
        let spec = try PartitionSpec(parsing: "t:0-499999,u:1-500000")
        #expect(spec.partitions.count == PartitionSpec.maximumCount)
    }

    @Test(arguments: [
        ("", "", "it is empty"),
        ("t:1, u:2", "t:1, u:2", "whitespace"),
        (" t:1", " t:1", "whitespace"),
        ("t:1\n", "t:1\n", "whitespace"),
        ("t:1,,u:2", "t:1,,u:2", "empty item"),
        ("t:1,", "t:1,", "empty item"),
        (",t:1", ",t:1", "empty item"),
        ("t:5-3", "t:5-3", "reversed"),
        ("t:01", "t:01", "leading zero"),
        ("t:1-03", "t:1-03", "leading zero"),
        ("t:", "t:", "the id is missing"),
        ("t:-3", "t:-3", "no first id"),
        ("t:3-", "t:3-", "no last id"),
        ("t:1-2-3", "t:1-2-3", "not a non-negative decimal integer"),
        ("t:+1", "t:+1", "not a non-negative decimal integer"),
        ("t:1:2", "t:1:2", "not a non-negative decimal integer"),
        ("t:\u{301}1", "t:\u{301}1", "not a non-negative decimal integer"),
        ("t:1-\u{301}3", "t:1-\u{301}3", "not a non-negative decimal integer"),
        ("t:1,\u{301}2", "\u{301}2", "not a non-negative decimal integer"),
        ("abc\u{600}:1", "abc\u{600}:1", "outside [A-Za-z0-9._-]"),
        ("t:1\u{600}-3", "t:1\u{600}-3", "not a non-negative decimal integer"),
        ("3", "3", "before the first topic"),
        ("t:1,payments", "payments", "not a non-negative decimal integer"),
        (":1", ":1", "the topic is empty"),
        ("t!:1", "t!:1", "outside [A-Za-z0-9._-]"),
        ("t:99999999999999999999", "t:99999999999999999999", "too large"),
        ("t:0-1000000", "t:0-1000000", "more than 1000000 partitions"),
        ("t:0-9223372036854775807", "t:0-9223372036854775807", "more than 1000000 partitions"),
        ("t:0-600000,u:0-400000", "u:0-400000", "more than 1000000 partitions"),
    ])
    func refusesMalformedSpecs(spec: String, item: String, reason: String) {
        #expect {
            try PartitionSpec(parsing: spec)
        } throws: { error in
            guard let error = error as? PartitionSpecError else { return false }
            return error.spec == spec && error.item == item && error.reason.contains(reason)
                && error.description.contains("\"\(spec)\"")
        }
    }
}

@Suite struct PartitionSetOrderTests {
    @Test func setsAreInTheOrderOfTheStringsBytes() {
        var inputs = RandomInputs(seed: 12)
        for _ in 0..<200 {
            let partitions = inputs.partitions(inputs.int(in: 0...80), topics: inputs.int(in: 1...6), maximumID: 1200)
            let expected = Set(partitions.map(\.description)).sorted { utf8Precedes($0, $1) }
            #expect(PartitionSpec(partitions: partitions).partitions.map(\.description) == expected)
        }
    }

    @Test func uncheckedPartitionsSortByTheirStringsToo() {
        let partitions = [
            Partition(topic: "t", id: 2), Partition(topic: "\u{212A}", id: 1), Partition(topic: "K", id: 1),
            Partition(topic: "t", id: -1), Partition(topic: "t:1", id: 0), Partition(topic: "t", id: 10), Partition(topic: "K", id: 1),
        ]
        // By bytes: a Set of Strings would merge the Kelvin sign with "K".
        let expected = Set(partitions.map { Array($0.description.utf8) }).sorted { $0.lexicographicallyPrecedes($1) }
        #expect(PartitionSpec(partitions: partitions).partitions.map { Array($0.description.utf8) } == expected)
        #expect(expected.count == 6)
    }
}
