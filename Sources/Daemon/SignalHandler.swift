import Dispatch
import Glibc

/// SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 as Dispatch events instead of asynchronous signal handlers.
/// (Dispatch sources are safe to use from any thread.)
final class SignalHandler: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(handle: @escaping @Sendable (Int32) -> Void) {
        sources = [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handle(number) }
            source.resume()
            return source
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
    }
}
