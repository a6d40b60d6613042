import Allocation
import Foundation
import Testing
import TestSupport

/// `round-robin` against kiel's own `naive_allocator`, run in Python (Tests/kiel/kiel_naive.py
/// in the venv of scripts/kiel-venv), on a few thousand random inputs through one process.
@Suite struct KielRoundRobinTests {
    @Test func equalsKielsNaiveAllocator() async throws {
        let python = try await KielPeer.python.value
        // 3000 exchanges, each waiting for Python's answer: on a thread of their own, not on the
        // Swift concurrency pool (two threads on a 2-core machine), which the other tests need
        // meanwhile.
        let mismatches = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[String], any Error>) in
            Thread { continuation.resume(with: Result { try Self.mismatches(python: python) }) }.start()
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of 3000 differ:\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }

    /// The requests whose answer by kiel differs from ours, each with both answers.
    private static func mismatches(python: String) throws -> [String] {
        let kiel = try KielNaiveAllocator(python: python)
        defer { kiel.close() }
        var inputs = RandomInputs(seed: 8)
        var mismatches: [String] = []
        for round in 0..<3000 {
            let members = inputs.members(inputs.int(in: 0...(round % 3 == 0 ? 40 : 8)))
            let partitions = inputs.partitions(inputs.int(in: 0...(round % 3 == 0 ? 200 : 30)), topics: inputs.int(in: 1...4), maximumID: 120)
            let request = "{\"members\":" + jsonArray(inputs.shuffled(members)) + ",\"partitions\":"
                + jsonArray(inputs.shuffled(partitions.map(\.description))) + "}"
            let answer = try kiel.allocate(request)
            let ours = kielShape(PureStrategy.roundRobin.allocate(members: members, partitions: partitions))
            if answer != ours { mismatches.append("request \(request): kiel \(answer), ours \(ours)") }
        }
        return mismatches
    }

    /// The allocation as kiel prints it: members that hold nothing left out, each member's ids
    /// in the order of the partition strings, keys sorted by code point, no ASCII escaping.
    private static func kielShape(_ allocation: Allocation) -> String {
        var members: [String] = []
        for member in allocation.members {
            let held = allocation.partitions(of: member)
            if held.isEmpty { continue }
            let topics = Set(held.map(\.topic)).sorted { utf8Precedes($0, $1) }
            let entries = topics.map { topic in
                jsonString(topic) + ":[" + held.filter { $0.topic == topic }.map { String($0.id) }.joined(separator: ",") + "]"
            }
            members.append(jsonString(member) + ":{" + entries.joined(separator: ",") + "}")
        }
        return "{" + members.joined(separator: ",") + "}"
    }
}

/// Python's `json.dumps(text, ensure_ascii=False)` for printable text.
private func jsonString(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

private func jsonArray(_ texts: [String]) -> String {
    "[" + texts.map(jsonString).joined(separator: ",") + "]"
}

/// kiel_naive.py running in the kiel venv: one JSON request per line in, one answer per line out.
private final class KielNaiveAllocator {
    private let process: ChildProcess
    private let output: FileHandle
    private var buffered = Data()

    /// Starts kiel_naive.py with `python`, the kiel venv's (`KielPeer.python`).
    init(python: String) throws {
        process = try ChildProcess(
            python, [repositoryRoot.appendingPathComponent("Tests/kiel/kiel_naive.py").path], input: .pipe, output: .pipe)
        output = process.outputHandle!
    }

    /// kiel's answer to one request line.
    func allocate(_ request: String) throws -> String {
        guard process.write(Array((request + "\n").utf8)) else {
            throw KielError(message: "kiel_naive.py no longer reads (\(request))")
        }
        while true {
            if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffered[buffered.startIndex..<newline]
                buffered = Data(buffered[buffered.index(after: newline)...])
                return String(decoding: line, as: UTF8.self)
            }
            let chunk = output.availableData
            if chunk.isEmpty { throw KielError(message: "kiel_naive.py ended without answering \(request)") }
            buffered.append(chunk)
        }
    }

    func close() {
        process.closeInput()
        process.waitUntilExit()
    }
}

private struct KielError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
