/// Where a group's daemon listens when `--socket` does not say (spec §9, §12): the daemon's
/// default and `allocatorctl --group`.
public enum DaemonSocket {
    /// `/run/allocatord/GROUP.sock`.
    public static func defaultPath(group: String) -> String { "/run/allocatord/\(group).sock" }
}
