import SocketServer
import Synchronization

/// Hands every published document to every `watch` stream (spec §9): a new stream gets the
/// current document first, then each one after, in order.
///
/// Publishing never waits on a client (spec §13): each stream holds at most one document its
/// connection has not taken yet, the latest (a newer one replaces it), and every stream and
/// `get` share the one encoded line of a document.
///
/// Two locks, so that a stream's end cannot deadlock with a publication: `publishing` orders
/// publications and is held while documents are yielded (a yield may take the lock of the
/// task it resumes); `state` is never held while yielding to a stream that may have a waiting
/// task, and is all that a stream's termination takes (it runs under its task's lock when the
/// task is cancelled).
final class DocumentBroadcaster: Sendable {
    private struct State {
        var latest: ReplyLine?
        var subscribers: [Int: AsyncStream<ReplyLine>.Continuation] = [:]
        var nextSubscriber = 0
        var finished = false
    }

    private let publishing = Mutex(())
    private let state = Mutex(State())

    /// The current document as one encoded line, if one was published.
    var latest: ReplyLine? { state.withLock { $0.latest } }

    /// Sends `json` to every stream (encoded once for all of them and for `get`). Calls are
    /// ordered among themselves.
    func publish(_ json: String) {
        let line = ReplyLine(json)
        publishing.withLock { _ in
            let subscribers = state.withLock { state in
                state.latest = line
                return Array(state.subscribers.values)
            }
            for subscriber in subscribers { subscriber.yield(line) }
        }
    }

    /// A stream of documents: the current one, then every one published until `finish()`; a
    /// document not yet taken when a newer one comes is replaced by it.
    func subscribe() -> AsyncStream<ReplyLine> {
        let (stream, continuation) = AsyncStream.makeStream(of: ReplyLine.self, bufferingPolicy: .bufferingNewest(1))
        // Nothing waits on the new stream yet: yielding to it under the lock resumes no task.
        let id = state.withLock { state -> Int in
            if let latest = state.latest { continuation.yield(latest) }
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
        let subscribers = publishing.withLock { _ in
            state.withLock { state in
                state.finished = true
                defer { state.subscribers = [:] }
                return Array(state.subscribers.values)
            }
        }
        subscribers.forEach { $0.finish() }
    }

    /// How many `watch` streams are open.
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
