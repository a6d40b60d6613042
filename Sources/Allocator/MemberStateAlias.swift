import Coordination

/// A member's state (spec §7); defined with the protocol's state machines.
public typealias MemberState = Coordination.MemberState
