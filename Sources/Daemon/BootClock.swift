import Glibc

/// The host's `CLOCK_BOOTTIME` (spec §8): counts suspend, never stepped; the clock of
/// `valid_until_boottime_ns`, which the daemon and a consumer's guard compare with.
enum BootClock {
    /// Now, in nanoseconds.
    static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
