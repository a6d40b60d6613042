"""The client: requests on the socket, and the share followed through `watch`.

Guarantees of `shares()` and `run()`:

- The share is never larger than the newest document's, and it is empty from the moment the
  lease of the newest document has ended (the earlier of `valid_until` and
  `valid_until_boottime_ns`), whether or not the daemon is reachable: while the `watch`
  connection is down and being retried, the lease timer goes on.
- `run()` calls `on_revoked` for what leaves the share before `on_assigned` for what enters
  it, never calls `on_assigned` for a partition whose lease has ended, and says
  `release GENERATION` only after `on_revoked` has returned for everything under `revoking`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

from .clock import Clock, SystemClock
from .connection import LineConnection
from .document import Document, Partition, parse_reply
from .errors import AllocatordError, ConnectionLost, ProtocolError
from .share import Share, ShareTracker

log = logging.getLogger("allocatord")

#: Where a daemon's socket is unless `--socket` says otherwise (spec section 9).
SOCKET_FOLDER = "/run/allocatord"

Callback = Callable[[FrozenSet[Partition]], Any]


def default_socket_path(group: Optional[str] = None) -> str:
    """The socket to use: `/run/allocatord/GROUP.sock` for an explicit `group`, else
    `$ALLOCATORD_SOCKET` (set for a consumer the daemon supervises), else the socket of
    `$ALLOCATORD_GROUP`. Raises `ValueError` when none of them is given."""
    if group is not None:
        return os.path.join(SOCKET_FOLDER, f"{group}.sock")
    socket_path = os.environ.get("ALLOCATORD_SOCKET")
    if socket_path:
        return socket_path
    group = os.environ.get("ALLOCATORD_GROUP")
    if group:
        return os.path.join(SOCKET_FOLDER, f"{group}.sock")
    raise ValueError("no socket: pass socket_path or group, or set ALLOCATORD_SOCKET")


class Client:
    """A client of one allocatord member's socket.

    `socket_path` defaults as `default_socket_path(group)` says. `timeout` bounds each request
    (connect, send, reply). `clock` is where the lease is read (`SystemClock()`: `time.time()`
    and CLOCK_BOOTTIME); `tick` the longest the follower waits before looking at the clocks
    and the `stop` event again. `reconnect_delay` is the first and the longest wait between
    attempts to reach the daemon; the wait doubles from one to the other.

    Requests open a connection each, so a client may be shared between threads; each
    `shares()` or `run()` keeps its own `watch` connection.

    A consumer that allocatord supervises (`--exec`) gets `ALLOCATORD_PID`. Its parent is then
    the daemon's guard, or a shell the guard started (`exec: COMMAND` runs `/bin/sh -c`), not
    the daemon itself: so the client remembers its parent when it is made, and once the parent
    changes (the process it was started by is gone, and it was left behind) `shares()` and
    `run()` end (and `run()` revokes everything), so that a daemon started again does not find
    the old consumer still at work beside its new one. Make the client in the process that does
    the work (after a fork, make a new one).
    """

    def __init__(
        self,
        socket_path: Optional[str] = None,
        *,
        group: Optional[str] = None,
        timeout: float = 10.0,
        clock: Optional[Clock] = None,
        tick: float = 0.25,
        reconnect_delay: Tuple[float, float] = (0.05, 2.0),
    ) -> None:
        if tick <= 0 or not 0 < reconnect_delay[0] <= reconnect_delay[1]:
            raise ValueError("tick must be positive, and reconnect_delay (first, longest) with 0 < first <= longest")
        self.socket_path = socket_path if socket_path is not None else default_socket_path(group)
        self.timeout = timeout
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tick = tick
        self.reconnect_delay = reconnect_delay
        #: The parent this process had when the client was made, if a daemon supervises it
        #: (`ALLOCATORD_PID` is set): following the share ends once the parent changes.
        self.parent_pid: Optional[int] = os.getppid() if os.environ.get("ALLOCATORD_PID", "").isdigit() else None

    def __repr__(self) -> str:
        return f"Client({self.socket_path!r})"

    # Requests

    def request(self, command: str) -> Dict[str, Any]:
        """Sends one command line and returns its reply as a JSON object.

        Raises `ConnectError`, `ConnectionLost` (also when no reply comes within `timeout`),
        `DaemonError` for an error reply and `ProtocolError` for a reply that is not JSON.
        """
        if "\n" in command:
            raise ValueError("a command is one line")
        with LineConnection(self.socket_path, self.timeout) as connection:
            connection.send_line(command, self.timeout)
            line = connection.read_line(self.timeout)
        if line is None:
            raise ConnectionLost(f"no reply to {command.split(' ')[0]!r} within {self.timeout} s")
        return parse_reply(line)

    def get(self) -> Document:
        """The member's document as it is now (the lease not applied: see `share`)."""
        return Document.from_json(self.request("get"))

    def share(self) -> Share:
        """The member's share now, the lease applied."""
        return Share.of(self.get(), self.clock)

    def status(self) -> Dict[str, Any]:
        """The member's `status` (connection, session, role, generation, counts, ...)."""
        return self.request("status")

    def metrics(self) -> str:
        """The daemon's metrics in Prometheus' text format (spec section 16), up to and
        including its closing `# EOF` line."""
        lines: List[str] = []
        with LineConnection(self.socket_path, self.timeout) as connection:
            connection.send_line("metrics", self.timeout)
            deadline = time.monotonic() + self.timeout
            while True:
                line = connection.read_line(max(0.0, deadline - time.monotonic()))
                if line is None:
                    raise ConnectionLost(f"no complete reply to 'metrics' within {self.timeout} s")
                if not lines and line.startswith(b"{"):
                    parse_reply(line)  # an error reply raises DaemonError
                    raise ProtocolError("metrics answered with JSON", line[:200])
                lines.append(line.decode("utf-8", "replace"))
                if line == b"# EOF":
                    return "\n".join(lines) + "\n"

    def ping(self) -> None:
        """Returns once the daemon answers."""
        self.request("ping")

    def release(self, epoch: int) -> int:
        """Says `release EPOCH`: this consumer has stopped working on everything revoked up
        to generation `epoch` (spec section 15). Returns the epoch the daemon released. Without
        consumer handover the daemon accepts it and does nothing."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, not {epoch!r}")
        reply = self.request(f"release {epoch}")
        released = reply.get("released")
        if reply.get("ok") is not True or not isinstance(released, int):
            raise ProtocolError(f"unexpected reply to release: {reply!r}")
        return released

    # Following the share

    def shares(self, stop: Optional[threading.Event] = None) -> Iterator[Share]:
        """Yields the share once the first document has come, then on every change of
        `partitions` or `revoking`: a new document, or the lease ending without a renewal.

        Follows `watch`, reconnecting with backoff whenever the connection fails (logged to
        the `allocatord` logger); never raises for a lost daemon. Ends when `stop` is set
        (noticed within `tick`).
        """
        for share, changed in self._follow(stop):
            if changed:
                yield share

    def run(
        self,
        on_assigned: Callback,
        on_revoked: Callback,
        *,
        stop: Optional[threading.Event] = None,
    ) -> None:
        """Calls `on_assigned(partitions)` for partitions that enter the share and
        `on_revoked(partitions)` for those that leave it or come under `revoking`, until
        `stop` is set (or a callback raises, which ends `run` with that exception).

        After `on_revoked` has returned for partitions under `revoking`, says
        `release GENERATION` (retried until the daemon takes it). `on_revoked` runs before
        `on_assigned` for one change; `on_assigned` never gets a partition whose lease has
        ended, even when `on_revoked` took long. When `run` ends, whatever is still assigned
        (including what an `on_assigned` that raised was given) is revoked (`on_revoked`)
        before it returns; that is no release: the daemon keeps this member's share until it
        stops.
        """
        held: Set[Partition] = set()
        # What was last released: a generation and its revoking. Compared for equality, not
        # order, so that a group whose epoch starts again (its nodes deleted) still releases.
        released: Optional[Tuple[int, FrozenSet[Partition]]] = None
        retry_release_at = 0.0
        try:
            for share, _ in self._follow(stop):
                keep = share.assigned
                lost = held - keep
                if lost:
                    held -= lost
                    on_revoked(frozenset(lost))
                if share.revoking and released != (share.generation, share.revoking) and time.monotonic() >= retry_release_at:
                    try:
                        self.release(share.generation)
                        released = (share.generation, share.revoking)
                    except AllocatordError as error:
                        log.warning("release %d failed, retrying: %s", share.generation, error)
                        retry_release_at = time.monotonic() + 1.0
                gained = keep - held
                if gained and share.document.lease_remaining(self.clock.wall(), self.clock.boottime_ns()) > 0:
                    held |= gained
                    on_assigned(frozenset(gained))
        finally:
            if held:
                remaining = frozenset(held)
                held.clear()
                on_revoked(remaining)

    def _follow(self, stop: Optional[threading.Event]) -> Iterator[Tuple[Share, bool]]:
        """The share after every document and every tick, and whether it changed."""
        tracker = ShareTracker(self.clock)
        connection: Optional[LineConnection] = None
        first_delay, longest_delay = self.reconnect_delay
        delay = first_delay
        reconnect_at = 0.0
        healthy = True  # whether the last attempt worked: only the first failure is a warning

        def failed(error: Exception) -> None:
            nonlocal connection, delay, reconnect_at, healthy
            if connection is not None:
                connection.close()
                connection = None
            log.log(logging.WARNING if healthy else logging.DEBUG, "watch on %s: %s; reconnecting", self.socket_path, error)
            healthy = False
            reconnect_at = time.monotonic() + delay * random.uniform(0.5, 1.0)
            delay = min(delay * 2, longest_delay)

        try:
            while stop is None or not stop.is_set():
                if self.parent_pid is not None and os.getppid() != self.parent_pid:
                    log.warning("process %d, which started this one for allocatord, is gone; stopping", self.parent_pid)
                    break
                if connection is None and time.monotonic() >= reconnect_at:
                    try:
                        connection = LineConnection(self.socket_path, self.timeout)
                        connection.send_line("watch", self.timeout)
                    except AllocatordError as error:
                        failed(error)
                wait = self.tick
                left = tracker.seconds_left()
                if left is not None:
                    wait = min(wait, left)
                line = None
                if connection is not None:
                    try:
                        line = connection.read_line(wait)
                    except AllocatordError as error:
                        failed(error)
                else:
                    wait = max(0.0, min(wait, reconnect_at - time.monotonic()))
                    if stop is not None:
                        stop.wait(wait)
                    else:
                        time.sleep(wait)
                document = None
                if line is not None:
                    try:
                        document = Document.parse(line)
                        delay, healthy = first_delay, True
                    except AllocatordError as error:  # an error line or a malformed one
                        failed(error)
                changed = tracker.observe(document) if document is not None else tracker.tick()
                if tracker.share is not None:
                    yield tracker.share, changed is not None
        finally:
            if connection is not None:
                connection.close()
