import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A server of one request line, one reply line, on a Unix stream socket (spec §9), for any
/// protocol a ``LineHandler`` speaks.
///
/// Each connection is a pipeline: ``LineFrameDecoder`` (lines, with the length limit) →
/// ``RequestDecoder`` (UTF-8 text) → ``ConnectionHandler`` (the handler's task, the output
/// bound, and the replies as ``ReplyLine`` buffers). A client can pipeline requests, half-close its
/// side after sending them, or stream replies; a client that does not read is cut off rather
/// than waited for. See ``LineServerConfiguration`` for the limits.
///
/// Connections run on NIO's shared event loops, the handler's calls on Swift concurrency.
/// `bind` and `adopt` raise the process's soft limit on open files to its hard limit when it
/// is below what `maxClients` needs (systemd's default soft limit is 1024).
public final class LineServer: Sendable {
    private let handler: any LineHandler
    private let configuration: LineServerConfiguration
    private let logger: Logger
    private let state = Mutex(ServerState())
    private let budget: OutputBudget

    /// Makes a server that answers with `handler`; it listens once ``bind(path:)`` or
    /// ``adopt(listeningDescriptor:)`` returns.
    public init(handler: some LineHandler, configuration: LineServerConfiguration = .init(), logger: Logger) {
        self.handler = handler
        self.configuration = configuration
        self.logger = logger
        budget = OutputBudget(limit: configuration.maxQueuedOutputBytes)
    }

    /// Binds a new socket at `path` and listens on it, with the mode of the configuration.
    ///
    /// A socket file left at `path` by a process that is gone is removed first.
    /// - Throws: ``LineServerError`` if something that is not a socket is at `path`, if another
    ///   process is listening there, or if this server is already listening or closed; else
    ///   the error of the bind.
    public func bind(path: String) async throws {
        try start(path)
        let listener: any Channel
        do {
            try SocketFile.clear(path)
            FileDescriptorLimit.raise(toServe: configuration.maxClients + configuration.reservedClients, logger: logger)
            listener = try await bootstrap().bind(unixDomainSocketPath: path).get()
        } catch {
            abandonStart()
            throw error
        }
        let file: SocketFile
        do {
            file = try SocketFile(boundAt: path, mode: configuration.socketMode)
        } catch {
            try? await listener.close()
            abandonStart()
            throw error
        }
        try await listen(on: listener, file: file, target: path)
    }

    /// Listens on a socket that is already bound and listening, such as the one systemd passes
    /// with socket activation (`LISTEN_FDS`: descriptor 3). The server owns the descriptor from
    /// now on and closes it in ``close()``, but leaves the socket file alone. Whether the
    /// descriptor is meant for this process (`LISTEN_PID`, `sd_listen_fds`) is the caller's to
    /// check.
    /// - Throws: ``LineServerError`` if this server is already listening or closed.
    public func adopt(listeningDescriptor: Int32) async throws {
        let target = "descriptor \(listeningDescriptor)"
        try start(target)
        let listener: any Channel
        do {
            FileDescriptorLimit.raise(toServe: configuration.maxClients + configuration.reservedClients, logger: logger)
            listener = try await bootstrap().withBoundSocket(listeningDescriptor).get()
        } catch {
            abandonStart()
            throw error
        }
        try await listen(on: listener, file: nil, target: target)
    }

    /// The number of connected clients (not counting ones refused as over the limit).
    public var clientCount: Int {
        state.withLock { $0.clients.count }
    }

    /// Closes the listener and every connection, and removes the socket file if ``bind(path:)``
    /// made it. The handler's calls and reply streams of those connections are cancelled. A
    /// closed server stays closed.
    public func close() async {
        let (phase, clients) = state.withLock { state in
            defer { (state.phase, state.clients, state.reserved) = (.closed, [:], []) }
            return (state.phase, Array(state.clients.values))
        }
        guard case .listening(let listener, let file) = phase else { return }
        try? await listener.close()
        for client in clients {
            try? await client.close()
        }
        file?.remove()
        logger.debug("closed")
    }

    /// Moves from idle to starting, or throws.
    private func start(_ target: String) throws {
        try state.withLock { state in
            guard case .idle = state.phase else { throw LineServerError(code: .notIdle, target: target) }
            state.phase = .starting
        }
    }

    /// Moves from starting back to idle, after a failed start (unless ``close()`` came first).
    private func abandonStart() {
        state.withLock { state in
            if case .starting = state.phase { state.phase = .idle }
        }
    }

    /// Moves from starting to listening, unless ``close()`` came in between.
    private func listen(on listener: any Channel, file: SocketFile?, target: String) async throws {
        let closedMeanwhile = state.withLock { state in
            guard case .starting = state.phase else { return true }
            state.phase = .listening(listener, file: file)
            return false
        }
        if closedMeanwhile {
            try? await listener.close()
            file?.remove()
            throw LineServerError(code: .notIdle, target: target)
        }
        logger.info("listening", metadata: ["socket": "\(target)"])
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                // Out of descriptors, accepting stops for a moment instead of spinning.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler())
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                // Who connected decides whether a reserved place is theirs.
                PeerCredentials.of(channel).flatMapErrorThrowing { error in
                    self.logger.warning("cannot read the peer's credentials, closing", metadata: ["error": "\(error)"])
                    throw error
                }.flatMapThrowing { try self.setUp(channel, peer: $0) }
            }
    }

    /// Gives a new connection its pipeline, or the refusal.
    private func setUp(_ channel: any Channel, peer: PeerCredentials) throws {
        let limit = configuration.maxClients
        let privileged = configuration.privilegedUsers.contains(peer.uid)
        let admission = state.withLock {
            $0.admit(channel, limit: limit, reservedPlaces: configuration.reservedClients, privileged: privileged)
        }
        switch admission {
        case .admitted:
            channel.closeFuture.whenComplete { [self] _ in
                self.state.withLock { $0.remove(channel) }
            }
            try channel.pipeline.syncOperations.addHandlers(
                ByteToMessageHandler(LineFrameDecoder(limit: configuration.maxLineLength)),
                RequestDecoder(limit: configuration.maxLineLength),
                ConnectionHandler(handler: handler, peer: peer, configuration: configuration, budget: budget, logger: logger))
        case .full:
            logger.warning(
                "too many clients, refusing one", metadata: ["limit": "\(limit)", "peer_uid": "\(peer.uid)"])
            try channel.pipeline.syncOperations.addHandler(
                RefusalHandler(line: handler.reply(to: .tooManyClients(limit: limit))))
        case .closed:
            channel.close(promise: nil)
        }
    }
}
