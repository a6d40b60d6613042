import Allocation
import ControlProtocol
import Coordination
import Foundation
import Testing

@testable import Allocator
@testable import Daemon

/// The socket's replies as the daemon writes them and allocatorctl reads them (spec §9): one
/// JSON object a line, keys sorted, every key written (`null` when unknown).
@Suite struct RepliesTests {
    /// A session of a server whose `myid` is 128 or more: the id's high bit is set.
    static let highBitSession = Int64(bitPattern: 0x8000_0a1b_2c3d_4e5f)

    /// A member that knows little yet: every optional value unknown.
    static func joiningStatus(sessionID: Int64? = nil) -> MemberStatus {
        MemberStatus(
            connection: .connecting, sessionID: sessionID, sessionTimeout: nil, member: "m1", state: .joining, generation: 0,
            strategy: nil, lastRebalanceAt: nil, lastRebalanceDuration: nil, memberCount: 0, partitionCount: 0, shareCount: 0,
            partitionSetSize: 0, partitionSetLimit: 1000, partitionSetMalformed: nil, lastError: nil, uptime: .milliseconds(1500))
    }

    @Test func aSessionIDWithTheHighBitSetReadsInStatusAsInTheGrantNode() throws {
        let line = ReplyEncoder.line(StatusReply(status: Self.joiningStatus(sessionID: Self.highBitSession), watchers: 0, stateFileError: nil))
        let grant = String(decoding: Grant(epoch: 1, session: Self.highBitSession).encoded, as: UTF8.self)
        // Not `0x-7ffff5e4d3c2b1a1`, as `String(id, radix: 16)` of the signed id wrote it.
        #expect(line.contains(#""session_id":"0x80000a1b2c3d4e5f""#))
        #expect(grant.contains(#""session":"0x80000a1b2c3d4e5f""#))
        let read = try JSONDecoder().decode(StatusReply.self, from: Data(line.utf8))
        #expect(read.sessionID.flatMap(SessionID.parse) == Self.highBitSession)
    }

    @Test func statusWritesNullForWhatIsUnknownAndReadsBack() throws {
        let reply = StatusReply(status: Self.joiningStatus(), watchers: 0, stateFileError: nil)
        let line = ReplyEncoder.line(reply)
        #expect(
            line == #"{"awaited":{},"awaited_ms":{},"connection":"connecting","forced_releases":0,"generation":0,"#
                + #""last_error":null,"last_rebalance_at":null,"last_rebalance_ms":null,"leader":null,"member":"m1","#
                + #""members":0,"partitions":0,"partitions_malformed":null,"partitions_znode_bytes":0,"#
                + #""partitions_znode_limit":1000,"revoking":0,"role":"follower","session_id":null,"#
                + #""session_timeout_ms":null,"share":0,"state":"joining","strategy":null,"uptime_ms":1500,"#
                + #""version":"\#(ProductVersion.current)","watchers":0}"#)
        #expect(try JSONDecoder().decode(StatusReply.self, from: Data(line.utf8)) == reply)
    }

    @Test func statusJoinsTheMembersAndTheStateFilesErrors() {
        var status = Self.joiningStatus()
        status.lastError = "not connected"
        let reply = StatusReply(status: status, watchers: 2, stateFileError: "/run/allocatord/g.json: read-only file system")
        #expect(reply.lastError == "not connected; /run/allocatord/g.json: read-only file system")
        #expect(ReplyEncoder.line(reply).contains(#""last_error":"not connected; /run/allocatord/g.json: read-only"#))
    }

    @Test func membersWritesARecordOrNullMetadataAndReadsBack() throws {
        let record = MemberRecord(ackedEpoch: 7, weight: 2, host: "h1", pid: 42, strategy: nil, release: "0.4.0")
        let reply = MembersReply(
            members: [
                MembersReply.Entry(report: MemberReport(member: "kiel-1", record: nil, leads: false), awaited: true),
                MembersReply.Entry(report: MemberReport(member: "m1", record: record, leads: true), awaited: false),
            ],
            epoch: 7, digest: "abc", agree: false)
        let line = ReplyEncoder.line(reply)
        #expect(
            line == #"{"agree":false,"digest":"abc","epoch":7,"members":["#
                + #"{"awaited":true,"member":"kiel-1","metadata":null,"role":"follower"},"#
                + #"{"acked_epoch":7,"allocatord":"0.4.0","awaited":false,"host":"h1","member":"m1","pid":42,"#
                + #""role":"leader","strategy":null,"weight":2}]}"#)
        #expect(try JSONDecoder().decode(MembersReply.self, from: Data(line.utf8)) == reply)
    }
}
