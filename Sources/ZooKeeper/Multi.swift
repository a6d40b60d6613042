import CZooKeeper
import Glibc

/// One operation of a `multi` transaction (`ZooKeeperClient.multi`).
public enum MultiOperation: Sendable, Equatable {
    case create(String, data: [UInt8], mode: CreateMode = .persistent)
    /// Sets the data only if the node's version is `version` (any with -1).
    case setData(String, data: [UInt8], version: Int32)
    case delete(String, version: Int32)
    /// Fails the transaction unless the node exists at `version` (any with -1).
    case check(String, version: Int32)

    var path: String {
        switch self {
        case .create(let path, _, _), .setData(let path, _, _), .delete(let path, _), .check(let path, _): path
        }
    }
}

/// What one operation of a successful `multi` did.
public enum MultiResult: Sendable, Equatable {
    /// The path created (with its sequence suffix for sequential modes).
    case created(String)
    case setData(Stat)
    case deleted
    case checked
}

/// What the C library reads and writes during a `multi` until its completion: the operations,
/// one result each, the buffers for created paths and the stats of `setData`.
final class MultiBuffers: @unchecked Sendable {
    let operations: [MultiOperation]
    let ops: UnsafeMutablePointer<zoo_op_t>
    let results: UnsafeMutablePointer<zoo_op_result_t>
    private let pathBuffers: [UnsafeMutablePointer<CChar>?]
    private let stats: [UnsafeMutablePointer<CZooKeeper.Stat>?]
    /// The C strings and data the operations point at (copied by `zoo_amulti` when it is
    /// called, freed after).
    private var inputs: [UnsafeMutableRawPointer] = []

    /// Room for a created path: the path, a 10-digit sequence suffix and the terminator.
    private static func pathCapacity(_ path: String) -> Int { path.utf8.count + 16 }

    init(_ operations: [MultiOperation], acl: UnsafePointer<ACL_vector>) {
        self.operations = operations
        ops = .allocate(capacity: max(operations.count, 1))
        results = .allocate(capacity: max(operations.count, 1))
        results.initialize(repeating: zoo_op_result_t(), count: max(operations.count, 1))
        pathBuffers = operations.map {
            if case .create(let path, _, _) = $0 { .allocate(capacity: Self.pathCapacity(path)) } else { nil }
        }
        stats = operations.map { if case .setData = $0 { .allocate(capacity: 1) } else { nil } }
        for (index, operation) in operations.enumerated() {
            let path = copy(operation.path)
            switch operation {
            case .create(let created, let data, let mode):
                zoo_create_op_init(
                    ops + index, path, copy(data), Int32(data.count), acl, mode.flags, pathBuffers[index],
                    Int32(Self.pathCapacity(created)))
            case .setData(_, let data, let version):
                zoo_set_op_init(ops + index, path, copy(data), Int32(data.count), version, stats[index])
            case .delete(_, let version):
                zoo_delete_op_init(ops + index, path, version)
            case .check(_, let version):
                zoo_check_op_init(ops + index, path, version)
            }
        }
    }

    /// Frees the inputs once `zoo_amulti` has serialized them.
    func releaseInputs() {
        inputs.forEach { free($0) }
        inputs = []
    }

    deinit {
        releaseInputs()
        ops.deallocate()
        results.deallocate()
        pathBuffers.forEach { $0?.deallocate() }
        stats.forEach { $0?.deallocate() }
    }

    /// The index of the operation that made the transaction fail: the first whose result is
    /// neither `ZOK` nor `ZRUNTIMEINCONSISTENCY` (what the server reports for the others).
    var failedIndex: Int? {
        (0..<operations.count).first {
            results[$0].err != ZOK.rawValue && results[$0].err != ZRUNTIMEINCONSISTENCY.rawValue
        }
    }

    /// The results of a successful transaction.
    var succeeded: [MultiResult] {
        operations.indices.map { index in
            switch operations[index] {
            case .create: .created(pathBuffers[index].map { String(cString: $0) } ?? operations[index].path)
            case .setData: .setData(Stat(stats[index]!.pointee))
            case .delete: .deleted
            case .check: .checked
            }
        }
    }

    private func copy(_ text: String) -> UnsafePointer<CChar> {
        let pointer = strdup(text)!
        inputs.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    private func copy(_ data: [UInt8]) -> UnsafePointer<CChar> {
        let pointer = malloc(max(data.count, 1))!
        data.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: data.count) }
        inputs.append(pointer)
        return UnsafePointer(pointer.assumingMemoryBound(to: CChar.self))
    }
}
