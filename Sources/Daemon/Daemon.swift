import Allocation
import Allocator
import Configuration
import Dispatch
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import SocketServer
import SystemdNotifier
import ZooKeeper

/// The daemon: a group member, its file, its socket, systemd, the hook and the signals, wired
/// together (spec §8–§12).
public enum Daemon {
    /// The exit statuses.
    public enum ExitStatus {
        public static let success: Int32 = 0
        /// Membership failed (the name is held by another session, the group's data does not
        /// parse): worth a restart later.
        public static let failure: Int32 = 1
        /// EX_CONFIG: the configuration is invalid, or does not fit the group (strategy
        /// mismatch, an `exec:` strategy not configured here, refused credential). A restart
        /// will not help.
        public static let configuration: Int32 = 78
    }

    /// Runs the daemon with these arguments and environment; returns the exit status. The
    /// executable runs `consumerGuard` and `holdSignals()` first, on its main thread.
    ///
    /// Options are read up to `--`: what follows (`--exec -- CMD ARGS...`) is the consumer's,
    /// `--help` and `--version` included (spec §16).
    public static func main(arguments: [String], environment: [String: String]) async -> Int32 {
        let options = arguments.prefix { $0 != "--" }
        if options.contains("--help") || options.contains("-h") {
            print(usage)
            return ExitStatus.success
        }
        if options.contains("--version") {
            print("allocatord \(ProductVersion.current)")
            return ExitStatus.success
        }
        let checkOnly = options.contains("--check-config")
        let arguments = options.filter { $0 != "--check-config" } + arguments[options.endIndex...]
        let configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(arguments: arguments, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("allocatord: \(error)\n".utf8))
            return ExitStatus.configuration
        }
        if checkOnly {
            // Checked as a start would check it, short of anything that connects or binds.
            for warning in configuration.warnings { FileHandle.standardError.write(Data("allocatord: warning: \(warning)\n".utf8)) }
            let member = configuration.member
            print("""
                allocatord: the configuration is valid: group \(member.layout.group) at \(member.layout.groupPath) \
                on \(member.zooKeeper.connectString), member \(member.member), \
                strategy \(member.strategy?.name ?? "the group's"), state file \(configuration.stateFile), socket \(configuration.socket), \
                handover \(member.handover == .daemon ? "daemon" : "consumer")\(configuration.consumer.map { ", consumer " + $0.arguments.joined(separator: " ") } ?? "")
                """)
            return ExitStatus.success
        }
        let format: DaemonLogHandler.Format =
            switch configuration.logFormat {
            case .text: .text
            case .json: .json
            case .journal: .journal
            case .auto: Journal.isStandardError(journalStream: environment["JOURNAL_STREAM"]) ? .journal : .text
            }
        DaemonLogHandler.level.withLock { $0 = configuration.logLevel }
        ZooKeeperClient.setLibraryLogLevel(for: configuration.logLevel)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0, format: format) }
        let reloadConfiguration: @Sendable () throws -> DaemonConfiguration = {
            try DaemonConfiguration.load(arguments: arguments, environment: environment)
        }
        let logger = Logger(label: "allocatord")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        return await run(configuration, environment: environment, reload: reloadConfiguration, logger: logger)
    }

    /// Runs the supervised consumer's guard if `arguments` ask for it (`ConsumerGuard`, a mode
    /// only the daemon starts) and returns its exit status; `nil` otherwise.
    public static func consumerGuard(arguments: [String], environment: [String: String]) -> Int32? {
        guard arguments.first == ConsumerGuard.mode else { return nil }
        return ConsumerGuard.main(arguments: arguments, environment: environment)
    }

    /// Blocks the signals the daemon handles (spec §16) in the calling thread and so in every
    /// thread started after it: call it first thing on the main thread, before any other thread
    /// exists. Until the service group's handlers take them (Dispatch's signal sources read
    /// pending signals), a SIGTERM or SIGINT waits instead of killing the daemon with its socket
    /// file left behind. Children start with no signal blocked (`ProcessSpawn`, swift-subprocess).
    public static func holdSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&signals, number) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    static func run(
        _ configuration: DaemonConfiguration, environment: [String: String],
        reload: @escaping @Sendable () throws -> DaemonConfiguration, logger: Logger
    ) async -> Int32 {
        let metrics = MetricsExporter(group: configuration.member.layout.group, member: configuration.member.member)
        let live = LiveSettings(configuration, logger: logger)
        let notifier = SystemdNotifier()
        let member = Member(configuration: configuration.member, logger: logger)
        let broadcaster = DocumentBroadcaster()
        let consumer = configuration.consumer.map { program in
            ConsumerSupervisor(
                program: program,
                environment: ConsumerSupervisor.consumerEnvironment(
                    daemon: environment, socket: configuration.socket, stateFile: configuration.stateFile,
                    group: configuration.member.layout.group, member: configuration.member.member),
                member: member, consumerHandover: configuration.member.handover != .daemon, logger: logger)
        }
        let publisher = DocumentPublisher(
            stateFile: StateFile(path: configuration.stateFile), broadcaster: broadcaster, notifier: notifier,
            live: live, consumer: consumer, logger: logger)
        let handler = CommandHandler(member: member, broadcaster: broadcaster, publisher: publisher, live: live, metrics: metrics)
        var serverConfiguration = LineServerConfiguration()
        serverConfiguration.maxClients = configuration.maxClients
        serverConfiguration.idleTimeout = configuration.socketIdleTimeout
        let server = LineServer(handler: handler, configuration: serverConfiguration, logger: logger)
        metrics.countSocketClients { server.clientCount }
        do {
            if let descriptor = SystemdNotifier.activatedSockets().first {
                try await server.adopt(listeningDescriptor: descriptor)
                logger.info("listening on the socket systemd passed")
            } else {
                let folder = (configuration.socket as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try await server.bind(path: configuration.socket)
            }
        } catch {
            logger.critical("cannot listen on \(configuration.socket): \(error)")
            return ExitStatus.failure
        }
        // The member acknowledges views to the others only once its documents are out.
        await member.reportsDeliveries()

        // In start order; a graceful shutdown stops them in reverse (see DaemonServices.swift).
        typealias Part = ServiceGroupConfiguration.ServiceConfiguration
        var parts = [
            Part(service: SocketService(server: server), serviceName: "socket"),
            Part(service: PublisherService(publisher: publisher, member: member), serviceName: "publisher"),
        ]
        if let path = configuration.metricsFile {
            parts.append(Part(
                service: MetricsFileService(file: StateFile(path: path), metrics: metrics, member: member, broadcaster: broadcaster, logger: logger),
                serviceName: "metrics-file"))
        }
        if let timeout = notifier.watchdogTimeout {
            parts.append(Part(service: WatchdogService(member: member, notifier: notifier, timeout: timeout), serviceName: "watchdog"))
        }
        parts.append(Part(
            service: ReloadService(live: live, publisher: publisher, notifier: notifier, consumer: consumer, reload: reload, logger: logger),
            serviceName: "reload"))
        parts.append(Part(
            service: MemberService(member: member, notifier: notifier, logger: logger),
            successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup,
            serviceName: "member"))
        if let consumer {
            parts.append(Part(service: ConsumerService(consumer: consumer), successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "consumer"))
        }
        var groupConfiguration = ServiceGroupConfiguration(services: parts, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.logging.keys.serviceKey = "service"

        var status = ExitStatus.success
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch let error as StrategyMismatch {
            logger.critical("\(error)")
            status = ExitStatus.configuration
        } catch let error as UnconfiguredExecStrategy {
            logger.critical("\(error)")
            status = ExitStatus.configuration
        } catch let error as ProtocolMismatch {
            logger.critical("\(error)")
            status = ExitStatus.configuration
        } catch let error as ZooKeeperError where error.code == .authFailed {
            logger.critical("ZooKeeper refused the credential (zk-auth)")
            status = ExitStatus.configuration
        } catch let error as ZooKeeperError where error.code == .noAuth {
            // The group's nodes are guarded by a credential this member does not have.
            let user = configuration.member.zooKeeper.digestCredential.map { String($0.prefix { $0 != ":" }) }
            logger.critical("""
                \(error): ZooKeeper refused \(user.map { "the credential of user \($0) (zk-auth)" } ?? "this member without a credential (zk-auth)") \
                for the group's nodes; give the credential the group was made with (zk-auth-file, or systemd's LoadCredential=zk-auth)
                """)
            status = ExitStatus.configuration
        } catch let error as ConnectError where error.noHostResolves {
            let invalid = ConfigurationError(field: "zk", value: configuration.member.zooKeeper.connectString.description, reason: "\(error)")
            logger.critical("\(invalid)")
            status = ExitStatus.configuration
        } catch {
            logger.critical("\(error)")
            status = ExitStatus.failure
        }
        broadcaster.finish()
        if let code = await consumer?.exitStatus, status == ExitStatus.success { status = code }
        logger.notice("stopped")
        return status
    }

    static let usage = """
        USAGE: allocatord --group NAME [options]
               allocatord --check-config [options]   validate, print a summary, exit (0 or 78)
               allocatord --version

        Shares the partitions of a group's topics among its members through ZooKeeper, and
        publishes this member's share in a JSON file and on a Unix socket.

        OPTIONS (each also ALLOCATORD_NAME in the environment, or NAME: in the --config file):
          --config PATH              YAML configuration file
          --zk HOSTS                 host:port[,host:port...][/chroot]   (127.0.0.1:2181)
          --session-timeout MS       requested session timeout            (10000)
          --root PATH                root of the group layout             (/kiel)
          --group NAME               the group                            (required)
          --member NAME              this member's name                   (the host name)
          --weight N                 this member's share relative to the others', 1-100;
                                     consistent and sticky honour it      (1)
          --strategy NAME            round-robin, range, consistent, sticky, exec:PATH
                                     (the group's, else consistent)
          --partitions SPEC          seed partitions, TOPIC:IDS[,TOPIC:IDS...]
          --state-file PATH          the JSON document                    (/run/allocatord/GROUP.json)
          --socket PATH              the Unix socket                      (/run/allocatord/GROUP.sock)
          --on-rebalance CMD         command run after each change, the document on stdin
          --rebalance-delay MIN[:MAX]  quiet time before rebalancing, ms  (0)
          --log-level LEVEL          trace, debug, info, notice, warning, error, critical (info)
          --log-format FORMAT        journal (native records with GROUP=, MEMBER=, EPOCH=,
                                     STATE= fields), json (one object a line) or text;
                                     auto: journal under systemd, else text (auto)
          --zk-auth USER:PASSWORD    digest credential; its ACLs go on the znodes created
                                     (visible in ps: prefer the next, or LoadCredential=zk-auth:PATH)
          --zk-auth-file PATH        a file holding USER:PASSWORD (one line, at most
                                     4096 bytes; line ending and blanks around ignored)
          --full-read-interval MS    full re-read of the view             (300000)
          --exec-timeout MS          time limit of an exec: strategy      (10000)
          --hook-timeout MS          time limit of the on-rebalance hook  (30000)
          --socket-writers WHO       owner (root and this user) or any may add/remove (owner)
          --max-clients N            simultaneous socket clients, besides 8 places
                                     kept for root and this user          (4096)
          --socket-idle-timeout MS   close a connection without a request or
                                     watch for this long; 0 for never     (30000)
          --handover WHO             daemon, or consumer: what a member loses is
                                     listed as revoking until the consumer says
                                     release EPOCH on the socket          (daemon)
          --release-timeout MS       how long a consumer may take to release (30000)
          --metrics-file PATH        write the metrics there every 5 s (node_exporter's
                                     textfile format; the socket's metrics command too)
          --exec -- CMD ARGS...      run the consumer (last option: what follows is its
                                     own) in a process group under a guard that holds its
                                     lease: started when active, signalled on each change,
                                     stopped before the lease can run out, even if the
                                     daemon is killed or frozen (exec: COMMAND in the file
                                     runs through /bin/sh -c)
          --exec-signal SIGNAL       sent to the consumer after each change, or none (HUP)
          --exec-stop-timeout MS     SIGTERM to SIGKILL, never past the lease (5000)
          --exec-restart WHEN        never (the daemon exits with the consumer's status)
                                     or on-failure (again after 1 s, doubling to 30 s)
                                     (never)

        Exit status: 0 stopped by SIGTERM/SIGINT, 1 membership failed, 78 invalid configuration;
        with --exec, the consumer's status when it exited by itself (128+N if killed by signal N).
        """
}
