import Allocation
import Testing

@testable import Allocator

/// `MemberDocument.ShareShape`: the share in the document's shape, kept while the partitions
/// stay the same, and made again whenever they change.
@Suite struct ShareShapeTests {
    @Test func aChangedShareIsShapedAgain() {
        var shape = MemberDocument.ShareShape()
        let first: Set<Partition> = [Partition(topic: "t", id: 2), Partition(topic: "t", id: 0), Partition(topic: "a", id: 7)]
        #expect(shape(first) == ["t": [0, 2], "a": [7]])
        #expect(shape(first) == ["t": [0, 2], "a": [7]])
        var grown = first
        grown.insert(Partition(topic: "t", id: 1))
        #expect(shape(grown) == ["t": [0, 1, 2], "a": [7]])
        #expect(shape([]) == [:])
        #expect(shape(first) == ["t": [0, 2], "a": [7]])
    }
}
