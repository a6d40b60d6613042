"""The client against real allocatord daemons and a real ZooKeeper (scripts/zk).

The daemon is $ALLOCATORD_BIN (scripts/test passes the one it built), else
.build/debug/allocatord; without one these tests are skipped. Every wait is for an event,
with a generous timeout: they run beside the Swift suite on a busy machine.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import unittest
from typing import List, Optional
from unittest import mock

import support
from support import PATIENCE, Collector, Daemon, Recorder, TemporaryFolder, ZooKeeper, daemon_binary, partitions, wait_for

import allocatord

ALL = partitions("orders", 0, 1, 2, 3, 4, 5)
BINARY = daemon_binary()
zookeeper: Optional[ZooKeeper] = None
folder: Optional[TemporaryFolder] = None


def setUpModule() -> None:
    global zookeeper, folder
    if BINARY is None:
        return
    folder = TemporaryFolder()
    zookeeper = ZooKeeper(folder("zk"))


def tearDownModule() -> None:
    if zookeeper is not None:
        zookeeper.down()
    if folder is not None:
        folder.remove()


@unittest.skipIf(BINARY is None, "no allocatord binary: set ALLOCATORD_BIN or run swift build")
class IntegrationCase(unittest.TestCase):
    groups = 0

    def setUp(self) -> None:
        assert BINARY is not None and zookeeper is not None
        IntegrationCase.groups += 1
        self.group = f"py{os.getpid()}-{IntegrationCase.groups}"
        self.folder = TemporaryFolder()
        self.addCleanup(self.folder.remove)

    def start(self, member: str, *options: str, session_timeout_ms: int = 4000) -> Daemon:
        """A member; a longer session than the one test that waits for it to end, so that a
        busy machine does not end sessions in the middle of the others."""
        assert BINARY is not None and zookeeper is not None
        daemon = Daemon(BINARY, zookeeper.connect, self.folder, self.group, member, *options,
                        session_timeout_ms=session_timeout_ms)
        self.addCleanup(daemon.stop)
        daemon.wait_active()
        return daemon

    def record(self, daemon: Daemon, **options) -> Recorder:  # type: ignore[no-untyped-def]
        recorder = Recorder(daemon.client, **options)
        self.addCleanup(recorder.close)
        return recorder

    def collect(self, daemon: Daemon) -> Collector:
        collector = Collector(daemon.client)
        self.addCleanup(collector.close)
        return collector


class DaemonTests(IntegrationCase):
    def test_get_status_and_release(self) -> None:
        a = self.start("a")
        document = wait_for(lambda: (lambda d: d if d.allocation == ALL else None)(a.client.get()), "the whole share")
        self.assertEqual((document.group, document.member, document.revoking), (self.group, "a", frozenset()))
        self.assertIsNotNone(document.valid_until_boottime_ns, "the daemon publishes the boottime deadline")
        clock = allocatord.SystemClock()
        self.assertGreater(document.lease_remaining(clock.wall(), clock.boottime_ns()), 0)
        self.assertAlmostEqual(  # the two deadlines are the same moment
            document.valid_until.timestamp() - clock.wall(),  # type: ignore[union-attr]
            (document.valid_until_boottime_ns - clock.boottime_ns()) / 1e9,  # type: ignore[operator]
            delta=0.5,
        )
        self.assertEqual(a.client.status()["member"], "a")
        self.assertTrue(a.client.metrics().endswith("# EOF\n"))
        self.assertEqual(a.client.release(document.generation), document.generation, "accepted without consumer handover")
        with self.assertRaises(allocatord.DaemonError) as raised:
            a.client.request("release -1")
        self.assertEqual(raised.exception.code, "bad_epoch")

    def test_shares_and_callbacks_follow_a_member_joining(self) -> None:
        a = self.start("a")
        shares = self.collect(a)
        recorder_a = self.record(a)
        shares.until(lambda share: share.partitions == ALL, "a's whole share")
        self.assertEqual(recorder_a.next(), ("assigned", ALL))

        b = self.start("b")
        recorder_b = self.record(b)
        shrunk = shares.until(lambda share: bool(share.partitions) and share.partitions < ALL, "a's share to shrink")
        event = recorder_a.next("a's on_revoked")
        self.assertEqual(event[0], "revoked")
        self.assertEqual(event[1], ALL - shrunk.partitions)
        wait_for(lambda: recorder_b.holding() == ALL - recorder_a.holding(), "b to be assigned what a gave up")
        self.assertTrue(recorder_b.holding(), "b holds something")
        self.assertFalse(recorder_a.holding() & recorder_b.holding())

    def test_a_stopped_daemon_s_share_empties_when_its_lease_passes(self) -> None:
        a = self.start("a", session_timeout_ms=2000)
        shares = self.collect(a)
        recorder = self.record(a)
        shares.until(lambda share: share.partitions == ALL, "the whole share")
        recorder.next("on_assigned")
        a.signal(signal.SIGSTOP)
        self.addCleanup(a.signal, signal.SIGCONT)
        empty = shares.until(lambda share: not share.partitions, "the share to empty when the lease passes")
        self.assertTrue(empty.expired, "the lease timer emptied it: no document came from a stopped daemon")
        self.assertEqual(empty.state, "active")
        clock = allocatord.SystemClock()
        wall, boottime = clock.wall(), clock.boottime_ns()
        self.assertLessEqual(empty.document.lease_remaining(wall, boottime), 0, "the earlier deadline has passed")
        self.assertLessEqual(  # (the two deadlines name the same moment, to the millisecond)
            min(empty.document.valid_until.timestamp() - wall,  # type: ignore[union-attr]
                (empty.document.valid_until_boottime_ns - boottime) / 1e9),  # type: ignore[operator]
            0,
        )
        self.assertEqual(recorder.next("on_revoked"), ("revoked", ALL))
        # Woken, the member hears from ZooKeeper again and publishes a fresh lease.
        a.signal(signal.SIGCONT)
        shares.until(lambda share: share.partitions == ALL, "the share back after SIGCONT")
        self.assertEqual(recorder.next("on_assigned again"), ("assigned", ALL))


class ConsumerHandoverTests(IntegrationCase):
    def test_partitions_move_only_after_the_consumer_released_them(self) -> None:
        a = self.start("a", "--handover", "consumer", "--release-timeout", "600000")
        may_return = threading.Event()
        revoking: "queue.Queue[frozenset]" = queue.Queue()
        returned: List[float] = []

        def on_revoked(partitions: frozenset) -> None:
            revoking.put(partitions)
            if not may_return.wait(PATIENCE):
                raise AssertionError("the test never let on_revoked return")
            returned.append(time.monotonic())

        recorder_a = self.record(a, on_revoked=on_revoked)
        self.assertEqual(recorder_a.next(), ("assigned", ALL))

        b = self.start("b", "--handover", "consumer", "--release-timeout", "600000")
        recorder_b = self.record(b)
        revoked = support.next_item(revoking, "a's on_revoked")
        document_a = a.client.get()
        self.assertEqual(document_a.revoking, revoked, "a lists them under revoking until released")
        self.assertFalse(document_a.allocation & revoked)
        # b has published the epoch that revoked them from a, and has none of them: the leader
        # holds them back while a's consumer works on them.
        document_b = wait_for(
            lambda: (lambda d: d if d.state == "active" and d.generation >= document_a.generation else None)(b.client.get()),
            "b to publish the epoch of the revocation",
        )
        self.assertFalse(document_b.share & revoked)
        self.assertEqual(recorder_b.holding(), frozenset())

        may_return.set()  # on_revoked returns; run() says release GENERATION
        wait_for(lambda: recorder_b.holding() == revoked, "b to be assigned what a released")
        self.assertGreater(recorder_b.when[recorder_b.log.index(("assigned", revoked))], returned[0],
                           "b was assigned them only after a's on_revoked returned")
        self.assertEqual(a.client.get().revoking, frozenset())
        self.assertEqual(a.client.status()["forced_releases"], 0, "released by the client, not by the timeout")
        self.assertFalse(recorder_a.holding() & recorder_b.holding())


class ExampleTests(IntegrationCase):
    def test_the_example_consumer(self) -> None:
        """examples/consumer.py works on a's share, gives back what b takes (releasing it:
        consumer handover) and stops cleanly on SIGTERM."""
        a = self.start("a", "--handover", "consumer", "--release-timeout", "600000")
        environment = dict(os.environ, ALLOCATORD_SOCKET=a.socket_path, PYTHONPATH=support.SOURCE, PYTHONUNBUFFERED="1")
        consumer = subprocess.Popen(
            [sys.executable, os.path.join(support.PACKAGE, "examples", "consumer.py")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        )
        self.addCleanup(consumer.stdout.close)  # type: ignore[union-attr]
        self.addCleanup(consumer.wait)
        self.addCleanup(lambda: consumer.poll() is None and consumer.kill())
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in consumer.stdout], daemon=True).start()  # type: ignore[union-attr]
        output: List[str] = []

        def expect(prefix: str) -> str:
            while True:
                line = support.next_item(lines, f"a line starting {prefix!r} (so far: {output})")
                output.append(line)
                if line.startswith(prefix):
                    return line

        self.assertEqual(expect("assigned"), "assigned orders:0 orders:1 orders:2 orders:3 orders:4 orders:5")
        b = self.start("b", "--handover", "consumer")
        revoked = expect("revoked").split()[1:]
        self.assertTrue(revoked)
        wait_for(lambda: sorted(map(str, b.client.get().allocation)) == sorted(revoked), "b to get what the example released")
        consumer.send_signal(signal.SIGTERM)
        self.assertEqual(consumer.wait(PATIENCE), 0, output)
        expect("stopped")

    def test_the_example_consumer_run_by_the_daemon(self) -> None:
        """allocatord --exec runs the example (ALLOCATORD_SOCKET, SIGHUP after each change):
        it gets the share, and releases what b takes."""
        environment = {"PYTHONPATH": support.SOURCE, "PYTHONUNBUFFERED": "1"}
        with mock.patch.dict(os.environ, environment):
            a = self.start("a", "--handover", "consumer", "--release-timeout", "600000",
                           "--exec", "--", sys.executable, os.path.join(support.PACKAGE, "examples", "consumer.py"))
        wait_for(lambda: "assigned orders:0 orders:1 orders:2 orders:3 orders:4 orders:5" in a.log(), "the example's share")
        b = self.start("b", "--handover", "consumer")
        revoked = wait_for(lambda: [line.split()[1:] for line in a.log().splitlines() if line.startswith("revoked")],
                           "the example to give something up")[0]
        wait_for(lambda: sorted(map(str, b.client.get().allocation)) == sorted(revoked), "b to get what the example released")
        self.assertEqual(a.client.status()["forced_releases"], 0, "released by the example, not by the timeout")


if __name__ == "__main__":
    unittest.main()
