import CZooKeeper

/// An error of a ZooKeeper operation: which operation failed, on which path, and the
/// ZooKeeper return code that says why.
public struct ZooKeeperError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A ZooKeeper return code (`ZNONODE`, `ZBADVERSION`, ...), kept as the raw C value so
    /// that no code the server may send is lost.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let systemError = Code(rawValue: ZSYSTEMERROR.rawValue)
        public static let connectionLoss = Code(rawValue: ZCONNECTIONLOSS.rawValue)
        public static let marshallingError = Code(rawValue: ZMARSHALLINGERROR.rawValue)
        public static let operationTimeout = Code(rawValue: ZOPERATIONTIMEOUT.rawValue)
        public static let badArguments = Code(rawValue: ZBADARGUMENTS.rawValue)
        public static let invalidState = Code(rawValue: ZINVALIDSTATE.rawValue)
        public static let noNode = Code(rawValue: ZNONODE.rawValue)
        public static let noAuth = Code(rawValue: ZNOAUTH.rawValue)
        public static let badVersion = Code(rawValue: ZBADVERSION.rawValue)
        public static let noChildrenForEphemerals = Code(rawValue: ZNOCHILDRENFOREPHEMERALS.rawValue)
        public static let nodeExists = Code(rawValue: ZNODEEXISTS.rawValue)
        public static let notEmpty = Code(rawValue: ZNOTEMPTY.rawValue)
        public static let sessionExpired = Code(rawValue: ZSESSIONEXPIRED.rawValue)
        public static let invalidACL = Code(rawValue: ZINVALIDACL.rawValue)
        public static let authFailed = Code(rawValue: ZAUTHFAILED.rawValue)
        public static let closing = Code(rawValue: ZCLOSING.rawValue)
        public static let sessionMoved = Code(rawValue: ZSESSIONMOVED.rawValue)

        /// The library's own text for the code (`zerror`), e.g. "no node".
        public var description: String { String(cString: zerror(rawValue)) }

        /// A stable snake_case name, for metrics labels (`code_N` for codes without one).
        public var name: String {
            switch self {
            case .systemError: "system_error"
            case .connectionLoss: "connection_loss"
            case .marshallingError: "marshalling_error"
            case .operationTimeout: "operation_timeout"
            case .badArguments: "bad_arguments"
            case .invalidState: "invalid_state"
            case .noNode: "no_node"
            case .noAuth: "no_auth"
            case .badVersion: "bad_version"
            case .noChildrenForEphemerals: "no_children_for_ephemerals"
            case .nodeExists: "node_exists"
            case .notEmpty: "not_empty"
            case .sessionExpired: "session_expired"
            case .invalidACL: "invalid_acl"
            case .authFailed: "auth_failed"
            case .closing: "closing"
            case .sessionMoved: "session_moved"
            default: "code_\(rawValue)"
            }
        }

        /// Whether the server itself answered with this code. Only such answers prove that the
        /// session was alive on the server when the request was sent; the others
        /// (`connectionLoss`, `operationTimeout`, `closing`, ...) are made up by the client.
        var isServerAnswer: Bool {
            switch self {
            case .noNode, .noAuth, .badVersion, .noChildrenForEphemerals, .nodeExists, .notEmpty, .invalidACL:
                return true
            default:
                return rawValue == ZOK.rawValue
            }
        }

        /// Whether the operation may have failed only because the connection dropped: the
        /// request may or may not have been applied, and retrying after reconnection is sound
        /// for idempotent operations.
        public var isConnectionProblem: Bool {
            self == .connectionLoss || self == .operationTimeout
        }
    }

    /// What went wrong.
    public let code: Code
    /// The operation that failed, e.g. `"create"` or `"setData"`.
    public let operation: String
    /// The znode path the operation was about, if any (for a `multi`, the failing operation's).
    public let path: String?
    /// For a `multi`, the index of the operation that made it fail.
    public let failedOperation: Int?

    public init(code: Code, operation: String, path: String?) {
        self.init(code: code, operation: operation, path: path, failedOperation: nil)
    }

    /// The error of a `multi` whose operation at index `failedOperation` failed.
    public init(code: Code, operation: String, path: String?, failedOperation: Int?) {
        self.code = code
        self.operation = operation
        self.path = path
        self.failedOperation = failedOperation
    }

    public var description: String {
        if let failedOperation, let path {
            return "ZooKeeper \(operation) (operation \(failedOperation), \(path)): \(code) (\(code.rawValue))"
        }
        if let path {
            return "ZooKeeper \(operation) \(path): \(code) (\(code.rawValue))"
        }
        return "ZooKeeper \(operation): \(code) (\(code.rawValue))"
    }
}
