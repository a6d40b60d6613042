import CZooKeeper
import Logging
import Synchronization

// Every callback the C library makes lands in this file. They run on the library's
// completion thread (the log callback on any of its threads), never on the Swift concurrency
// pool; each one turns its C arguments into Swift values and hands them over at once.

/// What a completion delivered, before it is checked and turned into a public result.
enum Reply: Sendable {
    case done
    case stat(Stat?)
    case data([UInt8], Stat?)
    case children([String], Stat?)
    case created(String, Stat?)
    case multi([MultiResult])
}

/// The context of one asynchronous request: passed retained to the C library as the
/// completion's `data` pointer, taken back exactly once by the completion (which the library
/// calls at most once, with `ZCLOSING` on close; `ClientCore.didClose` completes those the
/// library dropped).
final class RequestContext: Sendable {
    let core: ClientCore
    let operation: String
    let path: String
    /// The watch the request asked the server to set, if any.
    let watch: ClientCore.WatchKind?
    /// Whether "no node" is an answer rather than an error (`exists`).
    let acceptsNoNode: Bool
    let sentAt: ContinuousClock.Instant
    /// Who takes the reply, on the library's thread; `nil` for the client's own heartbeats.
    let completion: Completion?
    /// What the library writes into until the completion (a `multi`'s results).
    let multi: MultiBuffers?

    init(
        core: ClientCore, operation: String, path: String, watch: ClientCore.WatchKind?,
        acceptsNoNode: Bool, multi: MultiBuffers? = nil, completion: Completion?
    ) {
        self.core = core
        self.operation = operation
        self.path = path
        self.watch = watch
        self.acceptsNoNode = acceptsNoNode
        self.multi = multi
        self.sentAt = .now
        self.completion = completion
    }

    typealias Completion = @Sendable (Result<(Reply, Watch?), ZooKeeperError>) -> Void

    /// The operations whose answer shows the session alive where sessions expire: writes and
    /// `sync` go through the ensemble's leader, which expires sessions. A read is answered by
    /// the server the client is connected to, which may have lost the leader and go on answering
    /// for up to `syncLimit` ticks (10 s by default) after the leader expired the session: the
    /// lease it prolonged outlived the session, and another member was given the share.
    static let confirmingSessions: Set<String> = ["create", "delete", "setData", "multi", "sync"]

    static func take(_ pointer: UnsafeRawPointer?) -> RequestContext {
        Unmanaged<RequestContext>.fromOpaque(pointer!).takeRetainedValue()
    }

    /// Whether the request has ended: by its completion, or by `ClientCore.didClose` for a
    /// completion the library dropped. Whichever comes first ends it; the other does nothing.
    private let ended = Atomic(false)

    /// Claims the request's end; false if it had ended already.
    func claimEnd() -> Bool {
        ended.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    func complete(_ rc: Int32, _ reply: Reply, failedOperation: Int? = nil) {
        guard claimEnd() else { return }
        endClaimed(rc, reply, failedOperation: failedOperation)
    }

    /// Ends a request whose end this caller claimed.
    func endClaimed(_ rc: Int32, _ reply: Reply, failedOperation: Int? = nil) {
        core.requestCompleted(self)
        let code = ZooKeeperError.Code(rawValue: rc)
        if code.isServerAnswer, Self.confirmingSessions.contains(operation) { core.heardFromServer(requestSentAt: sentAt) }
        let succeeded = rc == ZOK.rawValue || (acceptsNoNode && code == .noNode)
        // The library has set the watch on the server exactly when the request succeeded.
        let watch = succeeded ? self.watch.map { core.addWatch(path: path, kind: $0) } : nil
        if succeeded {
            completion?(.success((rc == ZOK.rawValue ? reply : .stat(nil), watch)))
        } else {
            ClientMetrics.failed(code)
            completion?(.failure(ZooKeeperError(
                code: code, operation: operation, path: failedOperation.map { multi!.operations[$0].path } ?? path,
                failedOperation: failedOperation)))
        }
    }
}

enum Callbacks {
    /// The session watcher, also the watcher of every path watch (the library calls one
    /// watcher function and context for all of them).
    static let watcher: watcher_fn = { handle, type, state, path, context in
        let core = Unmanaged<ClientCore>.fromOpaque(context!).takeUnretainedValue()
        let path = path.map { String(cString: $0) } ?? ""
        switch type {
        case ZOO_SESSION_EVENT:
            let newState = sessionState(state, handle: handle, core: core)
            if case .connected = newState, let handle { core.addCredentialOnFirstConnection(handle) }
            core.publish(newState)
            if case .connected(let session) = newState {
                core.beat(every: session.timeout / 4)
            } else {
                core.pauseHeartbeat()
            }
        case ZOO_CREATED_EVENT:
            core.deliver(WatchedEvent(kind: .nodeCreated, path: path))
        case ZOO_DELETED_EVENT:
            core.deliver(WatchedEvent(kind: .nodeDeleted, path: path))
        case ZOO_CHANGED_EVENT:
            core.deliver(WatchedEvent(kind: .nodeDataChanged, path: path))
        case ZOO_CHILD_EVENT:
            core.deliver(WatchedEvent(kind: .nodeChildrenChanged, path: path))
        default:
            core.logger.debug("ignored ZooKeeper event", metadata: ["type": "\(type)", "path": "\(path)"])
        }
    }

    private static func sessionState(_ state: Int32, handle: OpaquePointer?, core: ClientCore) -> SessionState {
        switch state {
        case ZOO_CONNECTED_STATE, ZOO_READONLY_STATE:
            guard let handle, let id = zoo_client_id(handle)?.pointee else { return .connecting }
            let password = withUnsafeBytes(of: id.passwd) { [UInt8]($0) }
            let timeout = Duration.milliseconds(zoo_recv_timeout(handle))
            return .connected(Session(id: id.client_id, password: password, timeout: timeout))
        case ZOO_EXPIRED_SESSION_STATE:
            return .expired
        case ZOO_AUTH_FAILED_STATE:
            return .authFailed
        default:  // connecting, associating, not connected
            return core.hadSession ? .suspended : .connecting
        }
    }

    static let void: void_completion_t = { rc, context in
        RequestContext.take(context).complete(rc, .done)
    }

    static let stat: stat_completion_t = { rc, stat, context in
        RequestContext.take(context).complete(rc, .stat(stat.map { Stat($0.pointee) }))
    }

    static let data: data_completion_t = { rc, value, length, stat, context in
        let bytes = value.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: Int(max(length, 0)))) } ?? []
        RequestContext.take(context).complete(rc, .data(bytes, stat.map { Stat($0.pointee) }))
    }

    static let children: strings_stat_completion_t = { rc, strings, stat, context in
        var names: [String] = []
        if let vector = strings?.pointee, let items = vector.data {
            names = (0..<Int(vector.count)).map { String(cString: items[$0]!) }
        }
        RequestContext.take(context).complete(rc, .children(names, stat.map { Stat($0.pointee) }))
    }

    /// A `multi`: the results are in the request's buffers; a failure names the operation.
    static let multi: void_completion_t = { rc, context in
        let request = RequestContext.take(context)
        let buffers = request.multi!
        if rc == ZOK.rawValue {
            request.complete(rc, .multi(buffers.succeeded))
        } else {
            request.complete(rc, .done, failedOperation: buffers.failedIndex)
        }
    }

    /// A `sync`: its answer is all it says.
    static let synced: string_completion_t = { rc, _, context in
        RequestContext.take(context).complete(rc, .done)
    }

    static let created: string_stat_completion_t = { rc, value, stat, context in
        let path = value.map { String(cString: $0) } ?? ""
        RequestContext.take(context).complete(rc, .created(path, stat.map { Stat($0.pointee) }))
    }

    /// The library's log lines (`LibraryLog`).
    static let log: log_callback_fn = { message in
        guard let message else { return }
        LibraryLog.take(String(cString: message))
    }
}
