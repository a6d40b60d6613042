import Allocation
import Allocator
import ControlProtocol
import Coordination
import Foundation
import Glibc
import Logging
import ZooKeeper

/// Everything the daemon is configured with (spec §12), checked and typed.
public struct DaemonConfiguration: Sendable {
    /// Who may use the socket's mutating commands (`add`, `remove`, `repair`).
    public enum SocketWriters: String, Sendable {
        /// root and the daemon's own user.
        case owner
        /// Anyone who can open the socket (its mode and folder still apply).
        case any
    }

    /// The form of the daemon's log records (`log-format`), checked once here; the raw values
    /// are what the option takes and what the effective configuration shows.
    public enum LogFormat: String, Sendable, CaseIterable {
        /// `journal` when standard error is the journal's stream (under systemd), else `text`.
        case auto
        /// `TIME LEVEL label: message key=value` lines on standard error.
        case text
        /// One JSON object per line on standard error.
        case json
        /// The journal's native records, the metadata as fields (`GROUP=`, `MEMBER=`, `EPOCH=`, ...).
        case journal
    }

    public var configFile: String?
    public var member: MemberConfiguration
    public var stateFile: String
    public var socket: String
    public var onRebalance: String?
    public var hookTimeout: Duration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var socketWriters: SocketWriters
    public var maxClients: Int
    /// How long a socket connection may stay without a request under way and without a `watch`
    /// before it is closed; `nil` for never (`0`).
    public var socketIdleTimeout: Duration?
    /// Where the metrics go every few seconds (node_exporter's textfile format), if anywhere.
    public var metricsFile: String?
    /// The supervised consumer (`--exec`), if any.
    public var consumer: ConsumerProgram?
    /// What the operator should hear about once logging is up (a password visible in argv, a
    /// credential file others can read).
    public var warnings: [String] = []

    /// Reads the configuration from the file (if `--config` or `ALLOCATORD_CONFIG` names one),
    /// the environment (`ALLOCATORD_*`) and the flags, in rising precedence.
    /// - Throws: `ConfigurationError` naming the field and the value.
    public static func load(arguments: [String], environment: [String: String]) throws -> DaemonConfiguration {
        var settings = try Settings(arguments: arguments)
        let fromEnvironment = Settings(environment: environment)
        let file = settings.values[.config] ?? fromEnvironment.values[.config]
        var merged = Settings()
        if let file {
            merged = try Settings(file: file.value)
            merged.values[.config] = file
        }
        merged.merge(fromEnvironment)
        settings.values[.config] = nil
        merged.merge(settings)
        return try DaemonConfiguration(merged, credentialsDirectory: environment["CREDENTIALS_DIRECTORY"])
    }

    /// - Parameter credentialsDirectory: systemd's `$CREDENTIALS_DIRECTORY`: its `zk-auth`
    ///   (`LoadCredential=zk-auth:PATH`) is the credential when no other is configured.
    init(_ settings: Settings, credentialsDirectory: String? = nil) throws {
        func value(_ field: Field) -> String? { settings.values[field]?.value }
        func fail(_ field: Field, _ reason: String, value given: String? = nil) -> ConfigurationError {
            ConfigurationError(
                field: field.rawValue, value: value(field) ?? given ?? "",
                reason: reason + (settings.values[field].map { " (from \($0.source))" } ?? " (the default)"))
        }
        func milliseconds(_ field: Field, default fallback: Int, range: ClosedRange<Int>) throws -> Duration {
            guard let text = value(field) else { return .milliseconds(fallback) }
            guard let number = Int(text), range.contains(number) else {
                throw fail(field, "not a number of milliseconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return .milliseconds(number)
        }

        guard let group = value(.group), !group.isEmpty else {
            throw ConfigurationError(field: "group", value: "", reason: "required: give --group, ALLOCATORD_GROUP or group in the file")
        }
        let connectString: ConnectString
        do {
            connectString = try ConnectString(parsing: value(.zk) ?? "127.0.0.1:2181")
        } catch {
            throw fail(.zk, error.reason)
        }
        let (credential, credentialWarning) = try Self.credential(settings, credentialsDirectory: credentialsDirectory)
        warnings += credentialWarning.map { [$0] } ?? []
        let sessionTimeout = try milliseconds(.sessionTimeout, default: 10_000, range: 400...3_600_000)
        let layout: GroupLayout
        do {
            layout = try GroupLayout(root: value(.root) ?? "/kiel", group: group)
        } catch {
            throw fail(error.field == "root" ? .root : .group, error.reason)
        }
        let member = value(.member) ?? ProcessInfo.processInfo.hostName
        if let problem = MemberName.problem(with: member) { throw fail(.member, problem) }
        var weight = 1
        if let text = value(.weight) {
            guard let number = Int(text), (1...MemberWeights.maximum).contains(number) else {
                throw fail(.weight, "not a whole number from 1 to \(MemberWeights.maximum)")
            }
            weight = number
        }
        var strategy: Strategy?
        if let name = value(.strategy) {
            do {
                strategy = try Strategy(parsing: name)
            } catch {
                throw fail(.strategy, error.reason)
            }
        }
        var seed: [Partition] = []
        if let spec = value(.partitions) {
            do {
                seed = try PartitionSpec(parsing: spec).partitions
            } catch {
                throw fail(.partitions, "\(error)")
            }
        }
        let (delayMin, delayMax) = try Self.rebalanceDelay(value(.rebalanceDelay)) { fail(.rebalanceDelay, $0) }
        guard let logLevel = Logger.Level(rawValue: value(.logLevel) ?? "info") else {
            throw fail(.logLevel, "not one of trace, debug, info, notice, warning, error, critical")
        }
        guard let logFormat = LogFormat(rawValue: value(.logFormat) ?? "auto") else {
            throw fail(.logFormat, "not auto, text, json or journal")
        }
        guard let writers = SocketWriters(rawValue: value(.socketWriters) ?? "owner") else {
            throw fail(.socketWriters, "not owner or any")
        }
        guard let maxClients = Int(value(.maxClients) ?? "4096"), (1...1_000_000).contains(maxClients) else {
            throw fail(.maxClients, "not a number from 1 to 1000000")
        }
        for field in [Field.stateFile, .socket, .metricsFile] {
            if let path = value(field), !path.hasPrefix("/") { throw fail(field, "not an absolute path") }
        }
        if let hook = value(.onRebalance), hook.trimmingCharacters(in: .whitespaces).isEmpty {
            throw fail(.onRebalance, "empty command")
        }
        consumer = try Self.consumer(settings, fail: fail)
        let releaseTimeout = try milliseconds(.releaseTimeout, default: 30_000, range: 1...3_600_000)
        let handover: FollowerMachine.Handover
        switch value(.handover) ?? "daemon" {
        case "daemon": handover = .daemon
        case "consumer": handover = .consumer(releaseTimeout: releaseTimeout)
        default: throw fail(.handover, "not daemon or consumer")
        }

        configFile = value(.config)
        self.member = MemberConfiguration(
            zooKeeper: .init(connectString: connectString, sessionTimeout: sessionTimeout, digestCredential: credential),
            layout: layout, member: member, weight: weight, strategy: strategy, seedPartitions: seed,
            rebalanceDelayMin: delayMin, rebalanceDelayMax: delayMax,
            fullReadInterval: try milliseconds(.fullReadInterval, default: 300_000, range: 1_000...86_400_000),
            execTimeout: try milliseconds(.execTimeout, default: 10_000, range: 1...3_600_000),
            handover: handover, host: ProcessInfo.processInfo.hostName, pid: ProcessInfo.processInfo.processIdentifier)
        stateFile = value(.stateFile) ?? "/run/allocatord/\(group).json"
        socket = value(.socket) ?? DaemonSocket.defaultPath(group: group)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: stateFile, isDirectory: &isFolder), isFolder.boolValue {
            throw fail(.stateFile, "a folder, not a file", value: stateFile)
        }
        if socket.utf8.count > Self.longestSocketPath {
            throw fail(.socket, "\(socket.utf8.count) bytes long, more than a Unix socket's path can have (\(Self.longestSocketPath))", value: socket)
        }
        onRebalance = value(.onRebalance)
        metricsFile = value(.metricsFile)
        hookTimeout = try milliseconds(.hookTimeout, default: 30_000, range: 1...3_600_000)
        self.logLevel = logLevel
        self.logFormat = logFormat
        socketWriters = writers
        self.maxClients = maxClients
        let idleTimeout = try milliseconds(.socketIdleTimeout, default: 30_000, range: 0...86_400_000)
        socketIdleTimeout = idleTimeout == .zero ? nil : idleTimeout
    }

    /// The digest credential (`USER:PASSWORD`) from `zk-auth`, the file `zk-auth-file` names, or
    /// systemd's credential `zk-auth`, in that order; and a warning if the password is where
    /// other users can see it (argv, a file others may read). The password is never part of
    /// an error.
    private static func credential(
        _ settings: Settings, credentialsDirectory: String?
    ) throws -> (credential: String?, warning: String?) {
        func parsed(_ text: String, _ field: Field, from source: String) throws -> String {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex,
                  !text.contains(where: \.isNewline)
            else {
                throw ConfigurationError(field: field.rawValue, value: "…", reason: "not USER:PASSWORD (from \(source))")
            }
            return text
        }
        let given = settings.values[.zkAuth], file = settings.values[.zkAuthFile]
        if let given, let file {
            throw ConfigurationError(
                field: "zk-auth-file", value: file.value,
                reason: "give the credential once: zk-auth is set too (from \(given.source))")
        }
        if let given {
            let credential = try parsed(given.value, .zkAuth, from: given.source)
            let visible = given.source == "--zk-auth"
                ? "the password given with --zk-auth can be read by every user of this host (ps, /proc); use --zk-auth-file PATH or systemd's LoadCredential=zk-auth:PATH"
                : nil
            return (credential, visible)
        }
        let path: String, source: String
        if let file {
            guard file.value.hasPrefix("/") else {
                throw ConfigurationError(field: "zk-auth-file", value: file.value, reason: "not an absolute path (from \(file.source))")
            }
            (path, source) = (file.value, file.source)
        } else if let folder = credentialsDirectory, FileManager.default.fileExists(atPath: folder + "/zk-auth") {
            (path, source) = (folder + "/zk-auth", "systemd's credential zk-auth")
        } else {
            return (nil, nil)
        }
        let (text, info) = try readCredentialFile(path, source: source)
        // One line; its line ending (LF or CRLF) and surrounding blanks are not the password's.
        // On bytes: in a Swift string "\r\n" is one Character, which dropLast(2) took for two.
        let line = String(decoding: text.trimmed(), as: UTF8.self)
        let credential = try parsed(line, .zkAuthFile, from: path)
        let othersMayRead = info.st_mode & (S_IRGRP | S_IROTH) != 0
        return (credential, othersMayRead ? "\(path) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it" : nil)
    }

    /// The most bytes a credential file may hold: `USER:PASSWORD` and a line ending fit in far less.
    static let longestCredentialFile = 4096

    /// The bytes of a credential file and its `stat`: a regular file of at most
    /// `longestCredentialFile` bytes, its size checked before anything is read (and the read
    /// bounded, should it grow meanwhile), UTF-8. The contents are never part of an error.
    private static func readCredentialFile(_ path: String, source: String) throws -> (ArraySlice<UInt8>, stat) {
        func refused(_ reason: String) -> ConfigurationError {
            ConfigurationError(field: "zk-auth-file", value: path, reason: "\(reason) (from \(source))")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw refused(errno == EACCES ? "cannot be read by this user" : String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw refused(String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw refused("not a regular file") }
        guard info.st_size <= longestCredentialFile else {
            throw refused("\(info.st_size) bytes, more than a credential file may hold (\(longestCredentialFile))")
        }
        var bytes = [UInt8](repeating: 0, count: longestCredentialFile + 1)
        var count = 0
        while count < bytes.count {
            let read = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if read < 0, errno == EINTR { continue }
            guard read >= 0 else { throw refused(String(cString: strerror(errno))) }
            if read == 0 { break }
            count += read
        }
        guard count <= longestCredentialFile else {
            throw refused("more than a credential file may hold (\(longestCredentialFile) bytes)")
        }
        guard String(validating: bytes[..<count], as: UTF8.self) != nil, !bytes[..<count].contains(0) else {
            throw refused("not UTF-8")
        }
        return (bytes[..<count], info)
    }

    /// The supervised consumer: `--exec -- CMD ARGS...` (no shell), or `exec: COMMAND` in the file
    /// or the environment (run by `/bin/sh -c`), with its signal, stop timeout and restart rule.
    private static func consumer(
        _ settings: Settings, fail: (Field, String, String?) -> ConfigurationError
    ) throws -> ConsumerProgram? {
        func value(_ field: Field) -> String? { settings.values[field]?.value }
        let dependents: [Field] = [.execSignal, .execStopTimeout, .execRestart]
        guard let command = value(.exec) else {
            if let field = dependents.first(where: { value($0) != nil }) {
                throw fail(field, "only with exec (the supervised consumer)", nil)
            }
            return nil
        }
        let arguments = settings.execArguments ?? ["/bin/sh", "-c", command]
        guard !command.trimmingCharacters(in: .whitespaces).isEmpty, let program = arguments.first, !program.isEmpty else {
            throw fail(.exec, "empty command", nil)
        }
        var consumer = ConsumerProgram(command: settings.execArguments.map { .program($0) } ?? .shell(command))
        if let text = value(.execSignal) {
            guard let signal = ConsumerProgram.changeSignal(named: text) else {
                throw fail(.execSignal, "not a signal name (HUP, USR1, USR2, INT, TERM, QUIT, WINCH, ALRM) or none", nil)
            }
            consumer.changeSignal = signal
        }
        if let text = value(.execStopTimeout) {
            guard let number = Int(text), (1...3_600_000).contains(number) else {
                throw fail(.execStopTimeout, "not a number of milliseconds from 1 to 3600000", nil)
            }
            consumer.stopTimeout = .milliseconds(number)
        }
        if let text = value(.execRestart) {
            guard let restart = ConsumerProgram.Restart(rawValue: text) else { throw fail(.execRestart, "not never or on-failure", nil) }
            consumer.restart = restart
        }
        return consumer
    }

    /// The longest path a Unix socket can be bound to, in bytes (`sun_path` less its NUL).
    static let longestSocketPath = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The fields a reload cannot apply (they need a restart), each with its value.
    public var restartOnlyFields: [String: String] {
        let zk = member.zooKeeper
        return [
            "zk": zk.connectString.description, "session-timeout": "\(zk.sessionTimeout)",
            "zk-auth": zk.digestCredential ?? "", "root": member.layout.root, "group": member.layout.group,
            "member": member.member, "weight": "\(member.weight)", "strategy": member.strategy?.name ?? "",
            "partitions": member.seedPartitions.map(\.description).joined(separator: ","),
            "rebalance-delay": "\(member.rebalanceDelayMin):\(member.rebalanceDelayMax)",
            "full-read-interval": "\(member.fullReadInterval)", "exec-timeout": "\(member.execTimeout)",
            "state-file": stateFile, "socket": socket, "max-clients": "\(maxClients)", "handover": "\(member.handover)",
            "socket-idle-timeout": "\(socketIdleTimeout.map { "\($0)" } ?? "never")", "log-format": logFormat.rawValue,
            "exec": consumer.map { "\($0)" } ?? "", "metrics-file": metricsFile ?? "",
        ]
    }

    /// `MIN[:MAX]` in milliseconds; `MAX` defaults to `MIN`.
    private static func rebalanceDelay(
        _ text: String?, fail: (String) -> ConfigurationError
    ) throws -> (Duration, Duration) {
        guard let text else { return (.zero, .zero) }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let min = Int(parts[0]), min >= 0, min <= 3_600_000 else {
            throw fail("not MIN[:MAX] in milliseconds")
        }
        let max = parts.count == 2 ? Int(parts[1]) : min
        guard let max, max >= min, max <= 3_600_000 else { throw fail("MAX must be a number of milliseconds not below MIN") }
        return (.milliseconds(min), .milliseconds(max))
    }
}

extension ArraySlice<UInt8> {
    /// Without the blanks (space, tab, CR, LF) at either end.
    fileprivate func trimmed() -> ArraySlice<UInt8> {
        let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return [] }
        return self[first...last]
    }
}
