import Allocation
import Testing

@Suite struct StrategyTests {
    @Test(arguments: [
        ("round-robin", Strategy.roundRobin),
        ("range", .range),
        ("consistent", .consistent),
        ("sticky", .sticky),
        ("exec:/usr/local/bin/allocate", .exec(path: "/usr/local/bin/allocate")),
        ("exec:/a b/c:d", .exec(path: "/a b/c:d")),
    ])
    func parsesAndNamesStrategies(name: String, strategy: Strategy) throws {
        #expect(try Strategy(parsing: name) == strategy)
        #expect(strategy.name == name)
        #expect(strategy.description == name)
        #expect((strategy.pure == nil) == name.hasPrefix("exec:"))
        if let pure = strategy.pure { #expect(Strategy(pure) == strategy && pure.description == name) }
    }

    @Test(arguments: [
        ("", "not one of"),
        ("roundrobin", "not one of"),
        ("round_robin", "not one of"),
        ("Range", "not one of"),
        ("consistent ", "not one of"),
        ("naive", "not one of"),
        ("exec", "not one of"),
        ("exec:", "absolute path"),
        ("exec:/", "absolute path"),
        ("exec:bin/allocate", "absolute path"),
        ("exec: /bin/allocate", "absolute path"),
        ("exec:/bin/a\u{0}b", "NUL"),
    ])
    func refusesUnknownStrategies(name: String, reason: String) {
        #expect {
            try Strategy(parsing: name)
        } throws: { error in
            guard let error = error as? StrategyError else { return false }
            return error.input == name && error.reason.contains(reason)
        }
    }

    @Test func defaultsToConsistent() {
        #expect(Strategy.default == .consistent)
    }
}
