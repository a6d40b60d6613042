import Synchronization

/// What a one-shot watch saw.
public struct WatchedEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case nodeCreated
        case nodeDeleted
        case nodeDataChanged
        case nodeChildrenChanged
        /// The session expired, failed authentication or was closed: the watch can never fire.
        case sessionEnded
    }

    public var kind: Kind
    /// The path the watch was set on.
    public var path: String

    public init(kind: Kind, path: String) {
        self.kind = kind
        self.path = path
    }
}

/// A one-shot watch set by a read (`getDataWatching`, `existsWatching`, `childrenWatching`).
///
/// It fires once, on the first change of what was read, like a ZooKeeper watch; it survives
/// reconnections within the session and fires with `.sessionEnded` if the session ends.
public struct Watch: Sendable {
    let trigger: WatchTrigger
    /// Whether the read set the watch, rather than finding it set by an earlier read of this
    /// client that it has not fired yet (ZooKeeper keeps one watch per path and kind, and
    /// fires it once): the handlers and waiters of both are the same watch's.
    public let isNew: Bool

    /// The path the watch is on.
    public var path: String { trigger.path }

    /// Waits until the watch fires, and returns what it saw. Returns at once if it has fired.
    /// - Throws: `CancellationError` if the waiting task is cancelled; the watch stays set.
    public func fired() async throws -> WatchedEvent {
        try await trigger.wait()
    }

    /// Calls `handler` with what the watch saw when it fires, on the thread that fires it (at
    /// once, on this one, if it has fired). Watches fire on the client's callback thread in the
    /// order the server sent their notifications, before the replies that follow them; a
    /// handler that only hands the event on (yields it to a stream) keeps that order, where a
    /// task per watch awaiting `fired()` would not.
    public func onFire(_ handler: @escaping @Sendable (WatchedEvent) -> Void) {
        trigger.onFire(handler)
    }
}

/// The shared, thread-safe half of a `Watch`: the C callback thread fires it, tasks wait on it.
final class WatchTrigger: Sendable {
    private struct State {
        var event: WatchedEvent?
        var waiters: [Int: CheckedContinuation<WatchedEvent, any Error>] = [:]
        var handlers: [@Sendable (WatchedEvent) -> Void] = []
        var cancelled: Set<Int> = []
        var nextWaiter = 0
    }

    let path: String
    private let state = Mutex(State())

    init(path: String) {
        self.path = path
    }

    func fire(_ event: WatchedEvent) {
        let (waiters, handlers) = state.withLock { state -> ([CheckedContinuation<WatchedEvent, any Error>], [@Sendable (WatchedEvent) -> Void]) in
            guard state.event == nil else { return ([], []) }
            state.event = event
            defer {
                state.waiters = [:]
                state.handlers = []
            }
            return (Array(state.waiters.values), state.handlers)
        }
        for handler in handlers { handler(event) }
        for waiter in waiters { waiter.resume(returning: event) }
    }

    func onFire(_ handler: @escaping @Sendable (WatchedEvent) -> Void) {
        let fired = state.withLock { state -> WatchedEvent? in
            if let event = state.event { return event }
            state.handlers.append(handler)
            return nil
        }
        if let fired { handler(fired) }
    }

    func wait() async throws -> WatchedEvent {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate = state.withLock { state -> Result<WatchedEvent, any Error>? in
                    if let event = state.event { return .success(event) }
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.waiters.removeValue(forKey: id)
                if waiter == nil, state.event == nil { state.cancelled.insert(id) }
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
