@testable import Allocator
import Allocation
import Coordination
import Testing
import TestSupport

/// `set-strategy` (spec §6, §14): what is refused, and what a running group does.
@Suite struct StrategyChangeTests {
    let pinned = GroupSettings(strategy: .consistent)

    func report(_ name: String, configured: String?, kiel: Bool = false) -> MemberReport {
        MemberReport(member: name, record: kiel ? nil : MemberRecord(strategy: configured), leads: false)
    }

    @Test func refusesProgramsUnpinnedGroupsAndMembersConfiguredOtherwise() throws {
        let program = Strategy.exec(path: "/usr/local/bin/allocate")
        #expect(StrategyChange.refusal(to: program, settings: pinned, group: "g", members: [], force: true) == .program("exec:/usr/local/bin/allocate"))
        let empty = try GroupSettings(data: [], path: "/kiel/groups/g")
        let protocolOne = try GroupSettings(data: Array(#"{"strategy":"consistent"}"#.utf8), path: "/kiel/groups/g")
        for settings in [empty, protocolOne] {
            #expect(StrategyChange.refusal(to: .sticky, settings: settings, group: "g", members: [], force: true) == .notPinned(group: "g"))
        }
        // Members configured with another strategy would refuse to join again; kiel members,
        // members that adopt the group's and members configured with the new one would not.
        let members = [
            report("a", configured: "consistent"), report("b", configured: nil), report("k", configured: nil, kiel: true),
            report("s", configured: "sticky"), report("r", configured: "range"),
        ]
        #expect(StrategyChange.refusal(to: .sticky, settings: pinned, group: "g", members: members, force: false)
            == .membersConfigured(strategy: "sticky", members: ["a (consistent)", "r (range)"]))
        #expect(StrategyChange.refusal(to: .sticky, settings: pinned, group: "g", members: members, force: true) == nil)
        #expect(StrategyChange.refusal(to: .sticky, settings: pinned, group: "g", members: Array(members[1...3]), force: false) == nil)
    }

    /// A running group of members that adopt the group's strategy moves from consistent to
    /// sticky without moving a partition, names sticky in every document, and a leave then
    /// moves exactly the leaver's share. Members configured with consistent refuse it unless
    /// forced.
    @Test func aRunningGroupFollowsTheNewStrategy() async throws {
        let server = try await TestZooKeeper.shared.value
        let group = uniqueGroup()
        let a = try RunningMember(server, group: group, name: "a", strategy: nil, seed: "t:0-29")
        let b = try RunningMember(server, group: group, name: "b", strategy: nil)
        let c = try RunningMember(server, group: group, name: "c", strategy: nil)
        defer { Task { await a.stop(); await c.stop() } }
        let before = try await waitForAgreement([a, b, c], partitionCount: 30)
        #expect(before.allSatisfy { $0.strategy == "consistent" })

        let change = try await b.member.commands().setStrategy(.sticky, force: false)
        #expect(change == StrategyChange(previous: .consistent, strategy: .sticky, written: true))
        #expect(await eventually { [a, b, c].allSatisfy { $0.latest?.strategy == "sticky" } })
        let switched = try await waitForAgreement([a, b, c], partitionCount: 30)
        #expect(switched.map(partitions(of:)) == before.map(partitions(of:)))
        #expect(try await b.member.commands().setStrategy(.sticky, force: false).written == false)

        await b.stop()
        let after = try await waitForAgreement([a, c], partitionCount: 30)
        for (document, earlier) in zip(after, [before[0], before[2]]) {
            #expect(Set(partitions(of: earlier)).isSubset(of: Set(partitions(of: document))))
        }

        let configured = try RunningMember(server, group: group, name: "d", strategy: .sticky)
        defer { Task { await configured.stop() } }
        try await waitForAgreement([a, c, configured], partitionCount: 30)
        await #expect(throws: GroupCommandError(
            .membersConfigured, StrategyChangeError.membersConfigured(strategy: "consistent", members: ["d (sticky)"]).description)
        ) {
            try await a.member.commands().setStrategy(.consistent, force: false)
        }
        #expect(try await a.member.commands().setStrategy(.consistent, force: true).written)
        #expect(await eventually { [a, c, configured].allSatisfy { $0.latest?.strategy == "consistent" } })
    }
}
