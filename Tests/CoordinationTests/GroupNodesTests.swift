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

    @Test func thePartitionSetIsAnArrayOfTopicIDStrings() {
        let partitions = GroupNodes.partitions(inSetData: Array(#"["t:1", "t:0", "u:7"]"#.utf8))
        #expect(partitions == [Partition(topic: "t", id: 1), Partition(topic: "t", id: 0), Partition(topic: "u", id: 7)])
        #expect(GroupNodes.partitions(inSetData: Array("[]".utf8)) == [])
    }

    @Test(arguments: ["", "{}", "[1]", #"["t"]"#, #"["t:x"]"#, #"["t:1""#, #"["t:1"] ["t:2"]"#, "null"])
    func aPartitionSetThatDoesNotParseIsNone(text: String) {
        #expect(GroupNodes.partitions(inSetData: Array(text.utf8)) == nil)
    }
}
