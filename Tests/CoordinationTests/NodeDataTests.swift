import Allocation
import Coordination
import Testing

/// The protocol's nodes read back (spec §14): what the leader and members write reads back the
/// same; what a hand, an older or newer release, or an attacker writes either reads as the
/// format allows or is refused with the reason, never half read.
@Suite struct NodeDataTests {
    func partitions(_ spec: String) -> Set<Partition> { Set(try! PartitionSpec(parsing: spec).partitions) }

    @Test func whatIsWrittenReadsBack() throws {
        let grants = [
            Grant(epoch: 7, session: 0x1234_5678_9abc, partitions: partitions("t:0-9,u:3,a-b:10"), releasing: partitions("t:11")),
            Grant(epoch: 1, session: -5, unknownHoldings: true),
            Grant(epoch: Int64.max, session: Int64.min),
        ]
        for grant in grants { #expect(try Grant(decoding: grant.encoded) == grant) }
        let summary = GroupSummary(
            epoch: 12, leader: "é\"\\\n", strategy: "exec:/bin/x", members: ["a", "b\u{1}"], partitionCount: 30,
            digest: "08f44b07b5901a25", grants: ["a": 3, "b\u{1}": 12], awaited: ["a": 12],
            partitionSet: PartitionSetState(bytes: 300, error: "bad \"text\""), holdsUnheld: true)
        #expect(try GroupSummary(decoding: summary.encoded) == summary)
        var changed = summary
        changed.changes = [
            "a": GrantChange(fromEpoch: 2, fromVersion: 5, added: partitions("t:4,u:0-2"), removed: partitions("t:1"), releasing: partitions("t:1")),
            "b\u{1}": GrantChange(fromEpoch: 11, fromVersion: Int32.max, unknownHoldings: true),
        ]
        #expect(try GroupSummary(decoding: changed.encoded) == changed)
        // Without changes, not a byte of the key: what older releases wrote.
        #expect(!String(decoding: summary.encoded, as: UTF8.self).contains("changes"))
        let record = MemberRecord(ackedEpoch: 9, weight: 3, host: "h", pid: 4_000_000, strategy: "sticky", release: "0.4.0")
        #expect(MemberRecord(decoding: record.encoded) == record)
        #expect(MemberRecord(decoding: MemberRecord().encoded) == MemberRecord())
    }

    @Test func whitespaceUnknownKeysAndNullsAreRead() throws {
        let grant = try Grant(decoding: Array("""
             { "releasing" : { } , "future" : [ 1.5e3, {"x": [null, true, false, "\\u00e9"]} ],
               "partitions" : { "t" : [ 2 , 0 ] }, "session" : "0x7", "epoch" : 3, "unknown_holdings": null }
            """.utf8))
        #expect(grant == Grant(epoch: 3, session: 7, partitions: partitions("t:0,t:2")))
        let summary = try GroupSummary(decoding: Array("""
            {"epoch":1,"leader":"a","strategy":"consistent","members":[],"partition_count":0,"digest":null,
             "grants":null,"awaited":null,"partition_set_bytes":null,"partition_set_error":null,"later":{}}
            """.utf8))
        #expect(summary == GroupSummary(epoch: 1, leader: "a", strategy: "consistent", members: [], partitionCount: 0))
        #expect(MemberRecord(decoding: Array(#"{"version":2,"acked_epoch":4,"weight":null,"extra":"x"}"#.utf8)) == MemberRecord(ackedEpoch: 4))
    }

    /// A change the summary carries that is not one (no epoch, a version past 32 bits, a
    /// partition that is not one) is left out, and its member reads its grant; the rest of the
    /// summary is read.
    @Test func aGrantChangeThatDoesNotParseIsLeftOut() throws {
        let summary = try GroupSummary(decoding: Array("""
            {"epoch":5,"leader":"a","strategy":"consistent","members":["a","b","c","d"],"partition_count":4,
             "changes":{"a":{"from_version":1,"added":{},"removed":{},"releasing":{}},
                        "b":{"from_epoch":4,"from_version":4294967296,"added":{},"removed":{},"releasing":{}},
                        "c":{"from_epoch":4,"from_version":1,"added":{"t":[-1]},"removed":{},"releasing":{}},
                        "d":{"from_epoch":4,"from_version":1,"added":{"t":[3]},"removed":{},"releasing":{},"later":1}}}
            """.utf8))
        #expect(summary.changes == ["d": GrantChange(fromEpoch: 4, fromVersion: 1, added: partitions("t:3"))])
        #expect(summary.members == ["a", "b", "c", "d"])
    }

    /// A follower reads only its own change: the others' are skipped, malformed or not, and
    /// the rest of the summary is read as whole.
    @Test func aFollowerReadsOnlyItsOwnChange() throws {
        let own = GrantChange(fromEpoch: 4, fromVersion: 1, added: partitions("t:3"), removed: partitions("t:0"))
        var summary = GroupSummary(
            epoch: 5, leader: "a", strategy: "consistent", members: ["a", "b", "c"], partitionCount: 4,
            grants: ["a": 5, "b": 5, "c": 5])
        summary.changes = ["a": GrantChange(fromEpoch: 4, fromVersion: 2, added: partitions("t:0")), "b": own]
        let read = try GroupSummary(decoding: summary.encoded, changesOf: "b")
        #expect(read.changes == ["b": own])
        var rest = read
        rest.changes = summary.changes
        #expect(rest == summary)
        #expect(try GroupSummary(decoding: summary.encoded, changesOf: "c").changes.isEmpty)
        // Another member's name that is canonically equivalent (a different znode) is not its own.
        var accented = summary
        accented.changes = ["e\u{301}": own]
        #expect(try GroupSummary(decoding: accented.encoded, changesOf: "é").changes.isEmpty)
        #expect(try GroupSummary(decoding: accented.encoded, changesOf: "e\u{301}").changes.count == 1)
        let others = try GroupSummary(decoding: Array("""
            {"epoch":5,"leader":"a","strategy":"consistent","members":["a","b"],"partition_count":4,
             "changes":{"a":{"from_epoch":4,"added":{"t":[-1]},"x":[1,{"y":null}]},"b":{"from_epoch":4,"from_version":1,"added":{"t":[3]},"removed":{},"releasing":{}}}}
            """.utf8), changesOf: "b")
        #expect(others.changes == ["b": GrantChange(fromEpoch: 4, fromVersion: 1, added: partitions("t:3"))])
    }

    @Test func aGrantThatDoesNotParseSaysWhy() {
        let cases: [(String, String)] = [
            ("", "not the JSON object expected: expected \"{\" at byte 0"),
            ("garbage", "not the JSON object expected: expected \"{\" at byte 0"),
            (#"{"epoch":1,"session":"0x1","partitions":{},"releasing":{}} x"#, "expected the end of the text at byte 59"),
            (#"{"session":"0x1","partitions":{},"releasing":{}}"#, "\"epoch\" is missing"),
            (#"{"epoch":1,"partitions":{},"releasing":{}}"#, "\"session\" is missing"),
            (#"{"epoch":1,"session":"0x1","releasing":{}}"#, "\"partitions\" is missing"),
            (#"{"epoch":1,"session":"0x1","partitions":{}}"#, "\"releasing\" is missing"),
            (#"{"epoch":"1","session":"0x1","partitions":{},"releasing":{}}"#, "expected an integer at byte 9"),
            (#"{"epoch":1.5,"session":"0x1","partitions":{},"releasing":{}}"#, "expected an integer at byte 9"),
            (#"{"epoch":1,"session":"0x1","partitions":{"t":["1"]},"releasing":{}}"#, "expected an integer at byte 46"),
            (#"{"epoch":1,"session":"0x1","partitions":{"t":[1,]},"releasing":{}}"#, "expected an integer at byte 48"),
            (#"{"epoch":1,"session":"0x1","partitions":[],"releasing":{}}"#, "expected \"{\" at byte 40"),
            (#"{"epoch":1,"session":"0x1","partitions":{"t":[-1]},"releasing":{}}"#, "invalid partition \"t:-1\""),
            (#"{"epoch":1,"session":"0x1","partitions":{"t t":[1]},"releasing":{}}"#, "invalid partition \"t t:1\""),
            (#"{"epoch":1,"session":"0x1","partitions":{},"releasing":{},"unknown_holdings":1}"#, "expected true or false"),
            (#"{"epoch":1,"session":"one","partitions":{},"releasing":{}}"#, "\"session\" is not a session id: one"),
            (#"{"epoch":99999999999999999999,"session":"0x1","partitions":{},"releasing":{}}"#, "an integer that fits 64 bits"),
        ]
        for (text, reason) in cases {
            #expect {
                try Grant(decoding: Array(text.utf8))
            } throws: { error in
                guard let error = error as? NodeDataError, error.what == "grant" else { return false }
                return error.reason.contains(reason)
            }
        }
    }

    @Test func aSummaryOrARecordThatDoesNotParseIsRefused() {
        for text in [
            "", "{}", "[]", #"{"epoch":1}"#,
            #"{"epoch":1,"leader":2,"strategy":"s","members":[],"partition_count":0}"#,
            #"{"epoch":1,"leader":"a","strategy":"s","members":[1],"partition_count":0}"#,
            #"{"epoch":1,"leader":"a","strategy":"s","members":[],"partition_count":0,"grants":{"a":"1"}}"#,
            #"{"epoch":1,"leader":"a","strategy":"s","members":[],"partition_count":0,"holds_unheld":"yes"}"#,
            #"{"epoch":1,"leader":"a","strategy":"s","members":[],"partition_count":0"#,
        ] {
            #expect(throws: NodeDataError.self) { try GroupSummary(decoding: Array(text.utf8)) }
        }
        for text in [
            "", "host-1", #"{"acked_epoch":1}"#, #"{"version":1,"acked_epoch":1}"#, #"{"version":2}"#,
            #"{"version":2,"acked_epoch":"1"}"#, #"{"version":2,"acked_epoch":1,"pid":4294967296}"#,
            #"{"version":2,"acked_epoch":1,"host":7}"#, #"{"version":2,"acked_epoch":1}x"#,
        ] {
            #expect(MemberRecord(decoding: Array(text.utf8)) == nil, "\(text)")
        }
    }
}
