import Logging
import NIOCore

/// The last stage of a connection's pipeline: hands requests to the ``LineHandler`` one at a
/// time, in order, on a task of the connection's own, and writes its replies.
///
/// Everything here but ``serve`` runs on the channel's event loop. The task reaches it only
/// through ``write(_:)``, ``requestTaken()`` and ``finish()``, each a hop onto the loop, so a
/// handler that is slow, or a client that does not read, holds up its own connection only.
///
/// Bounds, so that no client can make the server hold more than a little for it:
/// - input: while ``maxQueuedRequests`` requests wait for the task, the server reads nothing
///   more from the socket (what one read brought is queued whole; the kernel then holds back
///   the client's writes);
/// - output: before each reply line, more than `maxPendingOutputBytes` still unsent is the
///   client's fault: it gets the `tooSlow` reply behind what it has not read, and is closed when
///   that went out or after ``tooSlowGrace``, whichever comes first.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Request
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests read but not yet taken by the task, beyond which the server stops reading.
    static let maxQueuedRequests = 16
    /// How long a client cut off as too slow has to take the rest of its output.
    static let tooSlowGrace = TimeAmount.seconds(2)

    private let handler: any LineHandler
    private let maxPendingOutputBytes: Int
    /// The server's logger, with the peer's pid and uid once they are known.
    private var logger: Logger
    private let requests: AsyncStream<Request>
    private let continuation: AsyncStream<Request>.Continuation

    private var context: ChannelHandlerContext?
    private var isStarted = false
    private var worker: Task<Void, Never>?
    /// Requests given to the task that it has not taken yet.
    private var queued = 0
    /// Requests given to the task whose replies are not written yet (a stream's, never): an
    /// immediate reply is written only when there are none, or it would overtake them.
    private var unanswered = 0
    /// A `read` held back because too many requests were queued.
    private var readHeld = false
    /// Bytes written to the channel and not yet taken by the kernel.
    private var pendingBytes = 0
    /// The latest write, which completes after all earlier ones.
    private var lastWrite: EventLoopFuture<Void>?
    /// No more requests are read or replies written; the connection closes when its output
    /// went out.
    private var isClosing = false

    init(handler: any LineHandler, maxPendingOutputBytes: Int, logger: Logger) {
        self.handler = handler
        self.maxPendingOutputBytes = maxPendingOutputBytes
        self.logger = logger
        (requests, continuation) = AsyncStream.makeStream()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }
        let request = Self.unwrapInboundIn(data)
        // Answered here on the loop if it can be at once, nothing is before it, and the
        // client reads what it gets (else through the task, whose queue holds back reading).
        if unanswered == 0, pendingBytes <= maxPendingOutputBytes / 2, case .line(let line) = request,
           let reply = handler.immediateReply(to: line) {
            _ = write(ReplyLine(reply))
            return
        }
        unanswered += 1
        queued += 1
        continuation.yield(request)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client shut down its writing side: answer what it sent, then close.
        if event as? ChannelEvent == .inputClosed { continuation.finish() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosing = true
        continuation.finish()
        // Ends the handler's call or the reply stream the task is in (its onTermination runs).
        worker?.cancel()
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error, closing", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if isClosing { return }
        if queued >= Self.maxQueuedRequests {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Reads the peer's credentials and starts the task, once.
    private func start(context: ChannelHandlerContext) {
        guard !isStarted, !isClosing else { return }
        isStarted = true
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let (handler, requests, logger) = (handler, requests, logger)
        PeerCredentials.of(context.channel).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let peer):
                guard !self.isClosing else { return }
                self.logger[metadataKey: "peer_pid"] = "\(peer.pid)"
                self.logger[metadataKey: "peer_uid"] = "\(peer.uid)"
                let eventLoop = context.eventLoop
                self.worker = Task {
                    await Self.serve(requests, handler: handler, peer: peer, connection: connection, eventLoop: eventLoop)
                }
            case .failure(let error):
                logger.warning("cannot read the peer's credentials, closing", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        }
    }

    /// The connection's task: each request in turn to the handler, each reply to the client.
    private static func serve(
        _ requests: AsyncStream<Request>, handler: any LineHandler, peer: PeerCredentials,
        connection: NIOLoopBound<ConnectionHandler>, eventLoop: any EventLoop
    ) async {
        /// Queues the reply line of a request. Hops are in order, so replies are too.
        func post(_ line: String) {
            eventLoop.execute {
                _ = connection.value.write(ReplyLine(line))
                connection.value.unanswered -= 1
            }
        }
        /// Queues a line of a stream and waits for the hop: a stream that produces faster than
        /// the loop writes cannot pile up hops. False once the connection is closing.
        func send(_ line: ReplyLine) async -> Bool {
            (try? await eventLoop.submit { connection.value.write(line) }.get()) ?? false
        }
        serving: for await request in requests {
            eventLoop.execute { connection.value.requestTaken() }
            switch request {
            case .error(let error):
                post(handler.reply(to: error))
                if case .lineTooLong = error { break serving }
            case .line(let line):
                switch await handler.handle(line, from: peer) {
                case .line(let reply):
                    post(reply)
                case .stream(let replies):
                    for await reply in replies {
                        guard await send(reply) else { return }
                    }
                    break serving
                }
            }
        }
        eventLoop.execute { connection.value.finish() }
    }

    /// Queues one reply line, unless the client has left too much unread.
    private func write(_ line: ReplyLine) -> Bool {
        guard let context, !isClosing else { return false }
        if pendingBytes > maxPendingOutputBytes {
            cutOff(context: context)
            return false
        }
        let size = line.bytes.readableBytes
        pendingBytes += size
        let written = context.writeAndFlush(Self.wrapOutboundOut(line.bytes))
        written.assumeIsolated().whenComplete { _ in self.pendingBytes -= size }
        lastWrite = written
        return true
    }

    /// The task took a request: reads resume when few enough are left.
    private func requestTaken() {
        queued -= 1
        if readHeld, queued < Self.maxQueuedRequests, let context {
            readHeld = false
            context.read()
        }
    }

    /// The task is done: closes the connection once its replies went out.
    private func finish() {
        guard let context, !isClosing else { return }
        isClosing = true
        closeAfterOutput(context: context)
    }

    /// Gives up on a client that does not read: no more replies for it (the task is cancelled,
    /// so a reply stream's producer learns at once), the `tooSlow` line behind its backlog,
    /// and closes the connection when that went out or after the grace period.
    private func cutOff(context: ChannelHandlerContext) {
        logger.notice(
            "client does not read its replies, closing",
            metadata: ["pending_bytes": "\(pendingBytes)", "limit": "\(maxPendingOutputBytes)"])
        isClosing = true
        worker?.cancel()
        lastWrite = context.writeAndFlush(Self.wrapOutboundOut(ReplyLine(handler.reply(to: .tooSlow)).bytes))
        closeAfterOutput(context: context)
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.tooSlowGrace) { channel.close(promise: nil) }
    }

    private func closeAfterOutput(context: ChannelHandlerContext) {
        let channel = context.channel
        guard let lastWrite else { return channel.close(promise: nil) }
        lastWrite.whenComplete { _ in channel.close(promise: nil) }
    }
}
