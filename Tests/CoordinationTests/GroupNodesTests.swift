import Allocation
import Coordination
import Testing

/// What members read from the group node and the partition set's node, well-formed or not.
@Suite struct GroupNodesTests {
    @Test func theGroupNodeNamesItsStrategy() {
        #expect(GroupNodes.strategy(inGroupData: Array(#"{"strategy":"round-robin","protocol":2}"#.utf8)) == .roundRobin)
        #expect(GroupNodes.strategy(inGroupData: Array(#" { "protocol" : 2 , "strategy" : "consistent" } "#.utf8)) == .consistent)
    }

    @Test(arguments: [
        "", "{}", #"{"strategy":null}"#, #"{"strategy":5}"#, #"{"strategy":"no-such"}"#, "[1]", #"{"strategy":"range""#,
        #"{"strategy":"range"} trailing"#, "\u{FF}",
    ])
    func aGroupNodeWithoutAStrategyThatParsesNamesNone(text: String) {
        #expect(GroupNodes.strategy(inGroupData: Array(text.utf8)) == nil)
    }

    @Test func thePartitionSetIsAnArrayOfTopicIDStrings() throws {
        let partitions = try GroupNodes.partitions(inSetData: Array(#"["t:1", "t:0", "u:7"]"#.utf8)).get()
        #expect(partitions == [Partition(topic: "t", id: 1), Partition(topic: "t", id: 0), Partition(topic: "u", id: 7)])
        #expect(try GroupNodes.partitions(inSetData: Array("[]".utf8)).get() == [])
        // kiel makes the node empty.
        #expect(try GroupNodes.partitions(inSetData: Array(" \n".utf8)).get() == [])
    }

    @Test(arguments: [
        ("{}", "not a JSON list of strings"), ("[1]", "not a JSON list of strings"), (#"["t"]"#, #"item "t""#),
        (#"["t:x"]"#, #"item "t:x""#), (#"["t:1""#, "not a JSON list of strings"),
        (#"["t:1"] ["t:2"]"#, "not a JSON list of strings"), ("null", "not a JSON list of strings"),
    ])
    func aPartitionSetThatDoesNotParseSaysWhy(text: String, reason: String) {
        guard case .failure(let malformed) = GroupNodes.partitions(inSetData: Array(text.utf8)) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(malformed.reason.hasPrefix(reason), "\(malformed.reason)")
    }
}
