import Glibc

/// `posix_spawn` as the daemon and a consumer's guard use it: the child starts with no blocked
/// signal and every signal's default action (a thread of the daemon has SIGTERM, SIGINT and
/// others blocked, and the guard ignores some), and with no descriptor but its standard three
/// (and the one it is handed, as descriptor 3).
enum ProcessSpawn {
    /// Where the child's standard input comes from.
    enum Input {
        case null
        case inherit
    }

    /// Starts `arguments[0]` (looked up in `PATH` when it has no `/`, unless `path` is given)
    /// with `arguments` and `environment`; in a new process group led by itself when
    /// `newGroup`. Returns its pid, or the `errno` of the failure.
    static func start(
        path: String? = nil, arguments: [String], environment: [String: String], input: Input,
        descriptor3: Int32? = nil, newGroup: Bool
    ) -> Result<pid_t, Errno> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var noSignals = sigset_t(), everySignal = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&everySignal)
        for number in Int32(1)...31 where number != SIGKILL && number != SIGSTOP { sigaddset(&everySignal, number) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        if case .null = input { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        if let descriptor3 { posix_spawn_file_actions_adddup2(&actions, descriptor3, 3) }
        if let closeFrom = UnimportedGlibc.addCloseFrom { _ = closeFrom(&actions, descriptor3 == nil ? 3 : 4) }

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let code =
            if let path {
                posix_spawn(&pid, path, &actions, &attributes, argv, envp)
            } else {
                posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
            }
        return code == 0 ? .success(pid) : .failure(Errno(code: code))
    }

    /// An `errno` value as an error.
    struct Errno: Error, CustomStringConvertible {
        var code: Int32
        var description: String { String(cString: strerror(code)) }
    }
}
