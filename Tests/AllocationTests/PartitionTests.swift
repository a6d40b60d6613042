import Allocation
import Testing

@Suite struct PartitionTests {
    @Test(arguments: [
        ("t:0", "t", 0),
        ("orders:11", "orders", 11),
        ("a.b_c-D9:9223372036854775807", "a.b_c-D9", Int.max),
        (String(repeating: "x", count: 249) + ":7", String(repeating: "x", count: 249), 7),
        ("..:1", "..", 1),
    ])
    func parsesValidPartitions(text: String, topic: String, id: Int) throws {
        let partition = try Partition(parsing: text)
        #expect(partition == Partition(topic: topic, id: id))
        #expect(partition.description == text)
    }

    @Test(arguments: [
        ("t:01", "leading zero"),
        ("t:00", "leading zero"),
        ("t:+1", "not a non-negative decimal integer"),
        ("t: 1", "not a non-negative decimal integer"),
        ("t:1 ", "not a non-negative decimal integer"),
        ("t:-1", "not a non-negative decimal integer"),
        ("t:1.0", "not a non-negative decimal integer"),
        ("t:١", "not a non-negative decimal integer"),
        ("t:", "the id is missing"),
        (":1", "the topic is empty"),
        ("t:1:2", "not a non-negative decimal integer"),
        ("t:\u{301}1", "not a non-negative decimal integer"),
        ("t\u{301}:1", "outside [A-Za-z0-9._-]"),
        ("abc\u{600}:1", "outside [A-Za-z0-9._-]"),
        ("t", "no \":\""),
        ("", "no \":\""),
        ("t:9223372036854775808", "too large"),
        ("t:99999999999999999999999", "too large"),
        ("a b:1", "outside [A-Za-z0-9._-]"),
        ("é:1", "outside [A-Za-z0-9._-]"),
        ("t/x:1", "outside [A-Za-z0-9._-]"),
        (String(repeating: "x", count: 250) + ":1", "250 characters long"),
    ])
    func refusesMalformedPartitions(text: String, reason: String) {
        #expect {
            try Partition(parsing: text)
        } throws: { error in
            guard let error = error as? PartitionError else { return false }
            return error.input == text && error.reason.contains(reason)
                && error.description.hasPrefix("invalid partition \"\(text)\": ")
        }
    }

    @Test func ordersLikeTheUTF8BytesOfTheString() {
        let texts = ["t:10", "t:2", "t:1", "t:0", "u:0", "t:3", "t:11", "a-b:1", "a:1", "a.b:0", "ab:5", "a_b:3",
                     "A:100", "a:9", "a:90", "a:100", "t:9223372036854775807", "t:922"]
        let partitions = texts.map { try! Partition(parsing: $0) }
        let sorted = partitions.sorted()
        #expect(sorted.map(\.description) == texts.sorted { utf8Precedes($0, $1) })
        #expect(Partition(topic: "t", id: 10) < Partition(topic: "t", id: 2))
        #expect(!(Partition(topic: "t", id: 2) < Partition(topic: "t", id: 2)))
    }

    @Test func ordersUncheckedPartitionsByTheirStrings() {
        // Not valid partitions, but ordering stays the order of the strings.
        let partitions = [
            Partition(topic: "t", id: -1), Partition(topic: "t", id: 0), Partition(topic: "t:1", id: 0),
            Partition(topic: "t", id: 1), Partition(topic: "é", id: 1), Partition(topic: "e\u{301}", id: 1),
        ]
        for a in partitions {
            for b in partitions {
                #expect((a < b) == utf8Precedes(a.description, b.description), "\(a) < \(b)")
            }
        }
        #expect(Partition(topic: "é", id: 1) != Partition(topic: "e\u{301}", id: 1))
    }

    @Test func orderingOfIDsMatchesTheirDecimalStrings() {
        var inputs = RandomInputs(seed: 7)
        for _ in 0..<2000 {
            let a = Partition(topic: "t", id: inputs.int(in: 0...Int.max) >> inputs.int(in: 0...62))
            let b = Partition(topic: "t", id: inputs.int(in: 0...Int.max) >> inputs.int(in: 0...62))
            #expect((a < b) == utf8Precedes(a.description, b.description), "\(a) < \(b)")
        }
    }

    @Test func sortsMemberNamesByUTF8Bytes() {
        let names = ["b", "a", "é", "e\u{301}", "z", "Z", "😀", "日", "ÿ", "Ω"]
        #expect(names.sorted(by: utf8Precedes) == ["Z", "a", "b", "e\u{301}", "z", "é", "ÿ", "Ω", "日", "😀"])
        #expect(utf8Precedes("e\u{301}", "é"))
        #expect(!utf8Precedes("é", "é"))
    }
}
