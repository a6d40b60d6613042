import Synchronization

/// The memory budget of a ``LineServer``'s replies (spec §13): the bytes of the reply lines its
/// connections have queued and the kernel has not taken yet, each line counted once however
/// many connections it is queued on (a document sent to every `watch` stream is one buffer).
///
/// When a queued line takes the total over the limit, the connections that have gone longest
/// without taking all they were sent are cut off, oldest first, until what is left is within
/// the limit: their lines stop counting at once (the connections write nothing more and close
/// within ``LineServerConfiguration/closingGrace``).
final class OutputBudget: Sendable {
    /// What a connection must do about a line it is about to write.
    enum Admission {
        /// Write it; then run each of `cutOffs` (the slowest connections, possibly this one).
        case write(cutOffs: [@Sendable () -> Void])
        /// This connection was cut off already: write nothing.
        case refused
    }

    private struct Line {
        var bytes: Int
        /// Writes of the line not yet taken by the kernel, on all connections.
        var writes: Int
    }

    private struct Connection {
        /// Since when it has had output the kernel did not take; `nil` when it has none.
        var backlogSince: ContinuousClock.Instant?
        /// Its writes not yet taken, by line.
        var writes: [UInt64: Int] = [:]
        let cutOff: @Sendable () -> Void
    }

    private struct State {
        var lines: [UInt64: Line] = [:]
        var connections: [ObjectIdentifier: Connection] = [:]
        var total = 0
    }

    /// The most bytes queued before the slowest connections are cut off.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes queued now, each line counted once.
    var queuedBytes: Int { state.withLock { $0.total } }

    /// Counts a connection in; `cutOff` is how the budget gives up on it (any thread).
    func join(_ connection: ObjectIdentifier, cutOff: @escaping @Sendable () -> Void) {
        state.withLock { $0.connections[connection] = Connection(cutOff: cutOff) }
    }

    /// Counts `line` as queued on `connection`; says whether to write it and whom to cut off.
    func queue(_ line: ReplyLine, on connection: ObjectIdentifier) -> Admission {
        state.withLock { state in
            guard state.connections[connection] != nil else { return .refused }
            state.connections[connection]!.backlogSince = state.connections[connection]!.backlogSince ?? .now
            state.connections[connection]!.writes[line.id, default: 0] += 1
            state.lines[line.id, default: Line(bytes: line.bytes.readableBytes, writes: 0)].writes += 1
            if state.lines[line.id]!.writes == 1 { state.total += line.bytes.readableBytes }
            var cutOffs: [@Sendable () -> Void] = []
            while state.total > limit, let slowest = Self.slowest(in: state.connections) {
                cutOffs.append(state.connections[slowest]!.cutOff)
                Self.remove(slowest, from: &state)
            }
            return .write(cutOffs: cutOffs)
        }
    }

    /// The kernel took `line` (or it was dropped with its closed connection).
    func sent(_ line: ReplyLine, on connection: ObjectIdentifier) {
        state.withLock { state in
            guard var entry = state.connections[connection], let count = entry.writes[line.id] else { return }
            entry.writes[line.id] = count > 1 ? count - 1 : nil
            if entry.writes.isEmpty { entry.backlogSince = nil }
            state.connections[connection] = entry
            Self.release(line.id, from: &state)
        }
    }

    /// The connection closed: whatever it still had queued stops counting.
    func leave(_ connection: ObjectIdentifier) {
        state.withLock { Self.remove(connection, from: &$0) }
    }

    /// The connection whose backlog is oldest, if any has one.
    private static func slowest(in connections: [ObjectIdentifier: Connection]) -> ObjectIdentifier? {
        connections.compactMap { id, connection in connection.backlogSince.map { (id, $0) } }
            .min { $0.1 < $1.1 }?.0
    }

    private static func remove(_ connection: ObjectIdentifier, from state: inout State) {
        guard let entry = state.connections.removeValue(forKey: connection) else { return }
        for (line, count) in entry.writes {
            for _ in 0..<count { release(line, from: &state) }
        }
    }

    private static func release(_ line: UInt64, from state: inout State) {
        guard var entry = state.lines[line] else { return }
        entry.writes -= 1
        if entry.writes > 0 {
            state.lines[line] = entry
        } else {
            state.lines[line] = nil
            state.total -= entry.bytes
        }
    }
}
