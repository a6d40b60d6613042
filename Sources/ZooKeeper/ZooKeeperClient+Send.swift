import CZooKeeper

extension ZooKeeperClient {
    /// One request, as a value.
    public enum Operation: Sendable, Equatable {
        case create(String, data: [UInt8], mode: CreateMode, acl: [ACL]? = nil)
        /// Deletes the znode, only if its version is `version` (any with -1).
        case delete(String, version: Int32)
        /// Replaces the znode's data, only if its version is `version` (any with -1).
        case setData(String, data: [UInt8], version: Int32)
        /// The znode's data and stat; with `watch`, a watch on its next change or deletion.
        case getData(String, watch: Bool)
        /// The znode's stat, or none; with `watch`, a watch on its creation, change or deletion.
        case exists(String, watch: Bool)
        /// The znode's children and stat; with `watch`, a watch on a child's creation or
        /// deletion, or the znode's.
        case getChildren(String, watch: Bool)
        /// One transaction: all of the operations, or none.
        case multi([MultiOperation])

        var name: String {
            switch self {
            case .create: "create"
            case .delete: "delete"
            case .setData: "setData"
            case .getData: "getData"
            case .exists: "exists"
            case .getChildren: "getChildren"
            case .multi: "multi"
            }
        }

        var path: String {
            switch self {
            case .create(let path, _, _, _), .delete(let path, _), .setData(let path, _, _), .getData(let path, _),
                 .exists(let path, _), .getChildren(let path, _):
                path
            case .multi(let operations): operations.first?.path ?? "/"
            }
        }
    }

    /// What a request that succeeded returned.
    public enum Answer: Sendable, Equatable {
        /// The path created (with its sequence suffix for sequential modes), and the zxid that
        /// made it (0 if the server did not say).
        case created(String, made: Int64)
        /// The stat after a `setData`; an `exists`'s stat, `nil` if the znode does not exist.
        case stat(Stat?)
        case data(NodeData)
        case children(Children)
        case multi([MultiResult])
        /// A `delete` went through.
        case done
    }

    /// Sends `operation` and calls `completion` with its answer and the watch it set, if any.
    ///
    /// `completion` runs on the library's thread, in the order the server answered, and before
    /// the library delivers any watch event the server sent after the answer: a caller that
    /// arms the watch inside `completion` (`Watch.onFire`) hears of replies and events in the
    /// server's order. It must return quickly. A request the library refuses at once is
    /// answered at once, on the caller's thread.
    public func send(
        _ operation: Operation, completion: @escaping @Sendable (Result<Answer, ZooKeeperError>, Watch?) -> Void
    ) {
        let name = operation.name, path = operation.path
        let answer: RequestContext.Completion = { result in
            switch result {
            case .success(let (reply, watch)):
                completion(Self.answer(reply, to: operation).map { $0 }, watch)
            case .failure(let error):
                completion(.failure(error), nil)
            }
        }
        do {
            switch operation {
            case .create(_, let data, let mode, let acl):
                try (acl ?? defaultACL).withACLVector { vector throws(ZooKeeperError) in
                    try core.submit(name, path: path, completion: answer) { handle, context in
                        data.withUnsafeBufferPointer { bytes in
                            bytes.withMemoryRebound(to: CChar.self) { chars in
                                zoo_acreate2(handle, path, chars.baseAddress, Int32(data.count), vector, mode.flags, Callbacks.created, context)
                            }
                        }
                    }
                }
            case .delete(_, let version):
                try core.submit(name, path: path, completion: answer) { handle, context in
                    zoo_adelete(handle, path, version, Callbacks.void, context)
                }
            case .setData(_, let data, let version):
                try core.submit(name, path: path, completion: answer) { handle, context in
                    data.withUnsafeBufferPointer { bytes in
                        bytes.withMemoryRebound(to: CChar.self) { chars in
                            zoo_aset(handle, path, chars.baseAddress, Int32(data.count), version, Callbacks.stat, context)
                        }
                    }
                }
            case .getData(_, let watch):
                try core.submit(name, path: path, watch: watch ? .data : nil, completion: answer) { handle, context in
                    zoo_aget(handle, path, watch ? 1 : 0, Callbacks.data, context)
                }
            case .exists(_, let watch):
                try core.submit(name, path: path, watch: watch ? .data : nil, acceptsNoNode: true, completion: answer) { handle, context in
                    zoo_aexists(handle, path, watch ? 1 : 0, Callbacks.stat, context)
                }
            case .getChildren(_, let watch):
                try core.submit(name, path: path, watch: watch ? .children : nil, completion: answer) { handle, context in
                    zoo_aget_children2(handle, path, watch ? 1 : 0, Callbacks.children, context)
                }
            case .multi(let operations):
                try defaultACL.withACLVector { acl throws(ZooKeeperError) in
                    let buffers = MultiBuffers(operations, acl: acl)
                    defer { buffers.releaseInputs() }
                    try core.submit(name, path: path, multi: buffers, completion: answer) { handle, context in
                        // `zoo_amulti` has no check of the session's state of its own: on an ended
                        // session it fails with a marshalling error and keeps nothing, which would
                        // leave the context (and the core) for a completion that never comes.
                        let state = is_unrecoverable(handle)
                        guard state == ZOK.rawValue else { return state }
                        return zoo_amulti(handle, Int32(operations.count), buffers.ops, buffers.results, Callbacks.multi, context)
                    }
                }
            }
        } catch {
            completion(.failure(error), nil)
        }
    }

    /// `send`, awaited.
    func perform(_ operation: Operation) async throws -> (Answer, Watch?) {
        try await withCheckedThrowingContinuation { continuation in
            send(operation) { result, watch in continuation.resume(with: result.map { ($0, watch) }) }
        }
    }

    /// The library's reply as the answer to `operation`; a reply without the stat it must
    /// carry is a marshalling error.
    private static func answer(_ reply: Reply, to operation: Operation) -> Result<Answer, ZooKeeperError> {
        switch (reply, operation) {
        case (.created(let path, let stat), _): return .success(.created(path, made: stat?.czxid ?? 0))
        case (.stat(let stat), .exists): return .success(.stat(stat))
        case (.stat(let stat?), _): return .success(.stat(stat))
        case (.data(let bytes, let stat?), _): return .success(.data(NodeData(data: bytes, stat: stat)))
        case (.children(let names, let stat?), _): return .success(.children(Children(names: names, stat: stat)))
        case (.multi(let results), _): return .success(.multi(results))
        case (.done, _): return .success(.done)
        default: return .failure(ZooKeeperError(code: .marshallingError, operation: operation.name, path: operation.path))
        }
    }
}
