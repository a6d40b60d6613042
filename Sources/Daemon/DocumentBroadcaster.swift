import SocketServer
import Synchronization

/// Hands every published document to every `watch` stream (spec §9): a new stream gets the
/// current document first, then each one after, in order.
final class DocumentBroadcaster: Sendable {
    private struct State {
        var latest: String?
        var subscribers: [Int: AsyncStream<ReplyLine>.Continuation] = [:]
        var nextSubscriber = 0
        var finished = false
    }

    private let state = Mutex(State())

    /// The current document as JSON, if one was published.
    var latest: String? { state.withLock { $0.latest } }

    /// Sends `json` to every stream (encoded once for all of them).
    func publish(_ json: String) {
        let line = ReplyLine(json)
        state.withLock { state in
            state.latest = json
            for subscriber in state.subscribers.values { subscriber.yield(line) }
        }
    }

    /// A stream of documents: the current one, then every one published until `finish()`.
    func subscribe() -> AsyncStream<ReplyLine> {
        let (stream, continuation) = AsyncStream.makeStream(of: ReplyLine.self)
        let id = state.withLock { state -> Int in
            if let latest = state.latest { continuation.yield(ReplyLine(latest)) }
            if state.finished { continuation.finish() }
            state.subscribers[state.nextSubscriber] = continuation
            state.nextSubscriber += 1
            return state.nextSubscriber - 1
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every stream (after the last document, `stopped`).
    func finish() {
        let subscribers = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        subscribers.forEach { $0.finish() }
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
