import Coordination
import Foundation

extension Lease {
    /// The wall-clock time of a monotonic instant, for the published document.
    static func wallClock(of instant: ContinuousClock.Instant) -> Date {
        let offset = ContinuousClock.now.duration(to: instant)
        let (seconds, attoseconds) = offset.components
        return Date.now.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
