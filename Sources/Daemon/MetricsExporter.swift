import Allocation
import Allocator
import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The daemon's metrics in Prometheus' text format (spec §16), for the socket's `metrics` and
/// for `--metrics-file` (node_exporter's textfile collector).
///
/// Counters and the rebalance histogram are counted where things happen, through swift-metrics
/// (the ZooKeeper client, the member, the hook, the consumer's supervisor), into the Prometheus
/// registry this exporter bootstraps. Gauges are read from the member's status when the text is
/// made, so they are never stale. Every series carries the constant labels `group` and
/// `member`, and every family a `# HELP` (`DaemonMetricsFactory`).
final class MetricsExporter: Sendable {
    private let registry = PrometheusCollectorRegistry()
    /// How many socket clients are connected (set once the server exists).
    private let socketClients = Mutex<(@Sendable () -> Int)?>(nil)

    private let states: [MemberState: Prometheus.Gauge]
    private let leader: Prometheus.Gauge
    private let epoch: Prometheus.Gauge
    private let share: Prometheus.Gauge
    private let revoking: Prometheus.Gauge
    private let members: Prometheus.Gauge
    private let partitions: Prometheus.Gauge
    private let planWait: Prometheus.Gauge
    private let clients: Prometheus.Gauge
    private let watchers: Prometheus.Gauge

    /// Makes the registry the process's swift-metrics backend: call once, before anything
    /// counts. `group` and `member` label every series.
    init(group: String, member: String) {
        let factory = DaemonMetricsFactory(
            registry: registry, group: group, member: member,
            durationBuckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000].map { Duration.milliseconds($0) })
        MetricsSystem.bootstrap(factory)
        let registry = registry
        /// `allocatord_NAME_UNIT` (the unit may be empty) with its help text.
        func gauge(_ name: String, _ unit: String, _ help: String, labels: [(String, String)] = []) -> Prometheus.Gauge {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "allocatord", metricName: name, unitName: unit, helpText: help),
                labels: labels + factory.constantLabels)
        }
        states = Dictionary(uniqueKeysWithValues: MemberState.allCases.map { state in
            (state, gauge("state", "", "1 for the member's state (joining, active, suspended, lost, stopped), 0 for the others",
                          labels: [("state", state.rawValue)]))
        })
        leader = gauge("leader", "", "1 while this member leads the group (protocol 2)")
        epoch = gauge("epoch", "", "The group's epoch (generation) of the published document")
        share = gauge("share", "partitions", "Partitions this member holds")
        revoking = gauge("revoking", "partitions", "Partitions waiting for the consumer's release (handover: consumer)")
        members = gauge("members", "", "Members of the group")
        partitions = gauge("partitions", "", "Partitions of the group")
        planWait = gauge("plan_wait", "seconds", "How long the longest-awaited member has been awaited by the leader (0 when none)")
        clients = gauge("socket_clients", "", "Connected socket clients")
        watchers = gauge("watch_streams", "", "Socket clients following watch")
        gauge("build_info", "", "The version running", labels: [("version", ProductVersion.current)]).set(to: 1)
        // The counters counted elsewhere, made now so that they show 0 (not nothing) before
        // their first event: `increase()` needs the start.
        for label in Self.counters { _ = CoreMetrics.Counter(label: label) }
    }

    /// Every counter the daemon counts (those with labels, such as the ZooKeeper errors by
    /// code, appear with their first event).
    static let counters = [
        "allocatord_rebalances_total", "allocatord_forced_releases_total", "allocatord_session_expirations_total",
        "allocatord_connection_losses_total", "allocatord_zookeeper_requests_total", "allocatord_hook_failures_total",
        "allocatord_consumer_starts_total", "allocatord_consumer_kills_total",
    ]

    /// Tells the exporter how to count the socket's clients.
    func countSocketClients(with count: @escaping @Sendable () -> Int) {
        socketClients.withLock { $0 = count }
    }

    /// The exposition text (without OpenMetrics' `# EOF`), gauges read from `status`.
    func text(status: MemberStatus, watchStreams: Int) -> String {
        for (state, gauge) in states { gauge.set(to: state == status.state ? 1 : 0) }
        leader.set(to: status.role == .leader ? 1 : 0)
        epoch.set(status.generation)
        share.set(Int64(status.shareCount))
        revoking.set(Int64(status.revokingCount))
        members.set(Int64(status.memberCount))
        partitions.set(Int64(status.partitionCount))
        let longest = status.awaitedFor.values.max() ?? .zero
        planWait.set(to: Double(longest.components.seconds) + Double(longest.components.attoseconds) / 1e18)
        clients.set(Int64(socketClients.withLock { $0 }?() ?? 0))
        watchers.set(Int64(watchStreams))
        return registry.emitToString()
    }
}
