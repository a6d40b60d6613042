import Configuration
import Logging
import ZooKeeper
import Synchronization

/// The settings a SIGHUP reload can change while the daemon runs: the log level, the
/// `on-rebalance` hook and its timeout, and who may use the mutating socket commands. The
/// others need a restart; a reload names those that changed.
final class LiveSettings: Sendable {
    private let state: Mutex<(hook: RebalanceHook?, writers: DaemonConfiguration.SocketWriters)>
    private let started: [String: String]
    private let logger: Logger

    init(_ configuration: DaemonConfiguration, logger: Logger) {
        self.logger = logger
        started = configuration.restartOnlyFields
        state = Mutex((Self.hook(configuration, logger: logger), configuration.socketWriters))
    }

    var hook: RebalanceHook? { state.withLock { $0.hook } }
    var socketWriters: DaemonConfiguration.SocketWriters { state.withLock { $0.writers } }

    /// Applies what can change live; returns what it did and what needs a restart.
    func apply(_ configuration: DaemonConfiguration) -> String {
        DaemonLogHandler.level.withLock { $0 = configuration.logLevel }
        ZooKeeperClient.setLibraryLogLevel(for: configuration.logLevel)
        state.withLock { $0 = (Self.hook(configuration, logger: logger), configuration.socketWriters) }
        let changed = configuration.restartOnlyFields.filter { started[$0.key] != $0.value }.keys.sorted()
        let applied = "applied log-level, on-rebalance, hook-timeout and socket-writers"
        return changed.isEmpty ? applied : applied + "; changed but needing a restart: " + changed.joined(separator: ", ")
    }

    private static func hook(_ configuration: DaemonConfiguration, logger: Logger) -> RebalanceHook? {
        configuration.onRebalance.map { RebalanceHook(command: $0, timeout: configuration.hookTimeout, logger: logger) }
    }
}
