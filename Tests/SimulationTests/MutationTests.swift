import Coordination
import Testing

/// Each mechanism that safety or liveness rests on, switched off (`Mutations`), must make the
/// simulation fail on some schedule of the usual seeds: so the simulation can see that
/// mechanism fail, and the checks that pass with it on mean something (issue 20, item 7).
@Suite struct MutationTests {
    /// How many of the usual schedules (CI's seeds, in their order) a mutation may take to be
    /// caught; each run stops at its first failure, and prints which schedule it was. Last
    /// measured (session 18, with the allocator program, the rebalance delay and the short full
    /// read in the simulation, and the hold counted from the first write): the acknowledgement
    /// wait 2, backoff 5, the lease 10, a grant change taken over any grant 34, the fence 159,
    /// adoption by prefix 178. `MUTATION_SCHEDULES=N` to look further.
    static let scheduleLimit = Environment.value("MUTATION_SCHEDULES").flatMap(Int.init) ?? 450

    @Test(arguments: Mutations.each) func theSimulationCatchesEveryMechanismSwitchedOff(_ mutation: Mutations) async {
        let seeds = ProtocolSimulationTests.firstSeeds(Self.scheduleLimit)
        switch await ProtocolSimulationTests.outcome(of: seeds, mutations: mutation) {
        case .success(let summary):
            Issue.record("with \(mutation) switched off, every schedule passed: \(summary)")
        case .failure(let failure):
            let seed = failure.description.split(separator: " ").dropFirst().first ?? "?"
            let index = seeds.firstIndex { "\($0)" == seed }.map { $0 + 1 } ?? 0
            print("mutation \(mutation): caught by schedule \(index) of \(seeds.count), \(failure.description.prefix { $0 != "\n" })")
        }
    }
}
