import Testing
import TestSupport
import ZooKeeper

/// What `close()` does to requests still in flight.
@Suite struct CloseTests {
    /// The C library sometimes drops the `ZCLOSING` completion of a request in flight at
    /// `zookeeper_close`: when its completion thread is busy as the close begins, the thread ends
    /// without running the completions the close queued for it. A request must never wait
    /// forever: each one ends, answered or with `closing`. Closes while replies are coming in
    /// (the completion thread busy), again and again.
    @Test(.timeLimit(.minutes(1))) func closeEndsEveryRequestInFlight() async throws {
        let server = try await TestZooKeeper.shared.value
        let path = uniquePath()
        let setup = try await server.client()
        try await setup.create(path, data: [UInt8](repeating: 7, count: 256 << 10))
        await setup.close()
        let requests = 40
        for round in 0..<100 {
            let zk = try await server.client()
            let ended = Shared(0)
            let (firstEnding, signal) = AsyncStream.makeStream(of: Void.self)
            for _ in 0..<requests {
                Task {
                    _ = try? await zk.getData(path)
                    if ended.update({ $0 += 1 }) == 1 { signal.finish() }
                }
            }
            for await _ in firstEnding {}
            await zk.close()
            let allEnded = await eventually(timeout: .seconds(5)) { ended.value == requests }
            #expect(allEnded, "round \(round): \(requests - ended.value) of \(requests) requests never ended")
            if !allEnded { return }
        }
    }
}
