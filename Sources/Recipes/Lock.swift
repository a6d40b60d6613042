import Foundation
import ZooKeeper

/// A mutual-exclusion lock compatible with kazoo's `Lock` recipe, which kiel's SharedSet takes,
/// so that allocatord and kiel writers of one partition set exclude each other.
///
/// Contenders are ephemeral sequential children of the lock node named
/// `<32 lowercase hex>__lock__<10-digit sequence>`. The lowest sequence holds the lock; every
/// other contender watches its immediate predecessor (the largest lower sequence), so a release
/// wakes exactly one waiter. Like kazoo, any child whose name ends in `__lock__` and 10 digits
/// is a contender, whatever its prefix, and sequences compare as strings.
///
/// The random prefix exists for one failure: a create that succeeded on the server but whose
/// reply was lost with the connection. The retry first looks for a child with its prefix and
/// adopts it instead of queueing twice (and deadlocking behind itself).
///
/// Guarantees: while `withLock`'s body runs, no other contender of the same session-alive
/// lock holds it. If the session expires, the ephemeral node vanishes and the lock with it:
/// writes made under the lock must still be conditional (the SharedSet's are).
public struct Lock: Sendable {
    public let client: ZooKeeperClient
    /// The lock node, parent of the contenders. It is created if missing (its parent must exist).
    public let path: String

    static let marker = "__lock__"

    public init(client: ZooKeeperClient, path: String) {
        self.client = client
        self.path = path
    }

    /// Acquires the lock, runs `body`, releases the lock (also when `body` throws).
    /// - Throws: `ZooKeeperError` if the session ends while waiting; `CancellationError` if the
    ///   task is cancelled while waiting (the contender node is removed).
    public func withLock<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        let node = try await acquire()
        do {
            let result = try await body()
            await release(node)
            return result
        } catch {
            await release(node)
            throw error
        }
    }

    /// Queues a contender and waits until it is the lowest; returns its name.
    func acquire() async throws -> String {
        let prefix = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() + Self.marker
        let node = try await client.retrying { try await createContender(prefix: prefix) }
        do {
            while true {
                guard let predecessor = try await client.retrying({ try await predecessor(of: node) }) else {
                    return node
                }
                // Watch the predecessor's data, as kazoo does; if it is already gone, look again.
                do {
                    let (_, watch) = try await client.retrying {
                        try await client.getDataWatching(ZNodePath.join(path, predecessor))
                    }
                    let event = try await watch.fired()
                    if event.kind == .sessionEnded {
                        throw ZooKeeperError(code: .sessionExpired, operation: "lock", path: path)
                    }
                } catch let error as ZooKeeperError where error.code == .noNode {
                    continue
                }
            }
        } catch {
            await release(node)
            throw error
        }
    }

    private func createContender(prefix: String) async throws -> String {
        do {
            if let adopted = try await client.children(path).names.first(where: { $0.hasPrefix(prefix) }) {
                return adopted
            }
        } catch let error as ZooKeeperError where error.code == .noNode {
            do {
                try await client.create(path)
            } catch let error as ZooKeeperError where error.code == .nodeExists {}
        }
        let created = try await client.create(ZNodePath.join(path, prefix), mode: .ephemeralSequential)
        return String(created.split(separator: "/").last!)
    }

    /// The contender just ahead of `node`, or `nil` if `node` holds the lock.
    private func predecessor(of node: String) async throws -> String? {
        let names = try await client.children(path).names
        guard names.contains(node), let own = Self.sequence(of: node) else {
            throw ZooKeeperError(code: .noNode, operation: "lock", path: ZNodePath.join(path, node))
        }
        return names
            .compactMap { name in Self.sequence(of: name).map { (name, $0) } }
            .filter { $0.1 < own }
            .max { $0.1 < $1.1 }?.0
    }

    /// The 10-character sequence of a contender's name (`...__lock__0000000042`), or `nil`
    /// if the name is not a contender's. Sequences compare as strings, as in kazoo.
    static func sequence(of name: String) -> Substring? {
        guard let marker = name.range(of: marker, options: .backwards) else { return nil }
        let suffix = name[marker.upperBound...]
        let digits = suffix.hasPrefix("-") ? suffix.dropFirst() : suffix
        guard digits.utf8.count == 10, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return suffix
    }

    private func release(_ node: String) async {
        do {
            try await client.retrying { try await client.delete(ZNodePath.join(path, node)) }
        } catch {
            // Gone already, or the session ended and took the ephemeral node with it.
        }
    }
}
