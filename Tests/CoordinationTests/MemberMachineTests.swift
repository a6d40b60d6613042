import Coordination
import Testing

/// The member's own policies around its three machines, without ZooKeeper.
@Suite struct MemberMachineTests {
    let start = ContinuousClock.now

    /// A machine whose session has started, and the requests it sent for it.
    func started() -> (MemberMachine, [(MemberMachine.RequestTag, NodeRequest)]) {
        var machine = MemberMachine(
            member: "a", paths: GroupPaths(group: "/g"), settings: MemberMachine.Settings(), sessionTimeout: .seconds(4))
        var actions = machine.handle(.sessionStarted(session: 0x1234, timeout: .seconds(4)), now: start)
        for case .prepareGroup(let tag) in actions {
            actions += machine.handle(.groupPrepared(tag, failure: nil), now: start)
        }
        return (machine, sends(actions))
    }

    func sends(_ actions: [MemberMachine.Action]) -> [(MemberMachine.RequestTag, NodeRequest)] {
        actions.compactMap { if case .send(let tag, let request) = $0 { (tag, request) } else { nil } }
    }

    /// Requests refused because the session is over (or closing) are not sent again: the
    /// client refuses them at once, and its refusal came back at once, for good (two members of
    /// one process held both threads of the concurrency pool so). The session's end starts
    /// everything anew.
    @Test func aReplyThatTheSessionEndedAsksNothingAgain() {
        var (machine, sent) = started()
        #expect(!sent.isEmpty)
        for (tag, _) in sent {
            #expect(sends(machine.handle(.replied(tag, NodeReply(.failure(.sessionExpired))), now: start)).isEmpty)
        }
    }

    /// A reply lost with the connection asks again what must be known (sent once connected):
    /// the member node's create again (a create applied is found by its `nodeExists`), and the
    /// lock listed to find whether the contender's sequential create was applied.
    @Test func aReplyLostWithTheConnectionIsAskedAgain() {
        var (machine, sent) = started()
        let resent = sent.flatMap { tag, _ in sends(machine.handle(.replied(tag, NodeReply(.failure(.connectionLoss))), now: start)) }
        let memberCreate = sent.map(\.1).filter { if case .create("/g/members/a", _, _) = $0 { true } else { false } }
        #expect(memberCreate.count == 1)
        #expect(resent.count == 2)
        #expect(resent.contains { $0.1 == memberCreate.first })
        #expect(resent.contains { $0.1 == .getChildren("/g/leader", watch: false) })
    }
}
