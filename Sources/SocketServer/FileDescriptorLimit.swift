import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open files (`RLIMIT_NOFILE`), which caps the clients a server can have.
///
/// systemd starts services with a soft limit of 1024 and a much higher hard one: the soft limit
/// may be raised to the hard one without privileges, and is, when the clients need it.
enum FileDescriptorLimit {
    /// Descriptors the daemon needs besides its clients' (ZooKeeper, logs, files, the listener).
    static let reserve = 64

    /// Raises the soft limit to the hard one if it is below `clients` plus ``reserve``; logs a
    /// warning if even the hard limit is below that.
    static func raise(toServe clients: Int, logger: Logger) {
        let needed = rlim_t(clients + reserve)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < needed else { return }
        let before = limit.rlim_cur
        // An unlimited hard limit is more than the kernel takes (`fs.nr_open`): then just enough.
        for target in [limit.rlim_max, min(needed, limit.rlim_max)] where target > before {
            limit.rlim_cur = target
            if setrlimit(resource, &limit) == 0 {
                logger.info("raised the open file limit", metadata: ["from": "\(before)", "to": "\(target)"])
                break
            }
            limit.rlim_cur = before
        }
        if limit.rlim_cur < needed {
            logger.warning(
                "the open file limit is below what the client limit needs: connections beyond it wait unaccepted",
                metadata: ["limit": "\(limit.rlim_cur)", "needed": "\(needed)"])
        }
    }
}
