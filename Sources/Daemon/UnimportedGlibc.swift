import Glibc

/// glibc's functions that Swift's Glibc module leaves out (`_GNU_SOURCE`, or variadic).
enum UnimportedGlibc {
    typealias Actions = UnsafeMutablePointer<posix_spawn_file_actions_t>

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34): closes every descriptor from
    /// the one given in the child.
    static let addCloseFrom: (@convention(c) (Actions, Int32) -> Int32)? =
        dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: (@convention(c) (Actions, Int32) -> Int32).self) }

    /// `prctl(option, argument, 0, 0, 0)`: variadic in C, so Swift does not import it.
    static func prctl(_ option: Int32, _ argument: UInt) -> Int32 {
        guard let function = prctlFunction else { return -1 }
        return function(option, argument, 0, 0, 0)
    }

    private static let prctlFunction: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32)? =
        dlsym(nil, "prctl").map { unsafeBitCast($0, to: (@convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32).self) }

    /// `<sys/prctl.h>`: the signal a process gets when the thread that started it ends.
    static let setParentDeathSignal: Int32 = 1
    /// `<sys/prctl.h>`: orphans among a process's descendants become its children.
    static let setChildSubreaper: Int32 = 36
}
