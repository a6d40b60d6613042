extension ZooKeeperClient {
    /// Runs `operation`, and runs it again after the client has reconnected whenever it failed
    /// only because the connection dropped (`connectionLoss`, `operationTimeout`).
    ///
    /// Such a failure does not say whether the server applied the request, so `operation` must
    /// be safe to repeat: a read, or a write that recognises its own earlier success (a create
    /// that finds its node, a conditional set that finds its change). The retries end with the
    /// session: if it expires or the client closes, the error says so.
    @discardableResult
    public func retrying<Result: Sendable>(
        _ operation: () async throws -> Result
    ) async throws -> Result {
        while true {
            do {
                return try await operation()
            } catch let error as ZooKeeperError where error.code.isConnectionProblem {
                // The state may still read `connected` for a moment after the failure.
                if case .connected = status.state { try await Task.sleep(for: .milliseconds(20)) }
                try await waitUntilConnected()
            }
        }
    }

    /// Creates `path` and every missing ancestor as persistent znodes with empty data; a
    /// znode that already exists is left as it is. One `exists` when `path` is there (every
    /// member's start but a group's first), one per ancestor and a `create` per missing node
    /// otherwise. (Walking from the root every time cost a joining member 14 requests for its
    /// group's four paths instead of 4.) Returns `path`'s stat if it was there, `nil` if it was
    /// made now.
    @discardableResult
    public func ensurePath(_ path: String, acl: [ACL]? = nil) async throws -> Stat? {
        if let stat = try await exists(path) { return stat }
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if try await exists(prefix) != nil { continue }
            do {
                try await create(prefix, acl: acl)
            } catch let error as ZooKeeperError where error.code == .nodeExists {
                continue
            }
        }
        return nil
    }
}
