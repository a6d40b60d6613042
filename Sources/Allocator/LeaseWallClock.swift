import ControlProtocol
import Coordination
import Foundation
import Glibc

extension Lease {
    /// The wall-clock time of a monotonic instant, for the published document.
    static func wallClock(of instant: ContinuousClock.Instant) -> Date {
        let offset = ContinuousClock.now.duration(to: instant)
        let (seconds, attoseconds) = offset.components
        return Date.now.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The same moment on the host's `CLOCK_BOOTTIME` in nanoseconds (spec §8): a clock that
    /// counts suspend and is never stepped, so same-host readers can hold a lease to it even
    /// when the wall clock is set back.
    static func bootTime(of instant: ContinuousClock.Instant) -> Int64 {
        let (seconds, attoseconds) = ContinuousClock.now.duration(to: instant).components
        return BootClock.now() + seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
