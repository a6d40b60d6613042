import CoreMetrics
import Prometheus

/// The daemon's swift-metrics backend: swift-prometheus' registry, with two things its own
/// factory does not give (spec §16):
/// - the constant labels `group` and `member` on every series, so that the textfiles of
///   several daemons on one host (one per group) sit in one folder without a duplicate series;
/// - a `# HELP` line for every family counted through swift-metrics (promtool wants one).
struct DaemonMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let constantLabels: [(String, String)]
    let durationBuckets: [Duration]
    private let base: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry, group: String, member: String, durationBuckets: [Duration]) {
        self.registry = registry
        self.constantLabels = [("group", group), ("member", member)]
        self.durationBuckets = durationBuckets
        var base = PrometheusMetricsFactory(registry: registry)
        let constantLabels = self.constantLabels
        base.nameAndLabelSanitizer = { name, labels in (name, labels + constantLabels) }
        base.defaultDurationHistogramBuckets = durationBuckets
        self.base = base
    }

    /// What each family the daemon counts through swift-metrics measures.
    static let help: [String: String] = [
        "allocatord_rebalances_total": "Changes this member saw through to a new active document, its own joins included",
        "allocatord_rebalance_duration_seconds": "From noticing a change (or joining) to publishing the active document that follows it",
        "allocatord_forced_releases_total": "Releases the release timeout forced: a consumer that did not say release in time",
        "allocatord_session_expirations_total": "ZooKeeper sessions that expired (the member started a new one)",
        "allocatord_connection_losses_total": "Connections to ZooKeeper lost (the member became suspended)",
        "allocatord_zookeeper_requests_total": "Requests sent to ZooKeeper",
        "allocatord_zookeeper_errors_total": "ZooKeeper requests that failed, by error code",
        "allocatord_hook_failures_total": "on-rebalance runs that failed, timed out or could not start",
        "allocatord_consumer_starts_total": "Starts of the supervised consumer",
        "allocatord_consumer_kills_total": "Stops of the supervised consumer that needed SIGKILL",
    ]

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: Self.help[label] ?? "allocatord's \(label)")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions + constantLabels)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions + constantLabels)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions + constantLabels, buckets: durationBuckets)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        base.makeMeter(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { base.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
