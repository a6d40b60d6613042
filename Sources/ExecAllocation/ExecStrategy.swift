import Allocation
import Foundation

extension Strategy {
    /// The allocation this strategy gives: computed at once for the pure strategies (with the
    /// `weights` and `current` holdings those that use them use), by running the program for
    /// `exec:PATH` (which may take up to `execTimeout`; a program gets neither).
    /// - Throws: `ExecStrategyError` if the program fails.
    public func allocate(
        members: [String], partitions: [Partition], weights: MemberWeights = MemberWeights(),
        current: CurrentHoldings = CurrentHoldings(), execTimeout: Duration
    ) async throws(ExecStrategyError) -> Allocation {
        switch computation {
        case .pure(let strategy):
            return strategy.allocate(members: members, partitions: partitions, weights: weights, current: current)
        case .program(let path):
            return try await ExecStrategy(path: path, timeout: execTimeout).allocate(members: members, partitions: partitions)
        }
    }
}

/// Runs an external allocator program (`exec:PATH`, spec §6) as a `ChildProgram`: the request
/// `{"members": [...], "partitions": [...]}` on its standard input, the mapping
/// `{"MEMBER": {"TOPIC": [ID, ...]}}` expected on its standard output. A program that cannot
/// start, exits non-zero, outlives `timeout`, prints more than `outputLimit` bytes or a mapping
/// that does not assign every partition exactly once is an `ExecStrategyError`.
struct ExecStrategy: Sendable {
    let path: String
    let timeout: Duration
    var outputLimit = 64 << 20

    func allocate(members: [String], partitions: [Partition]) async throws(ExecStrategyError) -> Allocation {
        let request = Array((ExecRequest(members: members, partitions: partitions).json + "\n").utf8)
        guard access(path, X_OK) == 0 else {
            throw .couldNotStart(path: path, reason: String(cString: strerror(errno)))
        }
        var program = ChildProgram(executable: path, timeout: timeout)
        program.outputLimit = outputLimit
        let result: ChildProgram.Result
        do {
            result = try await program.run(input: request)
        } catch {
            switch error {
            case .couldNotStart(let reason): throw .couldNotStart(path: path, reason: reason)
            case .timedOut: throw .timedOut(path: path, after: timeout)
            case .tooMuchOutput(let limit): throw .invalidOutput(path: path, reason: "more than \(limit) bytes of output")
            }
        }
        guard result.succeeded else {
            let message = String(decoding: result.errorOutput.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .failed(path: path, status: result.status, signalled: result.signalled, message: message)
        }
        let mapping: [String: [String: [Int]]]
        do {
            mapping = try JSONDecoder().decode([String: [String: [Int]]].self, from: Data(result.output))
        } catch {
            let excerpt = String(decoding: result.output.prefix(200), as: UTF8.self)
            throw .invalidOutput(path: path, reason: "not a JSON object of member → topic → ids: \(excerpt)")
        }
        do {
            return try Allocation.validated(mapping: mapping, members: members, partitions: partitions)
        } catch {
            throw .invalidMapping(path: path, error: error)
        }
    }
}

/// Why an `exec:` allocator gave no usable allocation.
public enum ExecStrategyError: Error, Sendable, Equatable, CustomStringConvertible {
    case couldNotStart(path: String, reason: String)
    case failed(path: String, status: Int32, signalled: Bool, message: String)
    case timedOut(path: String, after: Duration)
    case invalidOutput(path: String, reason: String)
    case invalidMapping(path: String, error: MappingError)

    public var description: String {
        switch self {
        case .couldNotStart(let path, let reason): "allocator \(path) could not start: \(reason)"
        case .failed(let path, let status, let signalled, let message):
            "allocator \(path) \(signalled ? "was killed by signal" : "exited with status") \(status)"
                + (message.isEmpty ? "" : ": \(message)")
        case .timedOut(let path, let after): "allocator \(path) did not finish within \(after)"
        case .invalidOutput(let path, let reason): "allocator \(path) printed no mapping: \(reason)"
        case .invalidMapping(let path, let error): "allocator \(path): \(error)"
        }
    }
}
