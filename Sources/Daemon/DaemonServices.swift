import Allocator
import Configuration
import Foundation
import Logging
import ServiceLifecycle
import SocketServer
import SystemdNotifier
import UnixSignals

// The daemon's parts as swift-service-lifecycle services. `Daemon.run` puts them in a
// `ServiceGroup` in this order; a graceful shutdown (SIGTERM, SIGINT, or a part that ends the
// daemon) stops them in the reverse order, each once the one after it has returned: the
// supervised consumer first (the share is still this member's while it stops), then the
// member (it publishes `stopped` and leaves the group), then the signals, the watchdog, the
// metrics file, the publisher (its documents end with the member), and the socket last.

/// The socket, bound before the group runs (a bind failure ends the daemon before it joins),
/// closed last.
struct SocketService: Service {
    let server: LineServer

    func run() async {
        try? await gracefulShutdown()
        await server.close()
    }
}

/// Delivers the member's documents (file, streams, systemd, hook, consumer) until they end
/// (with the member), then waits for its turn to stop: a service must not end during a graceful
/// shutdown before the ones after it have.
struct PublisherService: Service {
    let publisher: DocumentPublisher
    let member: Member

    func run() async {
        await publisher.publish(member)
        try? await gracefulShutdown()
    }
}

/// The member: a graceful shutdown publishes `stopped` and leaves the group; its end (or a
/// membership failure, thrown) ends the daemon.
struct MemberService: Service {
    let member: Member
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await member.run()
        } onGracefulShutdown: {
            logger.notice("stopping")
            notifier.stopping()
            Task { await member.stop() }
        }
    }
}

/// The supervised consumer: its exit by itself ends the daemon; a graceful shutdown stops it.
struct ConsumerService: Service {
    let consumer: ConsumerSupervisor

    func run() async {
        await withGracefulShutdownHandler {
            await consumer.waitUntilDone()
        } onGracefulShutdown: {
            Task { await consumer.shutDown() }
        }
    }
}

/// SIGHUP reloads the configuration (and is passed on to the consumer, with SIGUSR1 and
/// SIGUSR2).
struct ReloadService: Service {
    let live: LiveSettings
    let publisher: DocumentPublisher
    let notifier: SystemdNotifier
    let consumer: ConsumerSupervisor?
    let reload: @Sendable () throws -> DaemonConfiguration
    let logger: Logger

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2)
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sighup { reloadConfiguration() }
            await consumer?.forward(signal.rawValue)
        }
    }

    private func reloadConfiguration() {
        // RELOADING=1 ... READY=1 only once READY=1 went out: not before the first allocation,
        // which would tell systemd the daemon is ready.
        let wasReady = publisher.isReady
        if wasReady { notifier.reloading() }
        do {
            let report = live.apply(try reload())
            logger.notice("SIGHUP: \(report)")
        } catch {
            logger.error("SIGHUP: the configuration is invalid, keeping the running one: \(error)")
        }
        if wasReady { notifier.ready(status: publisher.statusLine) }
    }
}

/// Sends `WATCHDOG=1` at half the timeout, only while the member's event handling answers.
struct WatchdogService: Service {
    let member: Member
    let notifier: SystemdNotifier
    let timeout: Duration

    func run() async {
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: timeout / 2)) != nil {
                _ = await member.status  // Waits for the member's actor: no answer, no feeding.
                notifier.watchdog()
            }
        }
    }
}

/// Writes the metrics to a file every 5 seconds (replaced atomically, as node_exporter's
/// textfile collector wants), and once more at the end.
struct MetricsFileService: Service {
    let file: StateFile
    let metrics: MetricsExporter
    let member: Member
    let broadcaster: DocumentBroadcaster
    let logger: Logger

    func run() async {
        var failing = false
        while true {
            let ended = await cancelWhenGracefulShutdown { (try? await Task.sleep(for: .seconds(5))) == nil }
            let text = metrics.text(status: await member.status, watchStreams: broadcaster.subscriberCount)
            do {
                try file.write(String(text.dropLast()))
                failing = false
            } catch {
                if !failing { logger.error("cannot write the metrics file: \(error)") }
                failing = true
            }
            if ended { return }
        }
    }
}
