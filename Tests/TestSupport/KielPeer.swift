import Foundation

/// A real kiel 0.9.3 `PartitionAllocator` in a Python process (`Tests/kiel/kiel_peer.py`, run
/// from the virtual environment `scripts/kiel-venv` makes), as a peer in a group.
///
/// It prints one JSON object a line: `{"event": "allocation", "members": [...], "partitions":
/// [...], "allocation": {...}, "mapping": {...}}` on each change of its view, `started`, `ok` or
/// `error` after a command, `stopped`. It takes `add SPEC` and `remove SPEC` on standard input.
/// `Process` and `FileHandle` are used from one task at a time; the lines are behind a lock.
public final class KielPeer: @unchecked Sendable {
    /// One allocation kiel computed.
    public struct View: Sendable, Equatable {
        public var members: [String]
        public var partitions: [String]
        /// Member → topic → ids, ids sorted numerically (kiel keeps them in string order).
        public var mapping: [String: [String: [Int]]]
    }

    public let member: String
    private let process: Process
    private let input: FileHandle
    private let lines = Shared<[Line]>([])

    private struct Line: Decodable, Sendable {
        var event: String
        var members: [String]?
        var partitions: [String]?
        var mapping: [String: [String: [Int]]]?
        var message: String?
    }
    private let reader: Thread

    public init(connectString: String, group: String, member: String, partitions: String = "") throws {
        self.member = member
        let python = try Self.python()
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            repositoryRoot.appendingPathComponent("Tests/kiel/kiel_peer.py").path,
            "--zk", connectString, "--group", group, "--member", member, "--partitions", partitions,
        ]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        input = stdin.fileHandleForWriting
        try process.runSerially()
        let lines = lines
        let output = stdout.fileHandleForReading
        reader = Thread {
            var buffer = Data()
            while case let chunk = output.availableData, !chunk.isEmpty {
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = buffer[buffer.startIndex..<newline]
                    buffer = Data(buffer[buffer.index(after: newline)...])
                    if let decoded = try? JSONDecoder().decode(Line.self, from: line) {
                        lines.update { $0.append(decoded) }
                    }
                }
            }
        }
        reader.start()
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
        try input.write(contentsOf: Data((command + "\n").utf8))
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
        try? input.close()
        let process = process
        _ = await eventually { !process.isRunning }
        if process.isRunning { process.terminate() }
    }

    public struct PeerError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The venv's python, made on first use by `scripts/kiel-venv`.
    static func python() throws -> String {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("scripts/kiel-venv")
        let output = Pipe()
        process.standardOutput = output
        try process.runSerially()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PeerError(message: "scripts/kiel-venv failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
