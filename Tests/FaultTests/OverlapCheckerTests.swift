import Allocator
import Foundation
import Testing
import TestSupport

extension FaultSuite {
    /// The overlap checker on synthetic observations: it must flag what it exists to flag.
    @Suite struct OverlapCheckerTests {
        let t0 = ContinuousClock.now
        let wall0 = Date.now

        /// A document of `member` seen `at` ms after t0, valid for `lease` ms after that.
        func seen(
            _ member: String, at: Int, _ state: MemberState, _ share: [Int] = [], lease: Int? = 1000, generation: Int64 = 1,
            members: [String] = ["a", "b"]
        ) -> Observer.Observation {
            let at = t0 + .milliseconds(at)
            let wall = wall0.addingTimeInterval(Double((at - t0).milliseconds) / 1000)
            let held = !share.isEmpty && (state == .active || state == .suspended)
            let document = MemberDocument(
                group: "g", member: member, state: state, generation: generation, strategy: "consistent",
                allocation: held ? ["t": share] : [:], members: members, partitionCount: 4,
                validUntil: held ? lease.map { wall.addingTimeInterval(Double($0) / 1000) } : nil, updatedAt: wall)
            return Observer.Observation(member: member, at: at, wall: wall, document: document)
        }

        func checker(_ observations: [Observer.Observation], end: Int = 5000) -> OverlapChecker {
            OverlapChecker(observations: observations, end: t0 + .milliseconds(end))
        }

        @Test func aCleanHandoverPasses() {
            let report = checker([
                seen("a", at: 0, .active, [0, 1, 2, 3]),
                seen("b", at: 0, .joining),
                seen("a", at: 500, .active, [0, 1], generation: 2),
                seen("b", at: 530, .active, [2, 3], generation: 2),  // 30 ms after a dropped 2, 3: tolerated
                seen("a", at: 900, .active, [0, 1], generation: 2),
                seen("b", at: 900, .active, [2, 3], generation: 2),
            ]).check(settledAt: t0 + .milliseconds(1000), expected: ["t:0", "t:1", "t:2", "t:3"])
            #expect(report.ok, "\(report)")
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

        @Test func aHandoverIsJudgedByGenerationsNotByWhoPublishedFirst() {
            // b publishes the new view first; a, slow, still publishes the old one after it: a
            // slow handover of 100 ms, tolerated.
            let report = checker([
                seen("b", at: 0, .active, [1], generation: 2),
                seen("a", at: 10, .active, [1], generation: 1, members: ["a"]),
                seen("a", at: 110, .active, [], generation: 2),
            ]).check()
            #expect(report.ok, "\(report)")
        }

        @Test func aSlowHandoverIsToleratedUpToTheHandoverAllowance() {
            let slow = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1], generation: 2),
                seen("a", at: 300, .active, [], generation: 2),
            ]).check()
            #expect(slow.ok, "\(slow)")
            #expect(slow.longestTolerated == .milliseconds(200))
            let tooSlow = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1], generation: 2),
                seen("a", at: 400, .active, [], generation: 2),
            ]).check()
            #expect(tooSlow.unexplained.map(\.duration) == [.milliseconds(300)])
        }

        @Test func anOverlapWithinTheAllowanceIsTolerated() {
            let report = checker([
                seen("a", at: 0, .active, [1]),
                seen("b", at: 100, .active, [1]),
                seen("a", at: 140, .active, [], generation: 2),
            ]).check()
            #expect(report.ok, "\(report)")
            #expect(report.longestTolerated == .milliseconds(40))
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
