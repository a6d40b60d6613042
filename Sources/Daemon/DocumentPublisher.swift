import Allocator
import ControlProtocol
import Foundation
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
    /// The supervised consumer, told of each document once it is delivered.
    let consumer: ConsumerSupervisor?
    private let status = Mutex("joining")
    private let readyState = Mutex(false)
    private let writeError = Mutex<String?>(nil)

    init(
        stateFile: StateFile, broadcaster: DocumentBroadcaster, notifier: SystemdNotifier, live: LiveSettings,
        consumer: ConsumerSupervisor? = nil, logger: Logger
    ) {
        self.stateFile = stateFile
        self.consumer = consumer
        self.broadcaster = broadcaster
        self.notifier = notifier
        self.live = live
        self.logger = logger
    }

    /// The `STATUS=` line of the latest document.
    var statusLine: String { status.withLock { $0 } }

    /// Whether `READY=1` went out (the first allocation was published).
    var isReady: Bool { readyState.withLock { $0 } }

    /// Why the state file could not be written the last time it was tried; `nil` once a write
    /// succeeds (`status`'s `last_error`).
    var stateFileError: String? { writeError.withLock { $0 } }

    /// Publishes every document of `member` until they end, telling the member of each one
    /// delivered (`Member.reportsDeliveries()` must have been called before it runs).
    func publish(_ member: Member) async {
        stateFile.removeLeftovers()
        let documents = member.documents
        var previous: MemberDocument?
        /// The lease of the document the file holds, on `CLOCK_BOOTTIME` (never stepped: a wall
        /// clock set forward would end it early, while a reader holds the file to this clock).
        var fileLease: Int64?
        for await document in documents {
            let json = document.json
            broadcaster.publish(json)
            if await write(json, fileLease: fileLease) { fileLease = document.validUntilBoottime }
            await member.delivered()
            await consumer?.delivered(document)
            let line = Self.statusLine(document)
            status.withLock { $0 = line }
            let changed = previous.map(document.differsInSubstance) ?? true
            if !isReady, document.state == .active {
                readyState.withLock { $0 = true }
                notifier.ready(status: line)
            } else if changed {
                notifier.status(line)
            }
            if let hook = live.hook, changed {
                hook.trigger(json)
            }
            previous = document
        }
    }

    /// Writes the file, retrying with back-off while it fails, as long as the document the file
    /// holds claims a share under a lease that has not run out (it would go on claiming it).
    /// Then the document counts as delivered anyway: the file claims nothing any more, and the
    /// member must not hold up the group's handovers (nor its own stop) for a file it cannot
    /// write. Returns whether the file was written.
    private func write(_ json: String, fileLease: Int64?) async -> Bool {
        var delay = Duration.milliseconds(50)
        while true {
            do {
                try stateFile.write(json)
                writeError.withLock { $0 = nil }
                return true
            } catch {
                writeError.withLock { $0 = "\(error)" }
                guard let fileLease, BootClock.now() < fileLease, !Task.isCancelled else {
                    logger.error("cannot write the state file; going on without it: \(error)")
                    return false
                }
                logger.error("cannot write the state file; retrying: \(error)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    static func statusLine(_ document: MemberDocument) -> String {
        let share = document.allocation.values.reduce(0) { $0 + $1.count }
        return "\(document.state.rawValue), generation \(document.generation), \(share) of \(document.partitionCount) partitions, \(document.members.count) members"
    }
}
