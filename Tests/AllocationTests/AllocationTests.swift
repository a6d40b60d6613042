import Allocation
import Testing

@Suite struct AllocationTests {
    let partitions = ["t:10", "t:2", "t:1", "t:0", "u:0", "t:3", "t:11"].map { try! Partition(parsing: $0) }
    let members = ["b", "a", "é", "z", "Z", "idle-1", "idle-2", "idle-3"]

    @Test func sharesHaveIDsInNumericOrder() {
        let allocation = PureStrategy.roundRobin.allocate(members: ["a"], partitions: partitions)
        #expect(allocation.share(of: "a") == ["t": [0, 1, 2, 3, 10, 11], "u": [0]])
        #expect(allocation.partitions(of: "a").map(\.description) == ["t:0", "t:1", "t:10", "t:11", "t:2", "t:3", "u:0"])
        #expect(allocation.share(of: "nobody") == [:])
        #expect(allocation.owner(of: Partition(topic: "t", id: 10)) == "a")
        #expect(allocation.owner(of: Partition(topic: "t", id: 12)) == nil)
    }

    @Test func mappingListsEveryMemberAndJSONIsCanonical() {
        let allocation = PureStrategy.roundRobin.allocate(members: ["b", "a", "é", "z", "Z", "b"], partitions: partitions)
        #expect(allocation.members == ["Z", "a", "b", "z", "é"])
        #expect(allocation.mapping == [
            "Z": ["t": [0, 3]], "a": ["t": [1], "u": [0]], "b": ["t": [10]], "z": ["t": [11]], "é": ["t": [2]],
        ])
        #expect(allocation.json == #"{"Z":{"t":[0,3]},"a":{"t":[1],"u":[0]},"b":{"t":[10]},"z":{"t":[11]},"é":{"t":[2]}}"#)
        let idle = PureStrategy.roundRobin.allocate(members: ["x", "y"], partitions: [Partition(topic: "t", id: 0)])
        #expect(idle.mapping == ["x": ["t": [0]], "y": [:]])
        #expect(idle.json == #"{"x":{"t":[0]},"y":{}}"#)
    }

    @Test func jsonEscapesLikePython() {
        let allocation = PureStrategy.roundRobin.allocate(members: ["q\"b\\s"], partitions: [])
        #expect(allocation.json == #"{"q\"b\\s":{}}"#)
    }

    @Test func digestIsFNV1aOfTheJSON() {
        // Values computed in Python from the documented definition.
        #expect(PureStrategy.consistent.allocate(members: [], partitions: partitions).digest == "08f44b07b5901a25")
        let allocation = PureStrategy.roundRobin.allocate(members: ["x", "y"], partitions: [Partition(topic: "t", id: 0)])
        #expect(allocation.digest == fnv1a64Hex(#"{"x":{"t":[0]},"y":{}}"#))
        let other = PureStrategy.roundRobin.allocate(members: ["y", "x"], partitions: [Partition(topic: "t", id: 0)])
        #expect(other.digest == allocation.digest)
        let swapped = PureStrategy.roundRobin.allocate(members: ["w", "y"], partitions: [Partition(topic: "t", id: 0)])
        #expect(swapped.digest != allocation.digest)
    }

    @Test func emptyInputs() {
        let none = PureStrategy.consistent.allocate(members: [], partitions: partitions)
        #expect(none.members.isEmpty && none.partitions.isEmpty && none.mapping.isEmpty && none.json == "{}")
        for strategy in [PureStrategy.roundRobin, .range, .consistent, .sticky] {
            let idle = strategy.allocate(members: ["a", "b"], partitions: [])
            #expect(idle.mapping == ["a": [:], "b": [:]])
            #expect(idle == PureStrategy.roundRobin.allocate(members: ["b", "a"], partitions: []))
        }
    }

    @Test func keepsCanonicallyEquivalentMembersApart() {
        let allocation = PureStrategy.roundRobin.allocate(members: ["é", "e\u{301}"], partitions: partitions)
        #expect(allocation.members.count == 2)
        #expect(allocation.partitions(of: "e\u{301}").count == 4)
        #expect(allocation.partitions(of: "é").count == 3)
        #expect(allocation.json.hasPrefix("{\"e\u{301}\":"))
    }

    @Test func execRequestIsSortedCompactJSON() {
        let request = ExecRequest(members: ["b", "a", "é", "a"], partitions: partitions + partitions)
        #expect(request.members == ["a", "b", "é"])
        #expect(request.json == #"{"members":["a","b","é"],"partitions":["t:0","t:1","t:10","t:11","t:2","t:3","u:0"]}"#)
    }

    @Test func validatesAnExternalMapping() throws {
        let expected = PureStrategy.roundRobin.allocate(members: members, partitions: partitions)
        var mapping = expected.mapping
        let idle = expected.members.filter { expected.partitions(of: $0).isEmpty }
        #expect(idle.count == 1)
        for member in idle { mapping[member] = nil }
        let allocation = try Allocation.validated(mapping: mapping, members: members, partitions: partitions.reversed())
        #expect(allocation == expected)
        #expect(try Allocation.validated(mapping: [:], members: [], partitions: partitions).members.isEmpty)
    }

    @Test(arguments: [
        (["a": ["t": [0, 1, 2, 3, 10, 11], "u": [0]], "ghost": ["t": [5]]], MappingError.Code.unknownMember, "\"ghost\" is not a member but was given 1"),
        (["a": ["t": [0, 1, 2, 3, 10, 11], "u": [0]], "ghost": ["t": []]], nil, ""),
        (["a": ["t": [0, 1, 2, 3, 10], "u": [0]], "ghost": ["t": [11]]], .unknownMember, "\"ghost\" is not a member"),
        (["a": ["t": [0, 1, 2, 3, 10, 11, 12], "u": [0]]], .unknownPartition, "\"t:12\""),
        (["a": ["t": [0, 1, 2, 3, 10, 11, -1], "u": [0]]], .unknownPartition, "\"t:-1\""),
        (["a": ["t": [0, 1, 2, 3, 10, 11], "u": [0], "v": [0]]], .unknownPartition, "\"v:0\""),
        (["a": ["t": [0, 1, 2, 3, 10, 11], "u": [0]], "b": ["t": [3]]], .assignedTwice, "\"t:3\" was given to both \"a\" and \"b\""),
        (["a": ["t": [0, 1, 2, 3, 10, 11, 3], "u": [0]]], .assignedTwice, "twice to \"a\""),
        (["a": ["t": [0, 1, 2, 3], "u": [0]]], .unassigned, "2 partition(s) were given to no one: \"t:10\", \"t:11\""),
        ([:], .unassigned, "7 partition(s) were given to no one: \"t:0\", \"t:1\", \"t:10\", \"t:11\", \"t:2\" and 2 more"),
    ] as [([String: [String: [Int]]], MappingError.Code?, String)])
    func refusesBadMappings(mapping: [String: [String: [Int]]], code: MappingError.Code?, message: String) {
        let members = ["a", "b"]
        guard let code else {
            #expect(throws: Never.self) { try Allocation.validated(mapping: mapping, members: members, partitions: partitions) }
            return
        }
        #expect {
            try Allocation.validated(mapping: mapping, members: members, partitions: partitions)
        } throws: { error in
            guard let error = error as? MappingError else { return false }
            return error.code == code && error.message.contains(message)
        }
    }
}

/// The documented digest, computed independently of the library.
func fnv1a64Hex(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
