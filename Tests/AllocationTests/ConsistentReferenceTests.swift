import Allocation
import Foundation
import Testing
import TestSupport

/// `consistent` against the Python reference implementation printed in docs/strategies.md,
/// taken from the document itself, so that the document and the code cannot drift apart.
@Suite struct ConsistentReferenceTests {
    @Test func equalsTheDocumentedPythonReference() async throws {
        let document = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/strategies.md"), encoding: .utf8)
        let reference = try #require(pythonBlock(after: "**Reference implementation**", in: document))
        let driver = reference + """

            import json, sys
            for line in sys.stdin:
                request = json.loads(line)
                mapping = consistent(request["members"], request["partitions"])
                print(json.dumps(mapping, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
            """
        var inputs = RandomInputs(seed: 9)
        var requests: [String] = []
        var expected: [String] = []
        for _ in 0..<150 {
            let members = inputs.members(inputs.int(in: 0...14))
            let partitions = inputs.partitions(inputs.int(in: 0...60), topics: inputs.int(in: 1...3))
            requests.append(ExecRequest(members: inputs.shuffled(members), partitions: inputs.shuffled(partitions)).json)
            expected.append(PureStrategy.consistent.allocate(members: members, partitions: partitions).json)
        }
        let answers = try await runPython(driver, input: requests.joined(separator: "\n") + "\n")
        #expect(answers.count == expected.count)
        for (answer, json) in zip(answers, expected) { #expect(answer == json) }
    }
}

/// The text of the first ```python block after `marker`.
func pythonBlock(after marker: String, in document: String) -> String? {
    guard let markerRange = document.range(of: marker),
          let start = document.range(of: "```python\n", range: markerRange.upperBound..<document.endIndex),
          let end = document.range(of: "```", range: start.upperBound..<document.endIndex)
    else { return nil }
    return String(document[start.upperBound..<end.lowerBound])
}

/// Runs `program` with python3, `input` on its standard input, and returns its output lines.
///
/// It waits on a thread of its own (`runProcess`): the reference takes over a minute on a busy
/// machine, and a test waiting for it on the Swift concurrency pool holds one of a 2-core
/// machine's two threads all that time.
func runPython(_ program: String, input: String) async throws -> [String] {
    let result = try await runProcess("/usr/bin/env", ["python3", "-c", program], bytes: Array(input.utf8))
    #expect(result.status == 0, "\(result.errors)")
    return result.output.split(separator: "\n").map(String.init)
}
