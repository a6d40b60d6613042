import Testing
import TestSupport

@testable import ZooKeeper

/// Requests the C library refuses at once.
@Suite struct RefusedRequestTests {
    final class WeakCore: @unchecked Sendable {
        weak var core: ClientCore?
    }

    /// A request refused because the session is over (`invalidState`) never reaches a
    /// completion: its context is released at once. Left to a completion that never came, it
    /// kept the client's core (its watches, its timer) for good, once a session had expired.
    @Test func aRequestRefusedAfterTheSessionEndedLeavesNothingBehind() async throws {
        let server = try await TestZooKeeper.shared.value
        let owner = try await server.client()
        let session = try #require(owner.status.session)
        await owner.close()
        let weak = WeakCore()
        do {
            let late = try await server.client(session: session, connected: false)
            weak.core = late.core
            await #expect(throws: ZooKeeperError.self) { try await late.waitUntilConnected() }
            await #expect(throws: ZooKeeperError(code: .invalidState, operation: "getData", path: "/")) {
                try await late.getData("/")
            }
            // A `multi` too (the library has no such check for it: it failed with a marshalling
            // error and kept nothing).
            await #expect(throws: ZooKeeperError(code: .invalidState, operation: "multi", path: "/")) {
                try await late.multi([.check("/", version: -1)])
            }
            await late.close()
        }
        #expect(await eventually { weak.core == nil }, "the closed client's core is still alive")
    }
}
