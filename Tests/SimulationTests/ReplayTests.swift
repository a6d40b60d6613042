import Foundation
import Testing

/// A seed replays the same in any process: nothing the simulation or the machines decide may
/// follow the iteration order of a `Set` or a `Dictionary`, which Swift seeds afresh in every
/// process. The same schedules run here (a random hash seed) and in a child process with
/// `SWIFT_DETERMINISTIC_HASHING` (another one), and their traces' digests must be equal.
@Suite struct ReplayTests {
    static let seeds = Array(ProtocolSimulationTests.seeds.prefix(3))
    /// Set in the child process: it prints its digests instead of comparing.
    static let childVariable = "SIMULATION_PRINT_DIGESTS"

    @Test func aSeedReplaysTheSameInAnotherProcess() async throws {
        guard Environment.value(Self.childVariable) == nil else { return }
        let here = await Self.digests()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["--testing-library", "swift-testing", "--filter", "printsTraceDigests"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            [Self.childVariable: "1", "SWIFT_DETERMINISTIC_HASHING": "1"]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = await SimulationLane.wait {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
        let there = text.split(separator: "\n").compactMap { line -> String? in
            line.hasPrefix("trace digests: ") ? String(line.dropFirst("trace digests: ".count)) : nil
        }
        #expect(there == [here], "this process: \(here); the child's output:\n\(text.suffix(2000))")
    }

    /// Runs only in the child (see `aSeedReplaysTheSameInAnotherProcess`).
    @Test func printsTraceDigests() async {
        guard Environment.value(Self.childVariable) != nil else { return }
        print("trace digests: \(await Self.digests())")
    }

    /// Each schedule's trace digest, in seed order.
    static func digests() async -> String {
        await SimulationLane.run {
            var digests: [String] = []
            for seed in seeds {
                var world = SimulationWorld(seed: seed)
                for name in ["a", "b", "c"] { world.start(name) }
                for _ in 0..<ProtocolSimulationTests.stepsPerSchedule { try? world.step() }
                _ = try? world.settle(within: 30_000)
                digests.append(String(world.traceDigest, radix: 16))
            }
            return digests.joined(separator: " ")
        }
    }
}
