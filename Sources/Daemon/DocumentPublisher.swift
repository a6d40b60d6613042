import Allocator
import Logging
import Synchronization
import SystemdNotifier

/// Takes each document the member publishes to the file, the `watch` streams, systemd's
/// `STATUS=` and the hook; sends `READY=1` once the first allocation is out (spec §11).
final class DocumentPublisher: Sendable {
    let stateFile: StateFile
    let broadcaster: DocumentBroadcaster
    let notifier: SystemdNotifier
    let live: LiveSettings
    let logger: Logger
    private let status = Mutex("joining")

    init(stateFile: StateFile, broadcaster: DocumentBroadcaster, notifier: SystemdNotifier, live: LiveSettings, logger: Logger) {
        self.stateFile = stateFile
        self.broadcaster = broadcaster
        self.notifier = notifier
        self.live = live
        self.logger = logger
    }

    /// The `STATUS=` line of the latest document.
    var statusLine: String { status.withLock { $0 } }

    /// Publishes every document of `member` until they end, telling the member of each one
    /// delivered (`GroupMember.reportsDeliveries()` must have been called before it runs).
    func publish(_ member: GroupMember) async {
        stateFile.removeLeftovers()
        let documents = member.documents
        var previous: MemberDocument?
        var ready = false
        for await document in documents {
            let json = document.json
            broadcaster.publish(json)
            await write(json)
            await member.delivered()
            let line = Self.statusLine(document)
            status.withLock { $0 = line }
            if !ready, document.state == .active {
                ready = true
                notifier.ready(status: line)
            } else if previous.map(document.differsInSubstance) ?? true {
                notifier.status(line)
            }
            if let hook = live.hook, previous.map(document.differsInSubstance) ?? true {
                hook.trigger(json)
            }
            previous = document
        }
    }

    /// Writes the file, retrying (with back-off, up to 5 s) while it fails; a newer document
    /// waiting takes over from a retry of an older one on the next call.
    private func write(_ json: String) async {
        var delay = Duration.milliseconds(50)
        while true {
            do {
                try stateFile.write(json)
                return
            } catch {
                logger.error("cannot write the state file; retrying: \(error)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                if Task.isCancelled { return }
            }
        }
    }

    static func statusLine(_ document: MemberDocument) -> String {
        let share = document.allocation.values.reduce(0) { $0 + $1.count }
        return "\(document.state.rawValue), generation \(document.generation), \(share) of \(document.partitionCount) partitions, \(document.members.count) members"
    }
}
