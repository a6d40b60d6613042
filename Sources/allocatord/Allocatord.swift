import Daemon
import Foundation

/// `allocatord`: everything is in the `Daemon` target; this only hands it the process.
@main
enum Allocatord {
    static func main() async {
        let status = await Daemon.main(
            arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        exit(status)
    }
}
