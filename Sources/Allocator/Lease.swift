import Foundation

/// How long a member's share stays valid without word from ZooKeeper (spec §7, §8).
///
/// The server expires a session no earlier than its timeout after it last heard from the
/// session, and it heard from it no earlier than when the client sent the latest request it
/// answered (`ConnectionStatus.lastHeardFromServer`). Until then no other member can have been
/// given this member's partitions. A safety margin covers clock-rate differences and the
/// time it takes to publish `lost`.
enum Lease {
    /// The end of the lease of a session last heard from at `lastHeard`.
    static func deadline(lastHeard: ContinuousClock.Instant, sessionTimeout: Duration) -> ContinuousClock.Instant {
        lastHeard + sessionTimeout - margin(for: sessionTimeout)
    }

    /// A tenth of the session timeout, at most one second.
    static func margin(for sessionTimeout: Duration) -> Duration {
        min(sessionTimeout / 10, .seconds(1))
    }

    /// The wall-clock time of a monotonic instant, for the published document.
    static func wallClock(of instant: ContinuousClock.Instant) -> Date {
        let offset = ContinuousClock.now.duration(to: instant)
        let (seconds, attoseconds) = offset.components
        return Date.now.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
