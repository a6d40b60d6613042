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
    /// Those of ``clients`` in reserved places.
    var reserved: Set<ObjectIdentifier> = []

    /// Counts a new connection in, if the server is open and has room for it: one of `limit`
    /// places, else, if `privileged`, one of `reservedPlaces` more.
    mutating func admit(_ channel: any Channel, limit: Int, reservedPlaces: Int, privileged: Bool) -> Admission {
        if case .closed = phase { return .closed }
        let id = ObjectIdentifier(channel)
        if clients.count - reserved.count >= limit {
            guard privileged, reserved.count < reservedPlaces else { return .full }
            reserved.insert(id)
        }
        clients[id] = channel
        return .admitted
    }

    /// Counts a closed connection out.
    mutating func remove(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        clients[id] = nil
        reserved.remove(id)
    }
}
