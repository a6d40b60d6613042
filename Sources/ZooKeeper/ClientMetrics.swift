import CoreMetrics

/// What the client counts, through swift-metrics (the daemon exports them, spec §16). Made on
/// first use: after the daemon has bootstrapped its metrics backend (before that, and in tests,
/// swift-metrics makes them count nowhere).
enum ClientMetrics {
    /// Requests handed to the server (or refused by the library at once).
    static let requests = Counter(label: "allocatord_zookeeper_requests_total")
    static let connectionLosses = Counter(label: "allocatord_connection_losses_total")
    static let sessionExpirations = Counter(label: "allocatord_session_expirations_total")

    /// A request that failed, by its error's name (`no_node`, `connection_loss`, ...): some are
    /// the answers a recipe expects (`no_node`, `node_exists`, `bad_version`).
    static func failed(_ code: ZooKeeperError.Code) {
        Counter(label: "allocatord_zookeeper_errors_total", dimensions: [("code", code.name)]).increment()
    }
}
