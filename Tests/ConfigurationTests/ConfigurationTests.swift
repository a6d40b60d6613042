import Allocation
import Allocator
import Configuration
import Coordination
import Foundation
import Glibc
import Testing
import TestSupport

/// Flags, environment and file, in rising precedence; every invalid value refused by name
/// (spec §12).
@Suite struct ConfigurationTests {
    private func file(_ text: String) throws -> String {
        let path = temporaryPath("allocatord", suffix: ".yaml")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func defaultsNeedOnlyAGroup() throws {
        let configuration = try DaemonConfiguration.load(arguments: ["--group", "orders"], environment: [:])
        #expect(configuration.member.zooKeeper.connectString.description == "127.0.0.1:2181")
        #expect(configuration.member.zooKeeper.sessionTimeout == .seconds(10))
        #expect(configuration.member.layout.groupPath == "/kiel/groups/orders")
        #expect(configuration.member.member == ProcessInfo.processInfo.hostName)
        #expect(configuration.member.strategy == nil)
        #expect(configuration.member.weight == 1)
        #expect(configuration.member.seedPartitions.isEmpty)
        #expect(configuration.stateFile == "/run/allocatord/orders.json")
        #expect(configuration.socket == "/run/allocatord/orders.sock")
        #expect(configuration.onRebalance == nil)
        #expect(configuration.member.rebalanceDelayMin == .zero)
        #expect(configuration.logLevel == .info)
        #expect(configuration.socketWriters == .owner)
        #expect(configuration.member.zooKeeper.digestCredential == nil)
    }

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() throws {
        let path = try file("""
            zk: file-host:2181
            group: from-file
            member: file-member
            session-timeout: 5000
            strategy: range
            weight: 3
            partitions: t:0-3
            rebalance-delay: "100:900"
            on-rebalance: /usr/bin/true
            """)
        let configuration = try DaemonConfiguration.load(
            arguments: ["--config", path, "--member", "flag-member", "--session-timeout=7000"],
            environment: ["ALLOCATORD_MEMBER": "env-member", "ALLOCATORD_ZK": "env-host:2181/kiel", "ALLOCATORD_LOG_LEVEL": "debug"])
        #expect(configuration.configFile == path)
        #expect(configuration.member.layout.group == "from-file")
        #expect(configuration.member.member == "flag-member")
        #expect(configuration.member.zooKeeper.connectString.description == "env-host:2181/kiel")
        #expect(configuration.member.zooKeeper.sessionTimeout == .milliseconds(7000))
        #expect(configuration.member.strategy == .range)
        #expect(configuration.member.weight == 3)
        #expect(configuration.member.seedPartitions.map(\.description) == ["t:0", "t:1", "t:2", "t:3"])
        #expect(configuration.member.rebalanceDelayMin == .milliseconds(100))
        #expect(configuration.member.rebalanceDelayMax == .milliseconds(900))
        #expect(configuration.onRebalance == "/usr/bin/true")
        #expect(configuration.logLevel == .debug)
    }

    @Test func theConfigFileCanComeFromTheEnvironment() throws {
        let path = try file("group: g\nzk-auth: user:secret\n")
        let configuration = try DaemonConfiguration.load(arguments: [], environment: ["ALLOCATORD_CONFIG": path])
        #expect(configuration.member.zooKeeper.digestCredential == "user:secret")
    }

    /// Spec §16: the password can come from a file or from systemd's credentials, never only
    /// from argv; argv and a file others can read are warned about; errors never show it.
    @Suite struct Credentials {
        private func secretFile(_ text: String, mode: mode_t = 0o600, in folder: String? = nil, name: String = "zk-auth") throws -> String {
            let folder = folder ?? temporaryPath("creds")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, mode)
            return path
        }

        @Test func aFileHoldsTheCredentialWithoutItsLineBreak() throws {
            let path = try secretFile("user:s3cret:with:colons\n")
            let configuration = try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", path], environment: [:])
            #expect(configuration.member.zooKeeper.digestCredential == "user:s3cret:with:colons")
            #expect(configuration.warnings.isEmpty)
        }

        /// LF or CRLF, and blanks around the credential, are not the password's (a CRLF file
        /// lost the password's last character: "\r\n" is one Character in a Swift string).
        @Test func lineEndingsAndSurroundingBlanksAreNotThePassword() throws {
            for text in ["user:pw", "user:pw\n", "user:pw\r\n", "user:pw\r", "  user:pw \t\r\n\n", "\nuser:pw\r\n"] {
                let path = try secretFile(text)
                let configuration = try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", path], environment: [:])
                #expect(configuration.member.zooKeeper.digestCredential == "user:pw", "\(text.debugDescription)")
            }
            // Blanks inside are the password's.
            let inside = try secretFile("user:pass word\r\n")
            #expect(try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", inside], environment: [:])
                .member.zooKeeper.digestCredential == "user:pass word")
            // systemd's credential is read the same way.
            let folder = (try secretFile("svc:crlf\r\n") as NSString).deletingLastPathComponent
            #expect(try DaemonConfiguration.load(arguments: ["--group", "g"], environment: ["CREDENTIALS_DIRECTORY": folder])
                .member.zooKeeper.digestCredential == "svc:crlf")
        }

        /// A credential file is at most 4 KiB, and its size is checked before it is read: a
        /// sparse file of a terabyte is refused at once (read whole, it would never end).
        @Test func aCredentialFileLargerThanAFewKiBIsRefusedBeforeItIsRead() throws {
            let longest = "u:" + String(repeating: "p", count: 4094)
            #expect(try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", try secretFile(longest)], environment: [:])
                .member.zooKeeper.digestCredential == longest)
            let tooLong = try secretFile(longest + "p")
            let huge = try secretFile("user:secret\n")
            let handle = try #require(FileHandle(forWritingAtPath: huge))
            try handle.truncate(atOffset: 1 << 40)
            try handle.close()
            let fifo = (huge as NSString).deletingLastPathComponent + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            for (path, reason) in [(tooLong, "4097 bytes"), (huge, "\(1 << 40) bytes"), (fifo, "not a regular file")] {
                #expect {
                    try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", path], environment: [:])
                } throws: { error in
                    guard let error = error as? ConfigurationError else { return false }
                    return error.field == "zk-auth-file" && "\(error)".contains(reason) && !"\(error)".contains("secret")
                }
            }
        }

        @Test func systemdsCredentialIsTakenWhenNothingElseIsConfigured() throws {
            let path = try secretFile("svc:from-systemd")
            let folder = (path as NSString).deletingLastPathComponent
            let environment = ["CREDENTIALS_DIRECTORY": folder]
            let configuration = try DaemonConfiguration.load(arguments: ["--group", "g"], environment: environment)
            #expect(configuration.member.zooKeeper.digestCredential == "svc:from-systemd")
            // A credential configured explicitly wins.
            let file = try secretFile("other:one")
            let explicit = try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", file], environment: environment)
            #expect(explicit.member.zooKeeper.digestCredential == "other:one")
            // No credentials folder, or none named zk-auth in it: no credential.
            let none = try DaemonConfiguration.load(arguments: ["--group", "g"], environment: ["CREDENTIALS_DIRECTORY": "/nonexistent"])
            #expect(none.member.zooKeeper.digestCredential == nil)
        }

        @Test func aPasswordInArgvOrInAFileOthersCanReadIsWarnedAbout() throws {
            let argv = try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth", "user:pw"], environment: [:])
            #expect(argv.warnings.count == 1 && argv.warnings[0].contains("--zk-auth-file"))
            #expect(!argv.warnings[0].contains("pw"))
            // From the environment (not shown by ps to other users): no warning.
            let environment = try DaemonConfiguration.load(arguments: ["--group", "g"], environment: ["ALLOCATORD_ZK_AUTH": "user:pw"])
            #expect(environment.warnings.isEmpty)
            let readable = try secretFile("user:pw\n", mode: 0o644)
            let file = try DaemonConfiguration.load(arguments: ["--group", "g", "--zk-auth-file", readable], environment: [:])
            #expect(file.warnings.count == 1 && file.warnings[0].contains("mode 644"))
        }

        @Test func badCredentialFilesAreRefusedByNameWithoutThePassword() throws {
            let twoLines = try secretFile("user:secret\nmore\n")
            let noColon = try secretFile("usersecret")
            let empty = try secretFile("")
            let folder = (try secretFile("x:y") as NSString).deletingLastPathComponent
            let cases: [([String], String)] = [
                (["--zk-auth-file", twoLines], "zk-auth-file"),
                (["--zk-auth-file", noColon], "zk-auth-file"),
                (["--zk-auth-file", empty], "zk-auth-file"),
                (["--zk-auth-file", folder], "zk-auth-file"),
                (["--zk-auth-file", "/nonexistent/zk-auth"], "zk-auth-file"),
                (["--zk-auth-file", "relative/zk-auth"], "zk-auth-file"),
                (["--zk-auth-file", noColon, "--zk-auth", "user:secret"], "zk-auth-file"),
            ]
            for (arguments, field) in cases {
                #expect {
                    try DaemonConfiguration.load(arguments: ["--group", "g"] + arguments, environment: [:])
                } throws: { error in
                    guard let error = error as? ConfigurationError else { return false }
                    return error.field == field && !"\(error)".contains("secret")
                }
            }
        }
    }

    @Test func theShippedExampleIsValid() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/allocatord.yaml").path
        let configuration = try DaemonConfiguration.load(arguments: ["--config", example, "--group", "orders"], environment: [:])
        #expect(configuration.maxClients == 4096)
        #expect(configuration.socketIdleTimeout == .seconds(30))
    }

    @Test func aSocketIdleTimeoutOfZeroMeansNever() throws {
        let configuration = try DaemonConfiguration.load(arguments: ["--group", "g", "--socket-idle-timeout", "0"], environment: [:])
        #expect(configuration.socketIdleTimeout == nil)
    }

    @Test(arguments: [
        (["--zk", "nohost"], "zk", "nohost"),
        (["--zk", "h:99999"], "zk", "h:99999"),
        (["--session-timeout", "abc"], "session-timeout", "abc"),
        (["--session-timeout", "10"], "session-timeout", "10"),
        (["--root", "kiel"], "root", "kiel"),
        (["--root", "/kiel/"], "root", "/kiel/"),
        (["--group", "a/b"], "group", "a/b"),
        (["--group", ".."], "group", ".."),
        (["--member", "x/y"], "member", "x/y"),
        (["--strategy", "fastest"], "strategy", "fastest"),
        (["--weight", "0"], "weight", "0"),
        (["--weight", "101"], "weight", "101"),
        (["--weight", "1.5"], "weight", "1.5"),
        (["--strategy", "exec:relative"], "strategy", "exec:relative"),
        (["--partitions", "t:01"], "partitions", "t:01"),
        (["--partitions", "t:5-3"], "partitions", "t:5-3"),
        (["--state-file", "relative.json"], "state-file", "relative.json"),
        (["--socket", "relative.sock"], "socket", "relative.sock"),
        (["--socket", "/tmp/" + String(repeating: "s", count: 103)], "socket", "/tmp/" + String(repeating: "s", count: 103)),
        (["--state-file", "/tmp"], "state-file", "/tmp"),
        (["--on-rebalance", "  "], "on-rebalance", "  "),
        (["--rebalance-delay", "10:5"], "rebalance-delay", "10:5"),
        (["--rebalance-delay", "x"], "rebalance-delay", "x"),
        (["--rebalance-delay", "1:2:3"], "rebalance-delay", "1:2:3"),
        (["--log-level", "loud"], "log-level", "loud"),
        (["--zk-auth", "nopassword"], "zk-auth", "…"),
        (["--socket-writers", "everyone"], "socket-writers", "everyone"),
        (["--max-clients", "0"], "max-clients", "0"),
        (["--socket-idle-timeout", "-5"], "socket-idle-timeout", "-5"),
        (["--exec-timeout", "-1"], "exec-timeout", "-1"),
        (["--full-read-interval", "5"], "full-read-interval", "5"),
        (["--frobnicate", "1"], "arguments", "--frobnicate"),
        (["stray"], "arguments", "stray"),
        (["--member"], "member", ""),
        (["--handover", "kafka"], "handover", "kafka"),
        (["--release-timeout", "0"], "release-timeout", "0"),
        (["--exec-signal", "HUP"], "exec-signal", "HUP"),
        (["--exec-signal", "SIGFOO", "--exec", "--", "c"], "exec-signal", "SIGFOO"),
        (["--exec-stop-timeout", "x", "--exec", "--", "c"], "exec-stop-timeout", "x"),
        (["--exec-restart", "always", "--exec", "--", "c"], "exec-restart", "always"),
        (["--exec", "--"], "exec", ""),
        (["--exec", "  "], "exec", "  "),
    ])
    func everyInvalidFlagIsRefusedByName(arguments: [String], field: String, value: String) throws {
        #expect {
            try DaemonConfiguration.load(arguments: ["--group", "g"] + arguments, environment: [:])
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.field == field && error.value == value && "\(error)".contains(field)
        }
    }

    @Test func theConsumerRunsWithoutAShellFromFlagsAndThroughOneFromTheFile() throws {
        let flags = try DaemonConfiguration.load(
            arguments: ["--group", "g", "--handover", "consumer", "--release-timeout", "2000", "--exec-signal", "SIGUSR1",
                        "--exec-stop-timeout", "700", "--exec-restart", "on-failure", "--exec", "--", "consume", "--flag", "a b"],
            environment: [:])
        #expect(flags.member.handover == .consumer(releaseTimeout: .seconds(2)))
        #expect(flags.consumer == ConsumerProgram(arguments: ["consume", "--flag", "a b"], changeSignal: SIGUSR1, stopTimeout: .milliseconds(700), restart: .onFailure))
        // Everything after `--exec --` is the consumer's, options included.
        let greedy = try DaemonConfiguration.load(arguments: ["--group", "g", "--exec", "--", "c", "--group", "x"], environment: [:])
        #expect(greedy.member.layout.group == "g")
        #expect(greedy.consumer?.arguments == ["c", "--group", "x"])

        let path = try file("group: g\nexec: consume --flag 'a b'\nexec-signal: none\n")
        let fromFile = try DaemonConfiguration.load(arguments: ["--config", path], environment: [:])
        #expect(fromFile.consumer?.arguments == ["/bin/sh", "-c", "consume --flag 'a b'"])
        #expect(fromFile.consumer.map { $0.changeSignal == nil } == true)
        #expect(fromFile.member.handover == .daemon)
        #expect(try DaemonConfiguration.load(arguments: ["--group", "g"], environment: [:]).consumer == nil)
    }

    @Test func aSocketPathOfTheMostBytesIsAccepted() throws {
        let path = "/tmp/" + String(repeating: "s", count: 102)
        #expect(try DaemonConfiguration.load(arguments: ["--group", "g", "--socket", path], environment: [:]).socket == path)
    }

    @Test func aDefaultSocketPathTooLongForItsGroupIsRefused() throws {
        let group = String(repeating: "g", count: 100)
        #expect {
            try DaemonConfiguration.load(arguments: ["--group", group], environment: [:])
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.field == "socket" && error.value == "/run/allocatord/\(group).sock" && "\(error)".contains("(the default)")
        }
    }

    @Test func anInvalidGroupNameIsCalledAGroupName() throws {
        #expect {
            try DaemonConfiguration.load(arguments: ["--group", "a/b"], environment: [:])
        } throws: { error in
            "\(error)" == #"invalid group "a/b": the group name "a/b" contains "/" (from --group)"#
        }
    }

    @Test func aMissingGroupIsRefused() {
        #expect(throws: ConfigurationError.self) { try DaemonConfiguration.load(arguments: [], environment: [:]) }
    }

    @Test func invalidEnvironmentValuesNameTheVariable() {
        #expect {
            try DaemonConfiguration.load(arguments: ["--group", "g"], environment: ["ALLOCATORD_SESSION_TIMEOUT": "soon"])
        } throws: { "\($0)".contains("ALLOCATORD_SESSION_TIMEOUT") && "\($0)".contains("soon") }
    }

    @Test(arguments: [
        ("group: [a, b]\n", "group"),
        ("- a\n- b\n", "config"),
        ("group: g\nunknown-field: 1\n", "unknown-field"),
        ("group: g\nconfig: /etc/other.yaml\n", "config"),
        ("group: 'unterminated\n", "config"),
        ("group: g\nsession-timeout: 1.5\n", "session-timeout"),
        ("group: g\n\tzk: tab\n", "config"),
    ])
    func malformedFilesAreRefusedByField(text: String, field: String) throws {
        let path = try file(text)
        #expect {
            try DaemonConfiguration.load(arguments: ["--config", path], environment: [:])
        } throws: { ($0 as? ConfigurationError)?.field == field }
    }

    @Test func binaryAndMissingFilesAreRefused() throws {
        let path = try file("")
        try Data([0xFF, 0xFE, 0x00, 0x80]).write(to: URL(fileURLWithPath: path))
        #expect { try DaemonConfiguration.load(arguments: ["--config", path], environment: [:]) } throws: { "\($0)".contains("UTF-8") }
        #expect {
            try DaemonConfiguration.load(arguments: ["--config", "/nonexistent.yaml"], environment: [:])
        } throws: { "\($0)".contains("cannot read") }
    }
}
