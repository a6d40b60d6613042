import Glibc

/// The host's `CLOCK_BOOTTIME` (spec §8): counts suspend, never stepped; the clock of
/// `valid_until_boottime_ns`, which the member publishes and a consumer's guard and
/// `allocatorctl check` compare with.
public enum BootClock {
    /// Now, in nanoseconds.
    public static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
