import Allocation
import Foundation

/// The group's settings in the group znode (spec §3, §6): `{"strategy": "..."}`. kiel leaves
/// the node empty.
struct GroupSettings: Sendable, Equatable {
    /// The strategy pinned by the first allocatord member, if any.
    var strategy: Strategy?

    /// Why the group's settings cannot be used.
    struct Malformed: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "the settings in \(path) do not parse: \(reason)" }
    }

    /// Reads the settings; empty data (kiel's, or a fresh node) has none.
    init(data: [UInt8], path: String) throws {
        guard !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            strategy = nil
            return
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
            throw Malformed(path: path, reason: "not a JSON object")
        }
        switch object["strategy"] {
        case nil:
            strategy = nil
        case let name as String:
            do {
                strategy = try Strategy(parsing: name)
            } catch {
                throw Malformed(path: path, reason: "\(error)")
            }
        default:
            throw Malformed(path: path, reason: "\"strategy\" is not a string")
        }
    }

    init(strategy: Strategy) {
        self.strategy = strategy
    }

    var encoded: [UInt8] {
        var output = Array("{\"strategy\":".utf8)
        JSONText.appendString(strategy?.name ?? "", to: &output)
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
