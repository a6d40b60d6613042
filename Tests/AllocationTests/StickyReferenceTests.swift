import Allocation
import Foundation
import Testing
import TestSupport

/// `sticky` and weighted `consistent` against the Python reference printed in
/// docs/strategies.md, taken from the document itself.
@Suite struct StickyReferenceTests {
    @Test func equalsTheDocumentedPythonReference() async throws {
        let document = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/strategies.md"), encoding: .utf8)
        let reference = try #require(pythonBlock(after: "**Reference implementation** of `sticky`", in: document))
        let driver = reference + """

            import json, sys
            for line in sys.stdin:
                r = json.loads(line)
                if r["strategy"] == "sticky":
                    mapping = sticky(r["members"], r["partitions"], r["current"], r["weights"])
                else:
                    mapping = consistent_weighted(r["members"], r["partitions"], r["weights"])
                print(json.dumps(mapping, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
            """
        var inputs = RandomInputs(seed: 13)
        var requests: [String] = []
        var expected: [String] = []
        for round in 0..<300 {
            let members = inputs.members(inputs.int(in: 0...12))
            let partitions = inputs.partitions(inputs.int(in: 0...60), topics: inputs.int(in: 1...3))
            // Weights from 1 to 4, some members left at 1, one now and then beyond the maximum.
            var weights: [(member: String, weight: Int)] = []
            for member in members where inputs.int(in: 0...2) > 0 {
                weights.append((member, inputs.int(in: 0...19) == 0 ? 150 : inputs.int(in: 1...4)))
            }
            // Holders: members of the group, members that left, partitions that are gone.
            let holders = members + inputs.members(2)
            var current: [(partition: Partition, member: String)] = []
            for partition in Set(partitions + inputs.partitions(5, topics: 1)).sorted() where inputs.int(in: 0...3) > 0 {
                current.append((partition, holders[inputs.int(in: 0...holders.count - 1)]))
            }
            let strategy: PureStrategy = round % 3 == 0 ? .consistent : .sticky
            let holdings = CurrentHoldings(current.map { ($0.member, [$0.partition]) })
            let allocation = strategy.allocate(
                members: inputs.shuffled(members), partitions: inputs.shuffled(partitions), weights: MemberWeights(weights),
                current: strategy == .sticky ? holdings : CurrentHoldings())
            expected.append(allocation.json)
            // Written by hand: a Swift dictionary would merge canonically equivalent names, which
            // are two members here and in Python. Python keeps the last of repeated keys, as
            // MemberWeights does.
            let weightsJSON = weights.map { "\(quoted($0.member)):\($0.weight)" }.joined(separator: ",")
            let currentJSON = current.map { "\(quoted($0.partition.description)):\(quoted($0.member))" }.joined(separator: ",")
            requests.append(
                "{\"strategy\":\(quoted(strategy.description)),\"members\":[\(members.map(quoted).joined(separator: ","))],"
                    + "\"partitions\":[\(partitions.map { quoted($0.description) }.joined(separator: ","))],"
                    + "\"weights\":{\(weightsJSON)},\"current\":{\(currentJSON)}}")
        }
        let answers = try await runPython(driver, input: requests.joined(separator: "\n") + "\n")
        #expect(answers.count == expected.count)
        for (index, (answer, json)) in zip(answers, expected).enumerated() {
            #expect(answer == json, "input \(index): \(requests[index])")
        }
    }

    /// `text` as a JSON string: quotes and backslashes escaped, control characters as `\u00XX`.
    private func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
