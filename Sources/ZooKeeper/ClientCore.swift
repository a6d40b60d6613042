import CZooKeeper
import Logging
import Dispatch
import Glibc
import Synchronization

/// The state a client shares with the C library's threads, behind one lock.
///
/// The C library holds one retained reference to it as the context of the session watcher
/// (from `zookeeper_init2` until `zookeeper_close` has returned), so callbacks can never see
/// it freed. The callbacks themselves are in `Callbacks.swift`.
final class ClientCore: Sendable {
    /// The C handle, passed between threads only under the lock.
    struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// The two kinds of watches ZooKeeper keeps per path.
    enum WatchKind: Hashable, Sendable {
        /// Set by `getData` and `exists`.
        case data
        /// Set by `getChildren`.
        case children
    }

    private struct WatchKey: Hashable {
        var path: String
        var kind: WatchKind
    }

    private struct State {
        var handle: Handle?
        var closing = false
        /// `zookeeper_close` has returned: every state stream is finished.
        var closed = false
        var requestsBeingSubmitted = 0
        /// Requests handed to the library whose completion has not come yet.
        var requestsInFlight: [ObjectIdentifier: RequestContext] = [:]
        var sessionState = SessionState.connecting
        var session: Session?
        var lastHeard: ContinuousClock.Instant?
        var subscribers: [Int: AsyncStream<SessionState>.Continuation] = [:]
        var nextSubscriber = 0
        /// The watch set on each path, of each kind, until it fires: ZooKeeper keeps one per
        /// client, however many reads set it.
        var watches: [WatchKey: WatchTrigger] = [:]
    }

    let logger: Logger
    private let state = Mutex(State())
    /// Sends heartbeats on a Dispatch timer, so a busy Swift concurrency pool cannot delay them.
    private let heartbeat = Timer()

    /// A Dispatch timer source; its methods are safe to call from any thread.
    private struct Timer: @unchecked Sendable {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "zookeeper.heartbeat"))
    }

    /// The digest credential still to add, on the first connection.
    private let pendingCredential: Mutex<String?>

    init(logger: Logger, digestCredential: String?) {
        self.logger = logger
        pendingCredential = Mutex(digestCredential)
        heartbeat.source.setEventHandler { [weak self] in self?.sendHeartbeat() }
        heartbeat.source.resume()
    }

    /// Sends a heartbeat now and then every `interval` (a quarter of the session timeout).
    func beat(every interval: Duration) {
        heartbeat.source.schedule(deadline: .now(), repeating: .milliseconds(Int(interval.milliseconds)), leeway: .milliseconds(5))
    }

    /// No heartbeats while not connected: the library would refuse each at once.
    func pauseHeartbeat() {
        heartbeat.source.schedule(deadline: .distantFuture)
    }

    // MARK: Handle lifetime

    func attach(_ handle: Handle) {
        state.withLock { $0.handle = handle }
    }

    /// Runs `body` with the C handle, which stays valid until `body` returns (close waits).
    func withHandle<Result>(
        operation: String, path: String?, _ body: (OpaquePointer) -> Result
    ) throws(ZooKeeperError) -> Result {
        let handle = state.withLock { state -> Handle? in
            guard !state.closing, let handle = state.handle else { return nil }
            state.requestsBeingSubmitted += 1
            return handle
        }
        guard let handle else { throw ZooKeeperError(code: .closing, operation: operation, path: path) }
        defer { state.withLock { $0.requestsBeingSubmitted -= 1 } }
        return body(handle.pointer)
    }

    /// Hands a request to the library, with a context its completion takes back. If the
    /// library refuses the request at once, the error is thrown (see below for the context).
    func submit(
        _ operation: String, path: String, watch: WatchKind? = nil, acceptsNoNode: Bool = false, multi: MultiBuffers? = nil,
        completion: RequestContext.Completion?,
        _ start: (OpaquePointer, UnsafeMutableRawPointer) -> Int32
    ) throws(ZooKeeperError) {
        let context = RequestContext(
            core: self, operation: operation, path: path, watch: watch, acceptsNoNode: acceptsNoNode, multi: multi,
            completion: completion)
        let pointer = Unmanaged.passRetained(context).toOpaque()
        ClientMetrics.requests.increment()
        state.withLock { $0.requestsInFlight[ObjectIdentifier(context)] = context }
        let rc: Int32
        do {
            rc = try withHandle(operation: operation, path: path) { start($0, pointer) }
        } catch {
            // The library never saw it, but `didClose` may have ended it meanwhile (it was in
            // the table): only the first to claim it ends it.
            Unmanaged<RequestContext>.fromOpaque(pointer).release()
            guard context.claimEnd() else { return }
            requestCompleted(context)
            throw error
        }
        if rc != ZOK.rawValue {
            // Refused. Bad arguments and a session that is over are refused before the library
            // keeps anything: the reference is released (left, it kept the context and the core
            // it holds for good, after every expired session). Otherwise the library may still
            // call the completion (a send failing as the close begins leaves it queued, called
            // later with `ZCLOSING`): whichever comes first ends the request, and the reference
            // is left to that completion (if none comes, one small context leaks: such a
            // refusal happens only around the close).
            if rc == ZBADARGUMENTS.rawValue || rc == ZINVALIDSTATE.rawValue {
                Unmanaged<RequestContext>.fromOpaque(pointer).release()
            }
            guard context.claimEnd() else { return }
            requestCompleted(context)
            throw ZooKeeperError(code: .init(rawValue: rc), operation: operation, path: path)
        }
    }

    /// The request's completion has come (or it never reached the library).
    func requestCompleted(_ context: RequestContext) {
        _ = state.withLock { $0.requestsInFlight.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// Adds the digest credential, once, on the first connection that takes it (the library
    /// keeps it for every reconnection after): called from the session watcher before the
    /// connection is announced, so it precedes every request sent after.
    /// (Before a connection the library refuses `zoo_add_auth` with an invalid state.)
    /// Uses the watcher's own handle: the callback may come before `attach`.
    func addCredentialOnFirstConnection(_ handle: OpaquePointer) {
        guard let credential = pendingCredential.withLock({ $0.take() }) else { return }
        let context = RequestContext(
            core: self, operation: "addAuth", path: "digest", watch: nil, acceptsNoNode: false, completion: nil)
        let pointer = Unmanaged.passRetained(context).toOpaque()
        let rc = zoo_add_auth(handle, "digest", credential, Int32(credential.utf8.count), Callbacks.void, pointer)
        switch rc {
        case ZOK.rawValue:
            break
        case ZINVALIDSTATE.rawValue:
            // The connection was lost again before this callback ran: the library refuses the
            // credential until it connects (ZOOKEEPER-800) and keeps nothing of it. Kept for the
            // next connection; taken and dropped, it was gone for the session, and every write
            // under the credential's ACL failed.
            Unmanaged<RequestContext>.fromOpaque(pointer).release()
            pendingCredential.withLock { $0 = $0 ?? credential }
        case ZMARSHALLINGERROR.rawValue:
            // The library kept the credential and its completion, which takes the reference.
            logger.error("could not send the digest credential: \(ZooKeeperError.Code(rawValue: rc))")
        default:
            Unmanaged<RequestContext>.fromOpaque(pointer).release()
            logger.error("could not add the digest credential: \(ZooKeeperError.Code(rawValue: rc))")
        }
    }

    /// A cheap request whose answer refreshes `lastHeard` (see `heardFromServer`): a `sync`,
    /// which the ensemble's leader answers (`RequestContext.confirmingSessions`).
    func sendHeartbeat() {
        try? submit("sync", path: "/", completion: nil) { handle, context in
            zoo_async(handle, "/", Callbacks.synced, context)
        }
    }

    /// Marks the client closing and returns the handle to close, once no call is using it;
    /// `nil` if another caller is closing it. Blocks briefly: call it off the cooperative pool.
    func detachForClose() -> Handle? {
        heartbeat.source.cancel()
        let handle = state.withLock { state -> Handle? in
            guard !state.closing else { return nil }
            state.closing = true
            return state.handle
        }
        guard handle != nil else { return nil }
        while state.withLock({ $0.requestsBeingSubmitted > 0 }) {
            usleep(50)
        }
        return handle
    }

    /// Called once `zookeeper_close` has returned.
    ///
    /// The library does not always call the completions of requests in flight at the close: it
    /// queues them, with `ZCLOSING`, for its completion thread, which ends without running them
    /// if it was busy when the close began. Those requests end here, with `closing`, so no
    /// caller waits for ever.
    func didClose() {
        let dropped = state.withLock { state in
            defer { state.requestsInFlight = [:] }
            return Array(state.requestsInFlight.values)
        }
        for context in dropped where context.claimEnd() {
            // The library's reference is not released here: should its completion still come,
            // it takes that reference (and finds the request ended). A dropped one leaks a
            // context, once, at close.
            context.endClaimed(ZCLOSING.rawValue, .done)
        }
        publish(.closed)
        let subscribers = state.withLock { state in
            state.handle = nil
            state.closed = true
            defer { state.subscribers = [:] }
            return state.subscribers.values
        }
        subscribers.forEach { $0.finish() }
    }

    // MARK: Session state

    var status: ConnectionStatus {
        state.withLock { ConnectionStatus(state: $0.sessionState, session: $0.session, lastHeardFromServer: $0.lastHeard) }
    }

    func sessionStates() -> AsyncStream<SessionState> {
        let (stream, continuation) = AsyncStream.makeStream(of: SessionState.self)
        let id = state.withLock { state in
            defer { state.nextSubscriber += 1 }
            continuation.yield(state.sessionState)
            if state.sessionState == .closed || state.closed {
                continuation.finish()
            } else {
                state.subscribers[state.nextSubscriber] = continuation
            }
            return state.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Records a new state and tells every subscriber. Repeated states are not reported again.
    func publish(_ newState: SessionState) {
        let (subscribers, triggers) = state.withLock { state -> ([AsyncStream<SessionState>.Continuation], [WatchTrigger]) in
            guard state.sessionState != newState, !state.sessionState.isTerminal else { return ([], []) }
            state.sessionState = newState
            if case .connected(let session) = newState { state.session = session }
            switch newState {
            case .connected: LibraryLog.connected()
            case .suspended: ClientMetrics.connectionLosses.increment()
            case .expired: ClientMetrics.sessionExpirations.increment()
            default: break
            }
            var ended: [WatchTrigger] = []
            if newState.isTerminal {
                ended = Array(state.watches.values)
                state.watches = [:]
            }
            return (Array(state.subscribers.values), ended)
        }
        for trigger in triggers {
            trigger.fire(WatchedEvent(kind: .sessionEnded, path: trigger.path))
        }
        for subscriber in subscribers { subscriber.yield(newState) }
    }

    /// Whether the client ever had a session, so a lost connection means `suspended`.
    var hadSession: Bool {
        state.withLock { $0.session != nil }
    }

    /// Notes that the server answered a request sent at `sentAt`.
    func heardFromServer(requestSentAt sentAt: ContinuousClock.Instant) {
        state.withLock { state in
            if state.lastHeard.map({ $0 < sentAt }) ?? true { state.lastHeard = sentAt }
        }
    }

    // MARK: Watches

    /// Registers a watch the C library has just set on the server (called from the reply's
    /// completion, before any event of that watch can be delivered): the one set before on the
    /// same path and kind if it has not fired, as on the server (a trigger for each read, kept
    /// until the node changed, grew by one at every read of an unchanged node: the leader's
    /// full reads, every 5 minutes for good).
    func addWatch(path: String, kind: WatchKind) -> Watch {
        state.withLock { state in
            let key = WatchKey(path: path, kind: kind)
            if let armed = state.watches[key] { return Watch(trigger: armed, isNew: false) }
            let trigger = WatchTrigger(path: path)
            state.watches[key] = trigger
            return Watch(trigger: trigger, isNew: true)
        }
    }

    /// Fires the watches a node event concerns, as ZooKeeper defines it: creation and data
    /// changes fire data watches, child changes fire child watches, deletion fires both.
    func deliver(_ event: WatchedEvent) {
        let kinds: [WatchKind] = switch event.kind {
        case .nodeCreated, .nodeDataChanged: [.data]
        case .nodeChildrenChanged: [.children]
        case .nodeDeleted: [.data, .children]
        case .sessionEnded: []
        }
        let triggers = state.withLock { state in
            kinds.compactMap { state.watches.removeValue(forKey: WatchKey(path: event.path, kind: $0)) }
        }
        for trigger in triggers { trigger.fire(event) }
    }
}
