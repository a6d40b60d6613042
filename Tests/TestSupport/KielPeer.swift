import Foundation

/// A real kiel 0.9.3 `PartitionAllocator` in a Python process (`Tests/kiel/kiel_peer.py`, run
/// from the virtual environment `scripts/kiel-venv` makes), as a peer in a group.
///
/// It prints one JSON object a line: `{"event": "allocation", "members": [...], "partitions":
/// [...], "allocation": {...}, "mapping": {...}}` on each change of its view, `started`, `ok` or
/// `error` after a command, `stopped`. It takes `add SPEC` and `remove SPEC` on standard input.
public final class KielPeer: Sendable {
    /// One allocation kiel computed.
    public struct View: Sendable, Equatable {
        public var members: [String]
        public var partitions: [String]
        /// Member → topic → ids, ids sorted numerically (kiel keeps them in string order).
        public var mapping: [String: [String: [Int]]]
    }

    public let member: String
    private let process: ChildProcess
    private let lines = Shared<[Line]>([])

    private struct Line: Decodable, Sendable {
        var event: String
        var members: [String]?
        var partitions: [String]?
        var mapping: [String: [String: [Int]]]?
        var message: String?
    }

    public init(connectString: String, group: String, member: String, partitions: String = "") async throws {
        self.member = member
        let python = try await Self.python.value
        let lines = lines
        process = try ChildProcess(
            python,
            [
                repositoryRoot.appendingPathComponent("Tests/kiel/kiel_peer.py").path,
                "--zk", connectString, "--group", group, "--member", member, "--partitions", partitions,
            ],
            input: .pipe,
            output: .lines { line in
                if let decoded = try? JSONDecoder().decode(Line.self, from: line) { lines.update { $0.append(decoded) } }
            })
    }

    /// The latest allocation kiel printed.
    public var latest: View? {
        guard let line = lines.value.last(where: { $0.event == "allocation" }) else { return nil }
        return View(
            members: line.members ?? [], partitions: line.partitions ?? [],
            mapping: (line.mapping ?? [:]).mapValues { $0.mapValues { $0.sorted() } })
    }

    /// The `error` events so far.
    public var errors: [String] {
        lines.value.filter { $0.event == "error" }.map { $0.message ?? "" }
    }

    /// Sends a command (`add SPEC`, `remove SPEC`) and waits for its `ok` or `error`.
    public func send(_ command: String) async throws {
        let before = lines.value.count
        guard process.write(Array((command + "\n").utf8)) else {
            throw PeerError(message: "kiel no longer reads its commands: \(errors)")
        }
        let lines = lines
        let answered = await eventually {
            lines.value.dropFirst(before).contains { $0.event == "ok" || $0.event == "error" }
        }
        guard answered, !lines.value.dropFirst(before).contains(where: { $0.event == "error" }) else {
            throw PeerError(message: "kiel did not carry out \(command): \(errors)")
        }
    }

    /// Ends stdin: kiel leaves the group and exits.
    public func stop() async {
        process.closeInput()
        if await process.exited() == nil { process.signal(SIGTERM) }
    }

    public struct PeerError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The venv's python, made on first use by `scripts/kiel-venv`, once per test process.
    ///
    /// The script runs on a thread of its own (`runProcess`), never on the Swift concurrency
    /// pool: making the venv (in a fresh clone) takes seconds on an idle machine and over a minute
    /// on a busy one, and the tests that waited for it there held both threads of a 2-core
    /// machine's pool all that time, so that every other test's waits ran out (issue 22).
    public static let python = Task<String, any Error> {
        let result = try await runProcess(repositoryRoot.appendingPathComponent("scripts/kiel-venv").path, [], bytes: [])
        guard result.status == 0 else { throw PeerError(message: "scripts/kiel-venv failed: \(result.errors)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
