import Allocation
import Foundation

/// The group's settings in the group znode (spec §3, §6, §14): `{"strategy": "...",
/// "protocol": 2}`. kiel leaves the node empty; protocol 1 wrote no protocol.
public struct GroupSettings: Sendable, Equatable {
    /// The protocol this allocatord speaks (spec §14).
    public static let protocolVersion = 2

    /// The strategy pinned by the first allocatord member, if any.
    var strategy: Strategy?
    /// The protocol pinned, if any (`nil` for protocol 1's settings).
    var protocolVersion: Int?

    /// Why the group's settings cannot be used.
    struct Malformed: Error, CustomStringConvertible {
        let path: String
        let reason: String
        /// A strategy this member does not know (of another release, say), rather than garbage.
        var unknownStrategy = false
        var description: String { "the settings in \(path) do not parse: \(reason)" }
    }

    /// Reads the settings; empty data (kiel's, or a fresh node) has none.
    init(data: [UInt8], path: String) throws {
        guard !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            strategy = nil
            protocolVersion = nil
            return
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(data))
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.first?.stringValue == "strategy" {
            throw Malformed(path: path, reason: "\"strategy\" is not a string")
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.first?.stringValue == "protocol" {
            throw Malformed(path: path, reason: "\"protocol\" is not a positive integer")
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.first?.stringValue == "protocol" {
            throw Malformed(path: path, reason: "\"protocol\" is not a positive integer")
        } catch {
            throw Malformed(path: path, reason: "not a JSON object")
        }
        do {
            strategy = try wire.strategy.map { try Strategy(parsing: $0) }
        } catch {
            throw Malformed(path: path, reason: "\(error)", unknownStrategy: true)
        }
        guard wire.protocol.map({ $0 > 0 }) ?? true else {
            throw Malformed(path: path, reason: "\"protocol\" is not a positive integer")
        }
        protocolVersion = wire.protocol
    }

    /// The node's data as JSON reads it; other keys are left alone.
    private struct Wire: Decodable {
        let strategy: String?
        let `protocol`: Int?
    }

    /// Settings of this protocol with `strategy`.
    init(strategy: Strategy) {
        self.strategy = strategy
        self.protocolVersion = Self.protocolVersion
    }

    var encoded: [UInt8] {
        var output = Array("{\"strategy\":".utf8)
        JSONText.appendString(strategy?.name ?? "", to: &output)
        if let protocolVersion {
            output += Array(",\"protocol\":".utf8)
            JSONText.appendInteger(protocolVersion, to: &output)
        }
        output.append(UInt8(ascii: "}"))
        return output
    }
}

/// A member configured with one strategy in a group pinned to another (spec §6).
public struct StrategyMismatch: Error, Sendable, Equatable, CustomStringConvertible {
    public let group: String
    public let configured: String
    public let pinned: String

    public init(group: String, configured: String, pinned: String) {
        self.group = group
        self.configured = configured
        self.pinned = pinned
    }

    public var description: String {
        "group \"\(group)\" uses strategy \"\(pinned)\" but this member is configured with \"\(configured)\"; "
            + "remove --strategy to adopt the group's, or use another group"
    }
}

/// A group pinned to an `exec:` strategy, joined by a member configured with no strategy: a
/// program is run only when this member's own configuration names it, never because the group
/// node in ZooKeeper does (spec §13), since whoever can write that node is not necessarily
/// trusted to run programs as the daemon's user.
public struct UnconfiguredExecStrategy: Error, Sendable, Equatable, CustomStringConvertible {
    public let group: String
    /// The program the group node names.
    public let path: String

    public init(group: String, path: String) {
        self.group = group
        self.path = path
    }

    public var description: String {
        "group \"\(group)\" uses strategy \"exec:\(path)\", a program named in ZooKeeper, which this member "
            + "runs only when its own configuration names it; check the program, then set --strategy exec:\(path) "
            + "(strategy: in the configuration file) to join"
    }
}
