import Allocation
import Testing

@Suite struct PartitionTests {
    @Test func holdsTopicAndID() {
        #expect(Partition(topic: "t", id: 1).id == 1)
    }
}
