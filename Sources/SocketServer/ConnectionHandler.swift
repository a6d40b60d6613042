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
/// - output: a reply stream's next line is taken once the kernel took the one before; before
///   each reply line, more than `maxPendingOutputBytes` still unsent is the client's fault: it
///   gets the `tooSlow` reply behind what it has not read, and is closed when that went out or
///   after the grace period, whichever comes first. The same happens when the server's
///   ``OutputBudget`` gives up on the connection;
/// - time: a connection with no request under way and no stream for the idle timeout gets the
///   `idle` reply and is closed.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Request
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests read but not yet taken by the task, beyond which the server stops reading.
    static let maxQueuedRequests = 16

    private let handler: any LineHandler
    private let peer: PeerCredentials
    private let configuration: LineServerConfiguration
    private let budget: OutputBudget
    /// The server's logger, with the peer's pid and uid.
    private let logger: Logger
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
    /// When the connection last had a request or its last reply written.
    private var lastActive = NIODeadline.now()
    /// No more requests are read or replies written; the connection closes when its output
    /// went out.
    private var isClosing = false

    init(
        handler: any LineHandler, peer: PeerCredentials, configuration: LineServerConfiguration, budget: OutputBudget,
        logger: Logger
    ) {
        self.handler = handler
        self.peer = peer
        self.configuration = configuration
        self.budget = budget
        var logger = logger
        logger[metadataKey: "peer_pid"] = "\(peer.pid)"
        logger[metadataKey: "peer_uid"] = "\(peer.uid)"
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
        lastActive = .now()
        let request = Self.unwrapInboundIn(data)
        // Answered here on the loop if it can be at once, nothing is before it, and the
        // client reads what it gets (else through the task, whose queue holds back reading).
        if unanswered == 0, pendingBytes <= configuration.maxPendingOutputBytes / 2, case .line(let line) = request,
           let reply = handler.immediateReply(to: line) {
            _ = write(reply)
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
        budget.leave(ObjectIdentifier(self))
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

    /// Starts the task and the idle timer, and counts the connection in the budget, once.
    private func start(context: ChannelHandlerContext) {
        guard !isStarted, !isClosing else { return }
        isStarted = true
        let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        budget.join(ObjectIdentifier(self)) {
            eventLoop.execute { connection.value.cutOff(reason: "the server's reply memory is over its budget") }
        }
        if let idleTimeout = configuration.idleTimeout { scheduleIdleCheck(in: TimeAmount(idleTimeout), context: context) }
        worker = Task { [requests, handler, peer] in
            await ConnectionHandler.serve(requests, handler: handler, peer: peer, connection: connection, eventLoop: eventLoop)
        }
    }

    /// The connection's task: each request in turn to the handler, each reply to the client.
    private static func serve(
        _ requests: AsyncStream<Request>, handler: any LineHandler, peer: PeerCredentials,
        connection: NIOLoopBound<ConnectionHandler>, eventLoop: any EventLoop
    ) async {
        /// Queues the reply line of a request. Hops are in order, so replies are too.
        func post(_ line: ReplyLine) {
            eventLoop.execute {
                _ = connection.value.write(line)
                connection.value.unanswered -= 1
                connection.value.lastActive = .now()
            }
        }
        /// Writes a line of a stream and waits until the kernel took it: the stream's next line
        /// is taken only then. False once the connection is closing.
        func send(_ line: ReplyLine) async -> Bool {
            let written = eventLoop.flatSubmit {
                connection.value.write(line) ?? eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
            }
            return (try? await written.get()) != nil
        }
        serving: for await request in requests {
            eventLoop.execute { connection.value.requestTaken() }
            switch request {
            case .error(let error):
                post(ReplyLine(handler.reply(to: error)))
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

    /// Queues one reply line, unless the client has left too much unread; returns the write,
    /// which completes when the kernel took the line.
    private func write(_ line: ReplyLine) -> EventLoopFuture<Void>? {
        guard let context, !isClosing else { return nil }
        if pendingBytes > configuration.maxPendingOutputBytes {
            cutOff(reason: "the client does not read its replies")
            return nil
        }
        let connection = ObjectIdentifier(self)
        guard case .write(let cutOffs) = budget.queue(line, on: connection) else { return nil }
        let size = line.bytes.readableBytes
        pendingBytes += size
        let written = context.writeAndFlush(Self.wrapOutboundOut(line.bytes))
        let budget = budget
        written.assumeIsolated().whenComplete { _ in
            self.pendingBytes -= size
            budget.sent(line, on: connection)
        }
        lastWrite = written
        cutOffs.forEach { $0() }
        return written
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

    /// Gives up on a client that does not keep up: the `tooSlow` line behind its backlog.
    private func cutOff(reason: String) {
        guard let context, !isClosing else { return }
        logger.notice(
            "client is too slow, closing: \(reason)",
            metadata: ["pending_bytes": "\(pendingBytes)", "limit": "\(configuration.maxPendingOutputBytes)"])
        stop(sending: handler.reply(to: .tooSlow), context: context)
    }

    /// No more requests nor replies (the task is cancelled, so a reply stream's producer learns
    /// at once), `line` behind what the client has not read, and closes the connection when
    /// that went out or after the grace period.
    private func stop(sending line: String, context: ChannelHandlerContext) {
        isClosing = true
        budget.leave(ObjectIdentifier(self))
        worker?.cancel()
        lastWrite = context.writeAndFlush(Self.wrapOutboundOut(ReplyLine(line).bytes))
        closeAfterOutput(context: context)
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.closingGrace)) {
            channel.close(promise: nil)
        }
    }

    /// Closes the connection if it had no request under way and no stream for the idle
    /// timeout; else looks again when it could have been idle that long.
    private func scheduleIdleCheck(in delay: TimeAmount, context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            guard let context = self.context, !self.isClosing, let timeout = self.configuration.idleTimeout else { return }
            // Busy (a request under way, or a stream): not idle for at least the timeout.
            guard self.unanswered == 0 else { return self.scheduleIdleCheck(in: TimeAmount(timeout), context: context) }
            let idleUntil = self.lastActive + TimeAmount(timeout)
            guard idleUntil <= .now() else { return self.scheduleIdleCheck(in: idleUntil - .now(), context: context) }
            self.logger.info("idle client, closing", metadata: ["idle_timeout": "\(timeout)"])
            self.stop(sending: self.handler.reply(to: .idle(timeout: timeout)), context: context)
        }
    }

    private func closeAfterOutput(context: ChannelHandlerContext) {
        let channel = context.channel
        guard let lastWrite else { return channel.close(promise: nil) }
        lastWrite.whenComplete { _ in channel.close(promise: nil) }
    }
}
