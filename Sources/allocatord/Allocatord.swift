import ArgumentParser
import Logging
import ZooKeeper

/// The daemon's entry point. For now it connects to ZooKeeper and reports the session's
/// state changes; group membership and allocation come in later layers.
@main
struct Allocatord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Partition allocation for a consumer group, kept in ZooKeeper.")

    @Option(name: .customLong("zk"), help: "ZooKeeper connect string host:port[,host:port...][/chroot].")
    var connectString = "127.0.0.1:2181"

    @Option(name: .customLong("session-timeout"), help: "Requested session timeout in milliseconds.")
    var sessionTimeout = 10_000

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard (1...3_600_000).contains(sessionTimeout) else {
            throw ValidationError("--session-timeout: \(sessionTimeout) is not between 1 and 3600000 ms")
        }
        let hosts: ConnectString
        do {
            hosts = try ConnectString(parsing: connectString)
        } catch {
            throw ValidationError("--zk: \(error)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "allocatord")
        let client = try await ZooKeeperClient.connect(
            .init(connectString: hosts, sessionTimeout: .milliseconds(sessionTimeout)), logger: logger)
        for await state in client.sessionStates() {
            switch state {
            case .connected(let session):
                logger.info("connected", metadata: [
                    "session": "\(String(session.id, radix: 16))", "timeout": "\(session.timeout)",
                ])
            default:
                logger.info("session \(state)")
            }
            if state.isTerminal { break }
        }
        await client.close()
    }
}
