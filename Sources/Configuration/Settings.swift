import Allocator
import Foundation
import Yams

/// A configuration field, by the name it has in the file and as a flag (`--NAME`); its
/// environment variable is `ALLOCATORD_` and the name in capitals with `_` for `-`.
public enum Field: String, CaseIterable, Sendable {
    case config, zk, sessionTimeout = "session-timeout", root, group, member, weight, strategy, partitions
    case stateFile = "state-file", socket, onRebalance = "on-rebalance", rebalanceDelay = "rebalance-delay"
    case logLevel = "log-level", logFormat = "log-format", zkAuth = "zk-auth", zkAuthFile = "zk-auth-file"
    case fullReadInterval = "full-read-interval", execTimeout = "exec-timeout", hookTimeout = "hook-timeout"
    case socketWriters = "socket-writers", maxClients = "max-clients", socketIdleTimeout = "socket-idle-timeout"
    case handover, releaseTimeout = "release-timeout"
    case metricsFile = "metrics-file"
    case exec, execSignal = "exec-signal", execStopTimeout = "exec-stop-timeout", execRestart = "exec-restart"

    var environmentVariable: String {
        "ALLOCATORD_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_")
    }
}

/// Raw configuration values and where each came from, before they are checked.
public struct Settings: Sendable {
    struct Value: Sendable {
        var value: String
        var source: String
    }

    var values: [Field: Value] = [:]
    /// The consumer's program and arguments, after `--exec --`.
    var execArguments: [String]?

    init() {}

    /// `--name VALUE` and `--name=VALUE` pairs; `--exec -- CMD ARGS...` last.
    init(arguments: [String]) throws {
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "--exec", remaining.first == "--" {
                guard remaining.count > 1 else {
                    throw ConfigurationError(field: "exec", value: "", reason: "--exec -- needs a program after --")
                }
                execArguments = Array(remaining.dropFirst())
                values[.exec] = Value(value: execArguments!.joined(separator: " "), source: "--exec")
                break
            }
            guard argument.hasPrefix("--") else {
                throw ConfigurationError(field: "arguments", value: argument, reason: "unexpected argument; options are --NAME VALUE")
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let field = Field(rawValue: name) else {
                throw ConfigurationError(field: "arguments", value: argument, reason: "unknown option; see --help")
            }
            guard let given = value ?? remaining.popFirst() else {
                throw ConfigurationError(field: name, value: "", reason: "--\(name) needs a value")
            }
            values[field] = Value(value: given, source: "--\(name)")
        }
    }

    /// The `ALLOCATORD_*` variables.
    init(environment: [String: String]) {
        for field in Field.allCases {
            if let value = environment[field.environmentVariable] {
                values[field] = Value(value: value, source: field.environmentVariable)
            }
        }
    }

    /// A YAML file of `name: value` pairs (see config/allocatord.yaml).
    init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(field: "config", value: path, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(field: "config", value: path, reason: "not UTF-8")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(field: "config", value: path, reason: "not valid YAML: \(error)")
        }
        guard let node else { return }  // An empty file.
        guard let mapping = node.mapping else {
            throw ConfigurationError(field: "config", value: path, reason: "not a mapping of name: value")
        }
        for (key, value) in mapping {
            guard let name = key.string, let field = Field(rawValue: name), field != .config else {
                throw ConfigurationError(field: key.string ?? "?", value: value.string ?? "", reason: "unknown field in \(path)")
            }
            guard let scalar = value.scalar else {
                throw ConfigurationError(field: name, value: "", reason: "not a single value in \(path)")
            }
            if value.tag.description.hasSuffix(":null") { continue }
            values[field] = Value(value: scalar.string, source: path)
        }
    }

    /// Takes every value of `other` over this one's.
    mutating func merge(_ other: Settings) {
        values.merge(other.values) { _, new in new }
        if other.values[.exec] != nil { execArguments = other.execArguments }
    }
}
