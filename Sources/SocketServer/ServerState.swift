import NIOCore

/// What a ``LineServer`` has open, behind its lock.
struct ServerState {
    /// Where the server is in its life.
    enum Phase {
        /// Not listening yet.
        case idle
        /// `bind` or `adopt` is under way.
        case starting
        /// Accepting clients; `file` is the socket file it bound, if it did.
        case listening(any Channel, file: SocketFile?)
        /// Closed for good.
        case closed
    }

    /// What happens to a new connection.
    enum Admission {
        /// It is a client now.
        case admitted
        /// The client limit is reached: it gets the refusal.
        case full
        /// The server is closing: it is closed at once.
        case closed
    }

    var phase = Phase.idle
    /// The connected clients, by channel.
    var clients: [ObjectIdentifier: any Channel] = [:]

    /// Counts a new connection in, if the server is open and has room for it.
    mutating func admit(_ channel: any Channel, limit: Int) -> Admission {
        if case .closed = phase { return .closed }
        guard clients.count < limit else { return .full }
        clients[ObjectIdentifier(channel)] = channel
        return .admitted
    }
}
