import Testing
import ZooKeeper

@Suite struct ConnectStringTests {
    @Test func parsesHostsAndChroot() throws {
        let parsed = try ConnectString(parsing: "127.0.0.1:2181,zk2.example:2182/kiel/prod")
        #expect(parsed.servers == [.init(host: "127.0.0.1", port: 2181), .init(host: "zk2.example", port: 2182)])
        #expect(parsed.chroot == "/kiel/prod")
        #expect(parsed.description == "127.0.0.1:2181,zk2.example:2182/kiel/prod")
        #expect(parsed.withoutChroot.description == "127.0.0.1:2181,zk2.example:2182")
        #expect(try ConnectString(parsing: "[::1]:2181/").chroot == nil)
    }

    @Test(arguments: [
        ("", "no port"),
        ("localhost", "no port"),
        ("localhost:", "no valid port"),
        ("localhost:0", "no valid port"),
        ("localhost:70000", "no valid port"),
        ("localhost:21a", "no valid port"),
        (":2181", "no valid host"),
        ("a:1,,b:2", "no port"),
        ("a b:2181", "no valid host"),
        ("a:2181/kiel/", "ends with /"),
        ("a:2181/kiel//x", "empty component"),
        ("a:2181/kiel/../x", "relative component"),
    ])
    func refusesMalformedInput(input: String, reason: String) {
        #expect {
            try ConnectString(parsing: input)
        } throws: { error in
            let description = String(describing: error)
            return description.contains(reason) && description.contains("\"\(input)\"")
        }
    }
}
