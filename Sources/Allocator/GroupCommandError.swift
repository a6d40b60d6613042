import Recipes
import ZooKeeper

/// Why a command on the group failed (spec §9), with a code that stays the same from one
/// version to the next (the socket's `error.code`) and a message for people.
public struct GroupCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notConnected = "not_connected"
        case notLeader = "not_leader"
        case partitionSetMalformed = "partition_set_malformed"
        case partitionSetTooLarge = "partition_set_too_large"
        case badSpec = "bad_spec"
        case notMalformed = "not_malformed"
        case conflict
        case badStrategy = "bad_strategy"
        case notPinned = "not_pinned"
        case membersConfigured = "members_configured"
        case zookeeper
        case internalError = "internal"
    }

    public let code: Code
    public let message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The error a command's work threw, with its code.
    init(_ error: any Error) {
        switch error {
        case let error as GroupCommandError:
            self = error
        case let error as RepairError:
            self.init(.notLeader, error.description)
        case let error as SharedSetError:
            let code: Code = switch error {
            case .malformed: .partitionSetMalformed
            case .tooLarge: .partitionSetTooLarge
            case .invalidItem: .badSpec
            case .notMalformed: .notMalformed
            case .changedMeanwhile: .conflict
            }
            self.init(code, error.description)
        case let error as StrategyChangeError:
            let code: Code = switch error {
            case .program: .badStrategy
            case .notPinned: .notPinned
            case .membersConfigured: .membersConfigured
            case .changedMeanwhile: .conflict
            }
            self.init(code, error.description)
        case let error as ZooKeeperError:
            self.init(.zookeeper, "\(error)")
        default:
            self.init(.internalError, "\(error)")
        }
    }

    public static let notConnected = GroupCommandError(.notConnected, "not connected to ZooKeeper; try again when the member is active")
}

extension GroupCommands {
    /// Runs a command's work; whatever it throws comes out as a `GroupCommandError`.
    func coded<Result>(_ work: () async throws -> Result) async throws(GroupCommandError) -> Result {
        do {
            return try await work()
        } catch {
            throw GroupCommandError(error)
        }
    }
}
