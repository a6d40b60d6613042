"""The client against a fake daemon: requests, errors, following watch (reconnection,
malformed lines, the lease timer on a faked wall clock) and run() (order of the callbacks,
automatic release). No ZooKeeper: see test_integration.py for the real thing."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import unittest
from typing import List
from unittest import mock

from support import PACKAGE, Collector, FakeClock, FakeDaemon, Recorder, TemporaryFolder, document, partitions, wait_for

import allocatord


class FakeDaemonCase(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = TemporaryFolder()
        self.addCleanup(self.folder.remove)
        self.clock = FakeClock()
        self.daemon = FakeDaemon(self.folder("a.sock")).start()
        self.addCleanup(self.daemon.stop)
        self.daemon.publish(document(self.clock, {"orders": [0, 1, 2]}))
        self.client = allocatord.Client(
            self.daemon.path, timeout=5, clock=self.clock, tick=0.02, reconnect_delay=(0.01, 0.05)
        )

    def collect(self) -> Collector:
        collector = Collector(self.client)
        self.addCleanup(collector.close)
        return collector

    def record(self, **options) -> Recorder:  # type: ignore[no-untyped-def]
        recorder = Recorder(self.client, **options)
        self.addCleanup(recorder.close)
        return recorder


class RequestTests(FakeDaemonCase):
    def test_get_status_ping_release(self) -> None:
        document = self.client.get()
        self.assertEqual(document.allocation, partitions("orders", 0, 1, 2))
        self.assertEqual(self.client.share().partitions, partitions("orders", 0, 1, 2))
        self.assertEqual(self.client.status()["connection"], "connected")
        self.client.ping()
        self.assertEqual(self.client.metrics(), "# TYPE allocatord_share gauge\nallocatord_share 3\n# EOF\n")
        self.assertEqual(self.client.release(7), 7)
        self.assertEqual(self.daemon.releases, [7])

    def test_release_takes_a_non_negative_integer(self) -> None:
        for epoch in (-1, 1.0, True, "3"):
            with self.subTest(epoch), self.assertRaises(ValueError):
                self.client.release(epoch)  # type: ignore[arg-type]
        self.assertEqual(self.daemon.releases, [])

    def test_an_error_reply_is_a_daemon_error(self) -> None:
        with self.assertRaises(allocatord.DaemonError) as raised:
            self.client.request("frobnicate")
        self.assertEqual(raised.exception.code, "unknown_command")
        self.assertIn("frobnicate", raised.exception.message)

    def test_a_malformed_reply_is_a_protocol_error(self) -> None:
        self.daemon.reply_overrides["get"] = [b"{not json", b'{"group":"g"}']
        with self.assertRaises(allocatord.ProtocolError):
            self.client.get()
        with self.assertRaisesRegex(allocatord.ProtocolError, "missing"):
            self.client.get()

    def test_no_socket_is_a_connect_error(self) -> None:
        client = allocatord.Client(self.folder("nobody.sock"))
        with self.assertRaises(allocatord.ConnectError) as raised:
            client.get()
        self.assertEqual(raised.exception.socket_path, self.folder("nobody.sock"))
        self.assertIsInstance(raised.exception.__cause__, FileNotFoundError)

    def test_no_reply_in_time_is_a_lost_connection(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(self.folder("mute.sock"))
        listener.listen(1)  # accepts (the kernel does) but never answers
        with self.assertRaisesRegex(allocatord.ConnectionLost, "no reply"):
            allocatord.Client(self.folder("mute.sock"), timeout=0.2).ping()

    def test_the_socket_path_defaults(self) -> None:
        with mock.patch.dict(os.environ, {"ALLOCATORD_SOCKET": "/x/y.sock", "ALLOCATORD_GROUP": "g"}):
            self.assertEqual(allocatord.Client().socket_path, "/x/y.sock")
            self.assertEqual(allocatord.Client(group="orders").socket_path, "/run/allocatord/orders.sock")
            self.assertEqual(allocatord.Client("/z.sock").socket_path, "/z.sock")
        with mock.patch.dict(os.environ, {"ALLOCATORD_GROUP": "g"}):
            os.environ.pop("ALLOCATORD_SOCKET", None)
            self.assertEqual(allocatord.Client().socket_path, "/run/allocatord/g.sock")
        with mock.patch.dict(os.environ, {}):
            os.environ.pop("ALLOCATORD_SOCKET", None)
            os.environ.pop("ALLOCATORD_GROUP", None)
            with self.assertRaises(ValueError):
                allocatord.Client()


class SharesTests(FakeDaemonCase):
    def test_yields_the_share_then_each_change(self) -> None:
        shares = self.collect()
        self.assertEqual(shares.next().partitions, partitions("orders", 0, 1, 2))
        self.daemon.publish(document(self.clock, {"orders": [0, 1, 2]}))  # a renewal: no change
        self.daemon.publish(document(self.clock, {"orders": [0]}, generation=2))
        share = shares.next()
        self.assertEqual((share.partitions, share.generation), (partitions("orders", 0), 2))

    def test_the_share_empties_when_the_lease_passes_without_a_renewal(self) -> None:
        shares = self.collect()
        shares.next()
        self.clock.advance(10.0)
        share = shares.next("the share to empty")
        self.assertEqual(share.partitions, frozenset())
        self.assertTrue(share.expired)
        self.assertEqual(share.state, "active", "no new document came: the timer did it")

    def test_a_wall_clock_stepped_back_cannot_stretch_the_lease(self) -> None:
        """The wall clock goes back an hour while 10 s pass: boottime still ends the lease."""
        shares = self.collect()
        self.assertEqual(shares.next().partitions, partitions("orders", 0, 1, 2))
        self.clock.step_wall(-3600)
        self.clock.advance(10.0)
        self.assertLess(self.clock.wall() + 3000, self.client.get().valid_until.timestamp(),  # type: ignore[union-attr]
                        "the wall clock alone would keep the share for almost an hour")
        share = shares.next("the share to empty on boottime")
        self.assertEqual(share.partitions, frozenset())
        self.assertTrue(share.expired)

    def test_reconnects_when_the_daemon_closes_the_stream(self) -> None:
        shares = self.collect()
        shares.next()
        self.daemon.drop_watchers()
        wait_for(lambda: self.daemon.watch_count >= 2, "a second watch")
        self.daemon.publish(document(self.clock, {"orders": [5]}, generation=2))
        self.assertEqual(shares.next().partitions, partitions("orders", 5))

    def test_while_the_daemon_is_gone_the_lease_still_ends(self) -> None:
        shares = self.collect()
        shares.next()
        self.daemon.stop()
        self.clock.advance(10.0)
        self.assertTrue(shares.next("the share to empty").expired)
        # The daemon comes back with a fresh lease: the share is back.
        self.daemon = FakeDaemon(self.daemon.path).start()
        self.addCleanup(self.daemon.stop)
        self.daemon.publish(document(self.clock, {"orders": [0, 1, 2]}, generation=2))
        self.assertEqual(shares.next("the share again").partitions, partitions("orders", 0, 1, 2))

    def test_a_malformed_line_or_an_error_line_on_watch_means_reconnecting(self) -> None:
        shares = self.collect()
        shares.next()
        for bad in (b"garbage\n", b'{"error":{"code":"too_slow","message":"slow"}}\n', b'{"group":1}\n'):
            with self.subTest(bad):
                count = self.daemon.watch_count
                self.daemon.send_to_watchers(bad)
                wait_for(lambda: self.daemon.watch_count > count, "a new watch after a bad line")
        self.daemon.publish(document(self.clock, {"orders": [4]}, generation=2))
        self.assertEqual(shares.next().partitions, partitions("orders", 4))

    def test_a_partial_line_waits_for_its_end(self) -> None:
        shares = self.collect()
        shares.next()
        line = json.dumps(document(self.clock, {"orders": [3]}, generation=2)).encode() + b"\n"
        self.daemon.send_to_watchers(line[:40])
        self.daemon.send_to_watchers(line[40:])
        self.assertEqual(shares.next().partitions, partitions("orders", 3))
        self.assertEqual(self.daemon.watch_count, 1)

    def test_stops_when_asked(self) -> None:
        stop = threading.Event()
        seen: List[allocatord.Share] = []
        for share in self.client.shares(stop=stop):
            seen.append(share)
            stop.set()
        self.assertEqual(len(seen), 1)


class RunTests(FakeDaemonCase):
    def test_revoked_before_assigned(self) -> None:
        recorder = self.record()
        self.assertEqual(recorder.next(), ("assigned", partitions("orders", 0, 1, 2)))
        self.daemon.publish(document(self.clock, {"orders": [2, 3]}, generation=2))
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 0, 1)))
        self.assertEqual(recorder.next(), ("assigned", partitions("orders", 3)))
        self.assertEqual(self.daemon.releases, [], "nothing was under revoking")

    def test_releases_the_generation_after_on_revoked_returned(self) -> None:
        order: List[str] = []
        self.daemon.on_release = lambda epoch: order.append(f"release {epoch}")
        recorder = self.record(on_revoked=lambda revoked: order.append(f"revoked {sorted(map(str, revoked))}"))
        recorder.next()
        self.daemon.publish(document(self.clock, {"orders": [0]}, revoking={"orders": [1, 2]}, generation=5))
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 1, 2)))
        wait_for(lambda: self.daemon.releases == [5], "release 5")
        self.assertEqual(order, ["revoked ['orders:1', 'orders:2']", "release 5"])
        # The daemon publishes the share without them, then grants more: released once only.
        self.daemon.publish(document(self.clock, {"orders": [0]}, generation=5))
        self.daemon.publish(document(self.clock, {"orders": [0, 7]}, generation=6))
        self.assertEqual(recorder.next(), ("assigned", partitions("orders", 7)))
        self.assertEqual(self.daemon.releases, [5])

    def test_releases_again_when_the_epoch_starts_again(self) -> None:
        recorder = self.record()
        recorder.next()
        self.daemon.publish(document(self.clock, {"orders": [0, 1]}, revoking={"orders": [2]}, generation=9))
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 2)))
        wait_for(lambda: self.daemon.releases == [9], "release 9")
        self.daemon.publish(document(self.clock, {"orders": [0, 1]}, revoking={"orders": [2]}, generation=9))  # a renewal
        self.daemon.publish(document(self.clock, {"orders": [0]}, revoking={"orders": [1]}, generation=2))  # group recreated
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 1)))
        wait_for(lambda: self.daemon.releases == [9, 2], "release 2")

    def test_a_failed_release_is_retried(self) -> None:
        self.daemon.reply_overrides["release"] = [b'{"error":{"code":"zookeeper","message":"try again"}}']
        recorder = self.record()
        recorder.next()
        self.daemon.publish(document(self.clock, {}, revoking={"orders": [0, 1, 2]}, generation=2))
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 0, 1, 2)))
        wait_for(lambda: self.daemon.releases == [2], "release 2, the second time")
        self.assertEqual([c for c in self.daemon.commands if c.startswith("release")], ["release 2", "release 2"])

    def test_never_assigns_what_the_lease_does_not_cover(self) -> None:
        self.daemon.publish(document(self.clock, {"orders": [0]}, lease=-1.0))  # already over
        recorder = self.record()
        self.daemon.publish(document(self.clock, {"orders": [1]}, generation=2))
        self.assertEqual(recorder.next(), ("assigned", partitions("orders", 1)))

    def test_a_lease_that_ends_during_on_revoked_assigns_nothing(self) -> None:
        def slow_revoke(_: frozenset) -> None:
            self.clock.advance(30.0)  # on_revoked takes longer than the lease

        recorder = self.record(on_revoked=slow_revoke)
        recorder.next()
        self.daemon.publish(document(self.clock, {"orders": [3]}, generation=2))
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 0, 1, 2)))
        self.daemon.publish(document(self.clock, {"orders": [4]}, generation=3))
        self.assertEqual(recorder.next(), ("assigned", partitions("orders", 4)), "orders:3 was never assigned")

    def test_the_lease_ending_revokes_everything(self) -> None:
        recorder = self.record()
        recorder.next()
        self.clock.advance(10.0)
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 0, 1, 2)))
        self.assertEqual(self.daemon.releases, [])

    def test_stopping_revokes_what_is_held(self) -> None:
        recorder = self.record()
        recorder.next()
        recorder.stop.set()
        self.assertEqual(recorder.next(), ("revoked", partitions("orders", 0, 1, 2)))
        self.assertEqual(recorder.next(), ("ended",))

    def test_an_exception_in_a_callback_ends_run(self) -> None:
        def failing(_: frozenset) -> None:
            raise RuntimeError("consumer broke")

        revoked: List[frozenset] = []
        with self.assertRaisesRegex(RuntimeError, "consumer broke"):
            self.client.run(failing, revoked.append)
        self.assertEqual(revoked, [partitions("orders", 0, 1, 2)], "what on_assigned got is revoked on the way out")



class OrphanTests(FakeDaemonCase):
    """A supervised consumer (`ALLOCATORD_PID` set) stops following its share once the process
    that started it is gone: its parent when the client was made, whoever that is (the daemon's
    guard, or a shell between)."""

    def test_following_ends_when_the_parent_changes(self) -> None:
        parent = [4242]
        with mock.patch.dict(os.environ, {"ALLOCATORD_PID": "1"}), mock.patch("os.getppid", lambda: parent[0]):
            client = allocatord.Client(self.daemon.path, timeout=5, clock=self.clock, tick=0.02)
            shares = Collector(client)
            self.addCleanup(shares.close)
            self.assertEqual(shares.next().partitions, partitions("orders", 0, 1, 2))
            parent[0] = 1  # re-parented: the guard or shell that started it is gone
            wait_for(lambda: shares.ended, "shares() to end")

    def test_a_parent_that_is_not_the_daemon_is_no_reason_to_stop(self) -> None:
        with mock.patch.dict(os.environ, {"ALLOCATORD_PID": "1"}), mock.patch("os.getppid", lambda: 4242):
            client = allocatord.Client(self.daemon.path, timeout=5, clock=self.clock, tick=0.02)
            shares = Collector(client)
            self.addCleanup(shares.close)
            shares.next()
            self.daemon.publish(document(self.clock, {"orders": [1]}, generation=2))
            self.assertEqual(shares.next("a later share").partitions, partitions("orders", 1))
            self.assertFalse(shares.ended)

    def test_without_allocatord_pid_the_parent_does_not_matter(self) -> None:
        parent = [4242]
        environment = {name: value for name, value in os.environ.items() if name != "ALLOCATORD_PID"}
        with mock.patch.dict(os.environ, environment, clear=True), mock.patch("os.getppid", lambda: parent[0]):
            client = allocatord.Client(self.daemon.path, timeout=5, clock=self.clock, tick=0.02)
            shares = Collector(client)
            self.addCleanup(shares.close)
            shares.next()
            parent[0] = 1
            self.daemon.publish(document(self.clock, {"orders": [1]}, generation=2))
            self.assertEqual(shares.next("a later share").partitions, partitions("orders", 1))
            self.assertFalse(shares.ended)

    def test_a_consumer_under_a_shell_runs_until_the_shell_is_killed(self) -> None:
        """Real processes: `sh -c` starts a consumer (dash forks), as the daemon's guard does for
        `exec: COMMAND`. Its parent is the shell, not `ALLOCATORD_PID`: it works on; once the
        shell is killed with SIGKILL it is re-parented, and stops within a tick."""
        out = self.folder("consumer.out")
        program = (
            "import sys, allocatord\n"
            f"client = allocatord.Client({self.daemon.path!r}, tick=0.02)\n"
            "for share in client.shares():\n"
            f"    open({out!r}, 'a').write('share\\n')\n"
            f"open({out!r}, 'a').write('ended\\n')\n"
        )
        environment = dict(os.environ, ALLOCATORD_PID="1", PYTHONPATH=os.path.join(PACKAGE, "src"))
        shell = subprocess.Popen(["/bin/sh", "-c", f"{sys.executable} -c {shlex.quote(program)}; true"], env=environment)
        self.addCleanup(lambda: shell.poll() is None and shell.kill())

        def lines() -> List[str]:
            if not os.path.exists(out):
                return []
            with open(out) as file:
                return file.read().splitlines()

        # Documents on the real clocks, with leases that outlast the test.
        now = FakeClock(time.time(), time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        self.daemon.publish(document(now, {"orders": [0, 1, 2]}, lease=600.0))
        wait_for(lambda: "share" in lines(), "the consumer's first share")
        self.daemon.publish(document(now, {"orders": [7]}, generation=2, lease=600.0))
        wait_for(lambda: lines().count("share") >= 2, "a second share: still following under the shell")
        self.assertNotIn("ended", lines())
        shell.kill()
        shell.wait()
        wait_for(lambda: "ended" in lines(), "the orphaned consumer to stop")


if __name__ == "__main__":
    unittest.main()
