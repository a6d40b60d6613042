import Foundation
import ZooKeeper

/// A set of strings kept in one znode as a JSON list (spec §5), shared by every member of a
/// group and compatible with kiel's SharedSet: kiel reads what this writes and the other way
/// round.
///
/// Guarantees:
/// - `add` and `remove` are read–modify–write under the kazoo-compatible `Lock` at
///   `<path>/lock` (so kiel writers are excluded), and the write is conditional on the version
///   read, retried on a conflict (so writers that skip the lock cannot make it lose an
///   update either). No concurrent add or remove is lost. One that changes nothing (its
///   items all there, or none of them) takes no lock and writes nothing.
/// - Data that does not parse (not JSON, not a list of strings, an item `validate` refuses) is
///   reported as `Contents.malformed` and never written over, except by `repair`.
/// - A write that would pass `sizeLimit` bytes is refused before it is sent.
/// - A missing or empty znode is the empty set.
public struct SharedSet: Sendable {
    /// What the znode holds, as read.
    public enum Contents: Sendable, Equatable {
        /// A well-formed set.
        case valid(Set<String>)
        /// Data that does not parse, with the reason.
        case malformed(reason: String)
    }

    /// One read of the znode.
    public struct Snapshot: Sendable, Equatable {
        public var contents: Contents
        /// The znode's data version (-1 if it does not exist).
        public var version: Int32
        /// The size of the data in bytes.
        public var size: Int
        /// The zxid of the change that last wrote the data (`Stat.mzxid`; -1 if missing): it
        /// tells two versions of the data apart even across a delete and re-create.
        public var modifiedZxid: Int64 = -1
    }

    public let client: ZooKeeperClient
    /// The set's znode, e.g. `/kiel/groups/G/partitions`. Its parent must exist.
    public let path: String
    /// The largest data this set writes. ZooKeeper refuses requests over about 1 MiB
    /// (`jute.maxbuffer`); the default leaves room for the rest of the request.
    public let sizeLimit: Int
    /// Why an item is not acceptable, or `nil` if it is.
    public let validate: @Sendable (String) -> String?

    public static let defaultSizeLimit = 1_000_000

    public init(
        client: ZooKeeperClient, path: String, sizeLimit: Int = SharedSet.defaultSizeLimit,
        validate: @escaping @Sendable (String) -> String? = { _ in nil }
    ) {
        self.client = client
        self.path = path
        self.sizeLimit = sizeLimit
        self.validate = validate
    }

    /// The lock node, a child of the set's znode as in kiel.
    public var lockPath: String { ZNodePath.join(path, "lock") }

    /// Reads the set.
    public func read() async throws -> Snapshot {
        do {
            let node = try await client.retrying { try await client.getData(path) }
            return snapshot(node)
        } catch let error as ZooKeeperError where error.code == .noNode {
            return Snapshot(contents: .valid([]), version: -1, size: 0)
        }
    }

    /// Reads the set and sets a watch that fires on its next change. The znode is created
    /// (empty) if missing, so that there is something to watch.
    public func readWatching() async throws -> (Snapshot, Watch) {
        while true {
            do {
                let (node, watch) = try await client.retrying { try await client.getDataWatching(path) }
                return (snapshot(node), watch)
            } catch let error as ZooKeeperError where error.code == .noNode {
                try await createIfMissing()
            }
        }
    }

    /// Adds `items`; returns the set as written (or as found, if nothing was missing).
    /// - Throws: `SharedSetError` if the data is malformed, an item is invalid or the result
    ///   would pass the size limit; `ZooKeeperError` if the session ends.
    @discardableResult
    public func add(_ items: Set<String>) async throws -> Set<String> {
        for item in items {
            if let problem = validate(item) { throw SharedSetError.invalidItem(item: item, reason: problem) }
        }
        return try await modify { $0.union(items) }
    }

    /// Removes `items`; returns the set as written (or as found, if none was there).
    @discardableResult
    public func remove(_ items: Set<String>) async throws -> Set<String> {
        try await modify { $0.subtracting(items) }
    }

    /// Replaces malformed data with `items`, conditionally on the version of the malformed
    /// data the caller saw, so a fix made meanwhile by someone else is not overwritten.
    /// - Throws: `SharedSetError.notMalformed` if the data parses (nothing to repair),
    ///   `SharedSetError.changedMeanwhile` if it changed since `version`.
    public func repair(with items: Set<String>, malformedVersion version: Int32) async throws {
        try await Lock(client: client, path: lockPath).withLock {
            let current = try await read()
            guard case .malformed = current.contents else { throw SharedSetError.notMalformed(path: path) }
            guard current.version == version else { throw SharedSetError.changedMeanwhile(path: path) }
            try await write(items, version: version)
        }
    }

    private func modify(_ change: @Sendable @escaping (Set<String>) -> Set<String>) async throws -> Set<String> {
        // Most changes change nothing (every member seeds the set at its start, and the seed
        // is usually in already): one read outside the lock tells, without the lock's
        // create, listing and delete. A change found done is as if made at that read; a read
        // behind a removal made meanwhile leaves the removal standing, as if the change had
        // come first.
        if case .valid(let items) = try await read().contents, change(items) == items { return items }
        try await createIfMissing()
        return try await Lock(client: client, path: lockPath).withLock {
            while true {
                let current = try await read()
                let items: Set<String>
                switch current.contents {
                case .valid(let valid): items = valid
                case .malformed(let reason): throw SharedSetError.malformed(path: path, reason: reason)
                }
                let changed = change(items)
                if changed == items { return items }
                do {
                    try await write(changed, version: current.version)
                    return changed
                } catch let error as ZooKeeperError where error.code == .badVersion {
                    // Someone wrote without the lock, or our own write went through before the
                    // connection dropped: read again and see.
                    continue
                }
            }
        }
    }

    private func write(_ items: Set<String>, version: Int32) async throws {
        let data = Self.encode(items)
        guard data.count <= sizeLimit else {
            throw SharedSetError.tooLarge(path: path, size: data.count, limit: sizeLimit)
        }
        try await client.retrying { try await client.setData(path, data, version: version) }
    }

    private func createIfMissing() async throws {
        do {
            try await client.retrying { try await client.create(path, data: Array("[]".utf8)) }
        } catch let error as ZooKeeperError where error.code == .nodeExists {}
    }

    private func snapshot(_ node: NodeData) -> Snapshot {
        Snapshot(contents: parse(node.data), version: node.stat.version, size: node.data.count, modifiedZxid: node.stat.mzxid)
    }

    /// Parses the znode's data: empty data is the empty set (kiel creates the node empty).
    func parse(_ data: [UInt8]) -> Contents {
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .valid([]) }
        let items: [String]
        do {
            items = try JSONDecoder().decode([String].self, from: Data(data))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            return .malformed(reason: Self.notAListOfStrings(context))
        } catch {
            return .malformed(reason: "not valid JSON")
        }
        for item in items {
            if let problem = validate(item) { return .malformed(reason: "item \"\(item)\": \(problem)") }
        }
        return .valid(Set(items))
    }

    /// What is wrong with JSON that is not a list of strings: the element that is not a string
    /// (`null` included), or the whole value.
    private static func notAListOfStrings(_ context: DecodingError.Context) -> String {
        guard let index = context.codingPath.first?.intValue else {
            return "not a JSON list of strings (\(context.debugDescription))"
        }
        return "not a JSON list of strings: element \(index) is not a string (\(context.debugDescription))"
    }

    /// The bytes written: a JSON list of the items in UTF-8 byte order, `["a","b"]`, which
    /// kiel (Python's `json.loads`) reads as it reads its own.
    static func encode(_ items: Set<String>) -> [UInt8] {
        let sorted = items.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding an array of strings cannot fail.
        return Array((try? encoder.encode(sorted)) ?? Data("[]".utf8))
    }
}

/// Why a `SharedSet` change was refused.
public enum SharedSetError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(path: String, reason: String)
    case invalidItem(item: String, reason: String)
    case tooLarge(path: String, size: Int, limit: Int)
    case notMalformed(path: String)
    case changedMeanwhile(path: String)

    public var description: String {
        switch self {
        case .malformed(let path, let reason):
            "the data of \(path) does not parse (\(reason)); it is left as it is until repaired"
        case .invalidItem(let item, let reason):
            "\"\(item)\" is not valid: \(reason)"
        case .tooLarge(let path, let size, let limit):
            "\(path) would hold \(size) bytes, over the limit of \(limit) (ZooKeeper refuses znodes over about 1 MiB)"
        case .notMalformed(let path):
            "the data of \(path) parses; there is nothing to repair"
        case .changedMeanwhile(let path):
            "the data of \(path) changed since it was read; read it again before repairing"
        }
    }
}
