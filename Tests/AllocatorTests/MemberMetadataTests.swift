import Allocator
import Testing

/// What a member's metadata says about the views it has reached: the acknowledgement that
/// handovers wait for (docs/allocator.md).
@Suite struct MemberMetadataTests {
    static func metadata(members: Int32?, partitions: Int32?, generation: Int64) -> MemberMetadata {
        MemberMetadata(
            host: "h", pid: 1, strategy: "consistent", generation: generation, digest: "d",
            membersVersion: members, partitionsVersion: partitions)
    }

    @Test func onlyTheSameViewIsAnAcknowledgement() {
        // (members 5, partitions 3) and (members 4, partitions 4): both generation 8.
        let at = Self.metadata(members: 5, partitions: 3, generation: 8)
        #expect(at.isAt(membersVersion: 5, partitionsVersion: 3))
        #expect(!at.isAt(membersVersion: 4, partitionsVersion: 4))
        // A member at a newer view may have taken back what the older view moved away from it.
        #expect(!at.isAt(membersVersion: 4, partitionsVersion: 2))
        #expect(!at.isAt(membersVersion: 6, partitionsVersion: 3))
    }

    @Test func metadataWithoutVersionsFallsBackToTheGeneration() {
        let old = Self.metadata(members: nil, partitions: nil, generation: 8)
        #expect(old.isAt(membersVersion: 4, partitionsVersion: 4))
        #expect(!old.isAt(membersVersion: 4, partitionsVersion: 3))
    }

    @Test func theVersionsRoundTripAndStayOptional() throws {
        let written = Self.metadata(members: 5, partitions: 3, generation: 8)
        let text = String(decoding: written.encoded, as: UTF8.self)
        #expect(text.contains(#""members_version":5"#) && text.contains(#""partitions_version":3"#))
        #expect(MemberMetadata(decoding: written.encoded) == written)
        let spec = #"{"version":1,"host":"h","pid":1,"strategy":"consistent","generation":8,"digest":"d"}"#
        let decoded = try #require(MemberMetadata(decoding: Array(spec.utf8)))
        #expect(decoded.membersVersion == nil && decoded.partitionsVersion == nil && decoded.generation == 8)
    }
}
