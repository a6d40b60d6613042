import Allocator
import Foundation
import Testing
import TestSupport

extension FaultSuite {
    /// The overlap checker on synthetic observations: it must flag what it exists to flag.
    @Suite struct OverlapCheckerTests {
        let t0 = ContinuousClock.now
        let wall0 = Date.now

        /// A document of `member` made and seen `at` ms after t0, valid for `lease` ms after that.
        func seen(
            _ member: String, at: Int, _ state: MemberState, _ share: [Int] = [], revoking: [Int] = [], lease: Int? = 1000,
            generation: Int64 = 1, members: [String] = ["a", "b"]
        ) -> Observer.Observation {
            let at = t0 + .milliseconds(at)
            let wall = wall0.addingTimeInterval(Double((at - t0).milliseconds) / 1000)
            let held = (!share.isEmpty || !revoking.isEmpty) && (state == .active || state == .suspended)
            let document = MemberDocument(
                group: "g", member: member, state: state, generation: generation, strategy: "consistent",
                allocation: held && !share.isEmpty ? ["t": share] : [:], revoking: held && !revoking.isEmpty ? ["t": revoking] : [:],
                members: members, partitionCount: 4,
                validUntil: held ? lease.map { wall.addingTimeInterval(Double($0) / 1000) } : nil, updatedAt: wall)
            return Observer.Observation(member: member, at: at, wall: wall, document: document)
        }

        func checker(
            _ observations: [Observer.Observation], end: Int = 5000, processStarts: [String: [Int]] = [:]
        ) -> OverlapChecker {
            OverlapChecker(
                observations: observations, end: t0 + .milliseconds(end),
                processStarts: processStarts.mapValues { $0.map { t0 + .milliseconds($0) } })
        }

        @Test func aCleanHandoverPasses() {
            let report = checker([
                seen("a", at: 0, .active, [0, 1, 2, 3]),
                seen("b", at: 0, .joining),
                seen("a", at: 500, .active, [0, 1], generation: 2),
                seen("b", at: 530, .active, [2, 3], generation: 2),  // after a dropped 2, 3
                seen("a", at: 900, .active, [0, 1], generation: 2),
                seen("b", at: 900, .active, [2, 3], generation: 2),
            ]).check(settledAt: t0 + .milliseconds(1000), expected: ["t:0", "t:1", "t:2", "t:3"])
            #expect(report.ok, "\(report)")
        }

        /// The old holder's release document missed by the observer (a watch that fell behind
        /// gets only the latest): its next document seen is of the new holder's generation, so
        /// it released before the grant; but a next document of an older generation than the
        /// grant's is its release, and the overlap stands.
        @Test func aReleaseNotObservedIsNotAnOverlapButAnOlderOneIs() {
            let missed = checker([
                seen("a", at: 0, .active, [0, 1]),
                seen("b", at: 0, .joining),
                seen("b", at: 400, .active, [1], generation: 3),
                seen("a", at: 450, .active, [0], generation: 3),  // its generation-2 release unseen
            ]).check()
            #expect(missed.overlaps.isEmpty, "\(missed)")
            #expect(missed.unobservedReleases == 1)
            let late = checker([
                seen("a", at: 0, .active, [0, 1]),
                seen("b", at: 0, .joining),
                seen("b", at: 400, .active, [1], generation: 3),
                seen("a", at: 450, .active, [0], generation: 2),  // its release, after the grant
            ]).check()
            #expect(late.overlaps.count == 1, "\(late)")
            #expect(late.unobservedReleases == 0)
        }

        /// Documents are placed where their members made them, so documents made in the same
        /// millisecond tie: the share and then `stopped` (seen in either order) end the holding
        /// at once; renewals seen out of order still count the latest lease.
        @Test func documentsMadeInTheSameMillisecondKeepTheirOrder() {
            var stopped = seen("a", at: 100, .stopped)
            let share = seen("a", at: 100, .active, [1], lease: 1000)
            stopped.at = t0 + .milliseconds(400)  // seen later, made together
            let renewal = seen("b", at: 0, .active, [2], lease: 3000)
            let report = checker([
                stopped, share,
                renewal, seen("b", at: 0, .active, [2], lease: 1000),
                seen("c", at: 200, .active, [1], lease: 3000, generation: 2, members: ["b", "c"]),
            ]).check(settledAt: t0 + .milliseconds(2000), expected: ["t:1", "t:2"])
            #expect(report.ok, "\(report)")
        }

        @Test func twoHoldersAtOnceAreAnOverlap() {
            let report = checker([
                seen("a", at: 0, .active, [0, 1]),
                seen("b", at: 100, .active, [1, 2]),
            ]).check()
            #expect(report.overlaps.count == 1)
            #expect(report.overlaps.first?.partition == "t:1")
            #expect(report.overlaps.first?.duration == .milliseconds(900))  // until a's lease ran out
            #expect(!report.ok)
        }

        @Test func aLeaseBrokenBySomeoneWhoseViewNoLongerHasTheHolderIsUnexplained() {
            // b took t:1 from a view without a while a's lease still ran: what the lease forbids.
            let report = checker([
                seen("a", at: 0, .suspended, [1], lease: 500),
                seen("b", at: 400, .active, [1], generation: 2, members: ["b"]),
            ]).check()
            #expect(report.unexplained.map(\.partition) == ["t:1"])
            #expect(report.unexplained.first?.duration == .milliseconds(100))
            #expect(report.unreactiveHandovers.isEmpty)
        }

        @Test func aHandoverFromAMemberThatNeverReactedIsFindingF1() {
            // b rebalanced with a still in the view; a published nothing until its lease ran out.
            let report = checker([
                seen("a", at: 0, .active, [1], lease: 1000),
                seen("b", at: 200, .active, [1], generation: 2),
            ]).check()
            #expect(report.unreactiveHandovers.map(\.duration) == [.milliseconds(800)])
            #expect(report.unexplained.isEmpty)
        }

        /// Protocol 2: the old holder publishes its release before it acknowledges, the leader
        /// grants only after. b publishing the new view while a still publishes t:1 is a
        /// violation however short, judged a handover by the generations (not by who published
        /// first).
        @Test func aHandoverBeforeTheOldHolderPublishedItsReleaseIsAViolation() {
            let report = checker([
                seen("b", at: 0, .active, [1], generation: 3),
                seen("a", at: 10, .active, [1], generation: 1, members: ["a"]),
                seen("a", at: 110, .active, [], generation: 2),
            ]).check()
            #expect(report.unexplained.map(\.duration) == [.milliseconds(100)], "\(report)")
            #expect(report.unexplained.first?.isHandover == true)
            #expect(report.unexplained.first?.older.member == "a")
            #expect(report.unreactiveHandovers.isEmpty)
        }

        /// The only overlap tolerated is the stamps' resolution, 1 ms: the observer places a
        /// document within a millisecond after it was made.
        @Test func anyOverlapLongerThanTheStampsResolutionIsAViolation() {
            let withinResolution = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1], generation: 3),
                seen("a", at: 101, .active, [], generation: 2),
            ]).check()
            #expect(withinResolution.ok, "\(withinResolution)")
            #expect(withinResolution.longestTolerated == OverlapChecker.resolution)
            let beyond = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1], generation: 3),
                seen("a", at: 102, .active, [], generation: 2),
            ]).check()
            #expect(beyond.unexplained.map(\.duration) == [.milliseconds(2)])
            #expect(beyond.longestTolerated == .zero)
        }

        /// Two holders of one generation (I1: no partition is in two grants at once), 40 ms: a
        /// violation (protocol 1's checker tolerated up to 50 ms).
        @Test func twoHoldersOfOneGenerationFor40MillisecondsAreAViolation() {
            let report = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1]),
                seen("a", at: 140, .active, []),
            ]).check()
            #expect(!report.ok)
            #expect(report.unexplained.map(\.duration) == [.milliseconds(40)])
            #expect(report.unexplained.first?.kind == "two holders in one generation")
        }

        /// Spec §15: a reader treats `revoking` partitions as still the member's, under the
        /// same lease, so the checker does.
        @Test func revokingPartitionsAreHeld() {
            // a lists t:1 under revoking until 300 ms; b publishes it at 100 ms.
            let early = checker([
                seen("a", at: 0, .active, [0, 1], generation: 1),
                seen("a", at: 50, .active, [0], revoking: [1], generation: 2),
                seen("b", at: 100, .active, [1], generation: 3),
                seen("a", at: 300, .active, [0], generation: 2),
            ]).check()
            #expect(early.unexplained.map(\.partition) == ["t:1"], "\(early)")
            #expect(early.unexplained.first?.duration == .milliseconds(200))
            #expect(early.unexplained.first?.older.revoking == true)
            // Released (published without it) before b takes it: fine.
            let released = checker([
                seen("a", at: 0, .active, [0, 1], generation: 1),
                seen("a", at: 50, .active, [0], revoking: [1], generation: 2),
                seen("a", at: 90, .active, [0], generation: 2),
                seen("b", at: 100, .active, [1], generation: 3),
            ]).check(settledAt: t0 + .milliseconds(500), expected: ["t:0", "t:1"])
            #expect(released.ok, "\(released)")
            // At the settled instant a partition only under revoking still has its holder.
            let revoking = checker([
                seen("a", at: 0, .active, [0], revoking: [1], lease: 5000),
            ]).check(settledAt: t0 + .milliseconds(1000), expected: ["t:0", "t:1"])
            #expect(revoking.ok, "\(revoking)")
        }

        /// A holding ends exactly at its lease's end (`valid_until`): a new holder from then on
        /// is fine, one earlier by more than the resolution is not.
        @Test func aHoldingEndsAtItsLeasesEnd() {
            func taken(at: Int) -> OverlapChecker.Report {
                checker([
                    seen("a", at: 0, .suspended, [1], lease: 300),
                    seen("b", at: at, .active, [1], generation: 2, members: ["b"]),
                ]).check()
            }
            #expect(taken(at: 300).ok)
            #expect(taken(at: 299).ok)  // within the resolution
            #expect(taken(at: 298).unexplained.map(\.duration) == [.milliseconds(2)])
            #expect(taken(at: 298).unexplained.first?.kind == "lease broken")
        }

        /// A member's daemon killed and started again: the new process's documents do not end
        /// the lease its predecessor published (readers of the old document hold it to that).
        @Test func aNewProcessOfTheMemberDoesNotEndItsPredecessorsLease() {
            let observations = [
                seen("a", at: 0, .active, [1], lease: 1000),  // then kill -9
                seen("a", at: 250, .joining),  // a new process
                seen("b", at: 500, .active, [1], generation: 2, members: ["a", "b"]),
            ]
            let report = checker(observations, processStarts: ["a": [0, 200]]).check()
            #expect(report.overlaps.map(\.duration) == [.milliseconds(500)], "\(report)")
            #expect(report.unreactiveHandovers.count == 1)
            // Had it been the same process, its `joining` would have ended the share at 250 ms.
            #expect(checker(observations).check().ok)
            // Once the old lease is over, b may take it.
            let later = checker([
                seen("a", at: 0, .active, [1], lease: 1000),
                seen("a", at: 250, .joining),
                seen("b", at: 1000, .active, [1], generation: 2, members: ["b"]),
            ], processStarts: ["a": [0, 200]]).check()
            #expect(later.ok, "\(later)")
        }

        @Test func aLeaseThatRanOutEndsTheHoldingEvenWithoutANewDocument() {
            // a is suspended with a lease until 300 ms and never publishes again (killed); b takes
            // over at 400 ms: no overlap. Had a's lease run to 500 ms, there would be one.
            let fine = checker([
                seen("a", at: 0, .suspended, [1], lease: 300),
                seen("b", at: 400, .active, [1]),
            ]).check()
            #expect(fine.ok, "\(fine)")
            let late = checker([
                seen("a", at: 0, .suspended, [1], lease: 500),
                seen("b", at: 400, .active, [1]),
            ]).check()
            #expect(late.overlaps.map(\.partition) == ["t:1"])
        }

        @Test func lostAndJoiningHoldNothing() {
            let report = checker([
                seen("a", at: 0, .active, [1], lease: 200),
                seen("a", at: 100, .lost),
                seen("b", at: 120, .active, [1]),
                seen("a", at: 300, .joining),
            ]).check()
            #expect(report.ok, "\(report)")
        }

        @Test func aPartitionNobodyHoldsAfterSettlingIsFlagged() {
            let report = checker([
                seen("a", at: 0, .active, [0, 1], lease: 5000),
                seen("b", at: 0, .active, [2], lease: 5000),
            ]).check(settledAt: t0 + .milliseconds(1000), expected: ["t:0", "t:1", "t:2", "t:3"])
            #expect(report.unowned == ["t:3"])
            #expect(report.overlaps.isEmpty)
            #expect(!report.ok)
            // A share whose lease ran out holds nothing either.
            let expired = checker([
                seen("a", at: 0, .active, [0, 1], lease: 5000),
                seen("b", at: 0, .active, [2, 3], lease: 500),
            ]).check(settledAt: t0 + .milliseconds(1000), expected: ["t:0", "t:1", "t:2", "t:3"])
            #expect(expired.unowned == ["t:2", "t:3"])
        }

        @Test func aPartitionHeldThatIsNotInTheSetIsFlagged() {
            let report = checker([seen("a", at: 0, .active, [0, 9], lease: 5000)])
                .check(settledAt: t0 + .milliseconds(1000), expected: ["t:0"])
            #expect(report.unexpected == ["t:9"])
            #expect(!report.ok)
        }

        /// A real sighting is placed at its member's stamp (`updated_at` plus its millisecond of
        /// rounding), not when it was seen; never later than seen; its lease at `valid_until`.
        @Test func aSightingIsPlacedAtItsStamp() throws {
            let observer = Observer()
            defer { observer.stop() }
            let milliseconds = Int64((Date.now.timeIntervalSince1970 * 1000).rounded(.down)) - 500
            let stamp = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            let document = MemberDocument(
                group: "g", member: "a", state: .active, generation: 1, strategy: "sticky", allocation: ["t": [1]],
                members: ["a"], partitionCount: 1, validUntil: stamp.addingTimeInterval(2), updatedAt: stamp)
            observer.recordSeen(member: "a", document: document)
            let placed = try #require(observer.observations.first)
            #expect(placed.madeAt == observer.place(stamp: stamp) + OverlapChecker.resolution)
            #expect(placed.leaseEnd == observer.place(stamp: stamp) + .seconds(2))
            #expect(placed.at - placed.madeAt >= .milliseconds(499), "\(placed.at - placed.madeAt)")  // not when seen
            // A stamp ahead of the sighting (a clock set back meanwhile) is placed at the sighting.
            var ahead = document
            ahead.updatedAt = Date.now.addingTimeInterval(5)
            observer.recordSeen(member: "b", document: ahead)
            let clamped = try #require(observer.documents(of: "b").first)
            #expect(clamped.madeAt == clamped.at)
        }

        @Test func theObserverKeepsADocumentSeenTwiceOnce() {
            let observer = Observer()
            defer { observer.stop() }
            let first = seen("a", at: 0, .active, [1])
            var again = first
            again.at = t0 + .milliseconds(20)
            again.source = "watch"
            observer.record(first)
            observer.record(again)
            #expect(observer.observations.count == 1)
            #expect(observer.observations.first?.at == first.at)
        }
    }
}
