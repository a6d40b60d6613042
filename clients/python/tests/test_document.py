"""Parsing the document (spec section 8) and its lease on the two clocks."""

from __future__ import annotations

import json
import unittest

from support import FakeClock, document, partitions

import allocatord
from allocatord import Document, Share, ShareTracker


def parse(value: dict) -> Document:
    return Document.parse(json.dumps(value).encode())


class DocumentTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = FakeClock()

    def test_a_full_document(self) -> None:
        parsed = parse(document(self.clock, {"orders": [0, 3]}, revoking={"orders": [6]}, generation=17))
        self.assertEqual(parsed.allocation, partitions("orders", 0, 3))
        self.assertEqual(parsed.revoking, partitions("orders", 6))
        self.assertEqual(parsed.share, partitions("orders", 0, 3, 6))
        self.assertEqual(parsed.generation, 17)
        self.assertEqual(parsed.members, ("a",))
        self.assertEqual(parsed.valid_until_boottime_ns, self.clock.boottime_ns() + 10_000_000_000)
        self.assertAlmostEqual(parsed.lease_remaining(self.clock.wall(), self.clock.boottime_ns()), 10.0, delta=0.002)

    def test_a_daemon_without_consumer_handover(self) -> None:
        """No `revoking`, no `valid_until_boottime_ns`: empty and null, the wall clock alone."""
        parsed = parse(document(self.clock, {"orders": [1]}, new_keys=False))
        self.assertEqual(parsed.revoking, frozenset())
        self.assertIsNone(parsed.valid_until_boottime_ns)
        self.assertGreater(parsed.lease_remaining(self.clock.wall(), self.clock.boottime_ns()), 9.9)

    def test_malformed_documents(self) -> None:
        good = document(self.clock, {"orders": [1]})
        cases = {
            "missing allocation": {k: v for k, v in good.items() if k != "allocation"},
            "ids not integers": dict(good, allocation={"orders": ["1"]}),
            "negative id": dict(good, allocation={"orders": [-1]}),
            "bool generation": dict(good, generation=True),
            "bad valid_until": dict(good, valid_until="yesterday"),
            "float boottime": dict(good, valid_until_boottime_ns=1.5),
            "revoking a list": dict(good, revoking=[1]),
            "members not strings": dict(good, members=[1]),
        }
        for name, value in cases.items():
            with self.subTest(name), self.assertRaises(allocatord.ProtocolError):
                parse(value)
        for line in (b"not json", b"[1,2]", b"\xff\xfe"):
            with self.subTest(line), self.assertRaises(allocatord.ProtocolError) as raised:
                Document.parse(line)
            self.assertEqual(raised.exception.line, line)

    def test_an_error_line_is_a_daemon_error(self) -> None:
        with self.assertRaises(allocatord.DaemonError) as raised:
            Document.parse(b'{"error":{"code":"too_slow","message":"read your replies"}}')
        self.assertEqual((raised.exception.code, raised.exception.message), ("too_slow", "read your replies"))


class LeaseTests(unittest.TestCase):
    """The share of one document as the clocks move (ShareTracker: no I/O)."""

    def setUp(self) -> None:
        self.clock = FakeClock()
        self.tracker = ShareTracker(self.clock)

    def observe(self, value: dict) -> Share:
        share = self.tracker.observe(parse(value))
        assert share is not None
        return share

    def test_the_share_is_allocation_and_revoking_while_the_lease_runs(self) -> None:
        share = self.observe(document(self.clock, {"orders": [0]}, revoking={"orders": [1]}))
        self.assertEqual(share.partitions, partitions("orders", 0, 1))
        self.assertEqual(share.assigned, partitions("orders", 0))
        self.assertFalse(share.expired)
        self.clock.advance(9.9)
        self.assertIsNone(self.tracker.tick(), "still within the lease: no change")
        self.assertAlmostEqual(self.tracker.seconds_left() or 0.0, 0.1, delta=0.002)

    def test_the_share_empties_when_the_lease_ends(self) -> None:
        self.observe(document(self.clock, {"orders": [0, 1]}))
        self.clock.advance(10.0)
        share = self.tracker.tick()
        assert share is not None
        self.assertEqual(share.partitions, frozenset())
        self.assertTrue(share.expired)
        self.assertIsNone(self.tracker.seconds_left(), "nothing left to time")

    def test_a_wall_clock_stepped_back_does_not_stretch_the_lease(self) -> None:
        self.observe(document(self.clock, {"orders": [0, 1]}))
        self.clock.step_wall(-3600)  # an operator sets the clock back an hour
        self.clock.advance(9.0)
        self.assertIsNone(self.tracker.tick())
        self.assertAlmostEqual(self.tracker.seconds_left() or 0.0, 1.0, delta=0.002, msg="boottime decides")
        self.clock.advance(1.0)
        share = self.tracker.tick()
        assert share is not None
        self.assertEqual(share.partitions, frozenset(), "the wall clock says 3590 s are left; boottime says none")

    def test_a_wall_clock_stepped_forward_ends_the_lease_early(self) -> None:
        self.observe(document(self.clock, {"orders": [0]}))
        self.clock.step_wall(60)
        share = self.tracker.tick()
        assert share is not None
        self.assertTrue(share.expired, "the earlier deadline wins")

    def test_without_boottime_the_wall_clock_decides(self) -> None:
        for options, name in (({"boottime": False}, "null"), ({"new_keys": False}, "missing")):
            with self.subTest(name):
                clock = FakeClock()
                tracker = ShareTracker(clock)
                tracker.observe(parse(document(clock, {"orders": [0]}, **options)))
                clock.step_wall(-3600)
                clock.advance(20)
                self.assertIsNone(tracker.tick(), "held to the wall clock alone, which was set back")
                clock.step_wall(3600)
                share = tracker.tick()
                assert share is not None
                self.assertTrue(share.expired)

    def test_without_a_boottime_clock_the_wall_clock_decides(self) -> None:
        clock = FakeClock(boottime_ns=None)
        tracker = ShareTracker(clock)
        tracker.observe(parse(document(self.clock, {"orders": [0]})))
        self.assertIsNone(tracker.tick())

    def test_a_share_without_valid_until_is_empty(self) -> None:
        share = self.observe(dict(document(self.clock, {"orders": [0]}), valid_until=None, valid_until_boottime_ns=None))
        self.assertEqual(share.partitions, frozenset())

    def test_a_renewal_is_no_change_and_a_new_lease_revives_the_share(self) -> None:
        self.observe(document(self.clock, {"orders": [0]}))
        self.clock.advance(5)
        self.assertIsNone(self.tracker.observe(parse(document(self.clock, {"orders": [0]}))), "a renewal")
        self.clock.advance(10)
        self.assertTrue(self.tracker.tick().expired)  # type: ignore[union-attr]
        share = self.observe(document(self.clock, {"orders": [0]}, generation=2))
        self.assertEqual(share.partitions, partitions("orders", 0))


if __name__ == "__main__":
    unittest.main()
