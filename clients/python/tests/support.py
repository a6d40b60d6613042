"""What the tests share: the package on sys.path, a fake clock, a fake daemon for unit tests,
waiting for events, and a real ZooKeeper and allocatord for integration tests."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, TypeVar

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)  # clients/python
REPOSITORY = os.path.dirname(os.path.dirname(PACKAGE))
SOURCE = os.path.join(PACKAGE, "src")
if SOURCE not in sys.path:
    sys.path.insert(0, SOURCE)

import allocatord  # noqa: E402

#: How long a test waits for an event before it fails: generous, for a busy 2-core machine.
PATIENCE = float(os.environ.get("ALLOCATORD_TEST_PATIENCE", "60"))

T = TypeVar("T")


def wait_for(condition: Callable[[], Optional[T]], what: str, timeout: float = PATIENCE) -> T:
    """Polls `condition` until it returns something truthy and returns that; fails the test
    (AssertionError naming `what`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def next_item(items: "queue.Queue[T]", what: str, timeout: float = PATIENCE) -> T:
    try:
        return items.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


class FakeClock:
    """A wall clock and a CLOCK_BOOTTIME the test sets by hand."""

    def __init__(self, wall: float = 1_800_000_000.0, boottime_ns: Optional[int] = 5_000_000_000) -> None:
        self._lock = threading.Lock()
        self._wall = wall
        self._boottime_ns = boottime_ns

    def wall(self) -> float:
        with self._lock:
            return self._wall

    def boottime_ns(self) -> Optional[int]:
        with self._lock:
            return self._boottime_ns

    def advance(self, seconds: float) -> None:
        """Time passes: both clocks move on."""
        with self._lock:
            self._wall += seconds
            if self._boottime_ns is not None:
                self._boottime_ns += int(seconds * 1e9)

    def step_wall(self, seconds: float) -> None:
        """Someone sets the wall clock (back, for a negative `seconds`); boottime does not move."""
        with self._lock:
            self._wall += seconds


def timestamp(wall: float) -> str:
    moment = datetime.fromtimestamp(wall, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def document(
    clock: FakeClock,
    allocation: Dict[str, List[int]],
    *,
    revoking: Optional[Dict[str, List[int]]] = None,
    generation: int = 1,
    state: str = "active",
    lease: Optional[float] = 10.0,
    boottime: bool = True,
    new_keys: bool = True,
) -> Dict[str, Any]:
    """A document as the daemon writes it, its lease `lease` seconds from the fake clock's
    now on both clocks (`boottime=False`: no boottime deadline; `new_keys=False`: as a daemon
    without consumer handover writes it)."""
    empty = not allocation and not revoking
    valid_until = None if empty or lease is None else clock.wall() + lease
    boottime_now = clock.boottime_ns()
    result: Dict[str, Any] = {
        "group": "g", "member": "a", "state": state, "generation": generation, "strategy": "consistent",
        "allocation": allocation,
    }
    if new_keys:
        result["revoking"] = revoking or {}
    result.update({"members": ["a"], "partition_count": 12, "valid_until": None if valid_until is None else timestamp(valid_until)})
    if new_keys:
        result["valid_until_boottime_ns"] = (
            None if valid_until is None or not boottime or boottime_now is None or lease is None else boottime_now + int(lease * 1e9)
        )
    result["updated_at"] = timestamp(clock.wall())
    return result


def partitions(topic: str, *ids: int) -> frozenset:
    return frozenset(allocatord.Partition(topic, id) for id in ids)


class FakeDaemon:
    """A Unix socket server that speaks enough of spec section 9 to test the client's logic:
    `get`, `watch` (the document, then what the test publishes), `release`, `status`, `ping`.

    `reply_overrides` maps a command word to the raw line to answer instead (malformed lines,
    error replies); `on_release` is called with each released epoch before the reply.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.document: Dict[str, Any] = {}
        self.releases: List[int] = []
        self.watch_count = 0
        self.commands: List[str] = []
        self.reply_overrides: Dict[str, List[bytes]] = {}
        self.on_release: Optional[Callable[[int], None]] = None
        self._lock = threading.Lock()
        self._watchers: List[socket.socket] = []
        self._connections: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None

    def start(self) -> "FakeDaemon":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """The daemon goes away: the socket file, the listener and every connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections, self._watchers = self._connections, [], []
        if listener is not None:
            listener.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        for connection in connections:
            _shut(connection)

    def publish(self, document: Dict[str, Any]) -> None:
        """A new document: the one `get` answers, sent to every watcher."""
        with self._lock:
            self.document = document
        self.send_to_watchers(json.dumps(document).encode() + b"\n")

    def send_to_watchers(self, data: bytes) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            try:
                watcher.sendall(data)
            except OSError:
                pass

    def drop_watchers(self) -> None:
        """Closes every watch connection (as a daemon restarting would)."""
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            _shut(watcher)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._listener is not listener:
                    connection.close()
                    return
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                chunk = connection.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    self._answer(connection, line.decode())
                except OSError:
                    return

    def _answer(self, connection: socket.socket, line: str) -> None:
        word, _, argument = line.partition(" ")
        with self._lock:
            self.commands.append(line)
            overrides = self.reply_overrides.get(word)
            override = overrides.pop(0) if overrides else None
            current = self.document
        if override is not None:
            connection.sendall(override + b"\n")
            return
        if word == "get":
            reply: Dict[str, Any] = current
        elif word == "watch":
            with self._lock:
                self.watch_count += 1
                self._watchers.append(connection)
                current = self.document
            reply = current
        elif word == "release":
            epoch = int(argument)
            if self.on_release is not None:
                self.on_release(epoch)
            with self._lock:
                self.releases.append(epoch)
            reply = {"ok": True, "released": epoch}
        elif word == "status":
            reply = {"connection": "connected", "member": "a"}
        elif word == "metrics":
            connection.sendall(b"# TYPE allocatord_share gauge\nallocatord_share 3\n# EOF\n")
            return
        elif word == "ping":
            reply = {"ok": True}
        else:
            reply = {"error": {"code": "unknown_command", "message": f"unknown command {word!r}"}}
        connection.sendall(json.dumps(reply).encode() + b"\n")


def _shut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    connection.close()


class Collector:
    """Runs `client.shares()` on a thread and queues what it yields."""

    def __init__(self, client: "allocatord.Client") -> None:
        self.shares: "queue.Queue[allocatord.Share]" = queue.Queue()
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(client,), daemon=True)
        self._thread.start()

    def _run(self, client: "allocatord.Client") -> None:
        try:
            for share in client.shares(stop=self.stop):
                self.shares.put(share)
        except BaseException as error:  # reported by close()
            self.error = error

    def next(self, what: str = "the next share", timeout: float = PATIENCE) -> "allocatord.Share":
        return next_item(self.shares, what, timeout)

    @property
    def ended(self) -> bool:
        """Whether `shares()` has returned."""
        return not self._thread.is_alive()

    def until(self, condition: Callable[["allocatord.Share"], bool], what: str, timeout: float = PATIENCE) -> "allocatord.Share":
        """The first share (from now) for which `condition` holds."""
        deadline = time.monotonic() + timeout
        while True:
            share = self.next(what, max(0.0, deadline - time.monotonic()))
            if condition(share):
                return share

    def close(self) -> None:
        self.stop.set()
        self._thread.join(PATIENCE)
        if self.error is not None:
            raise self.error


class Recorder:
    """Runs `client.run()` on a thread and records the callbacks in order."""

    def __init__(self, client: "allocatord.Client", *, on_revoked: Optional[Callable[[frozenset], None]] = None) -> None:
        self.events: "queue.Queue[tuple]" = queue.Queue()
        self.log: List[tuple] = []
        self.when: List[float] = []  # time.monotonic() of each entry of log
        self.held: frozenset = frozenset()
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None
        self._on_revoked = on_revoked
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(client,), daemon=True)
        self._thread.start()

    def record(self, event: tuple) -> None:
        with self._lock:
            self.log.append(event)
            self.when.append(time.monotonic())
            if event[0] == "assigned":
                self.held |= event[1]
            elif event[0] == "revoked":
                self.held -= event[1]
        self.events.put(event)

    def holding(self) -> frozenset:
        """What the callbacks have assigned and not revoked."""
        with self._lock:
            return frozenset(self.held)

    def _assigned(self, partitions: frozenset) -> None:
        self.record(("assigned", partitions))

    def _revoked(self, partitions: frozenset) -> None:
        if self._on_revoked is not None:
            self._on_revoked(partitions)
        self.record(("revoked", partitions))

    def _run(self, client: "allocatord.Client") -> None:
        try:
            client.run(self._assigned, self._revoked, stop=self.stop)
        except BaseException as error:
            self.error = error
        self.record(("ended",))

    def next(self, what: str = "the next callback", timeout: float = PATIENCE) -> tuple:
        return next_item(self.events, what, timeout)

    def close(self) -> None:
        self.stop.set()
        self._thread.join(PATIENCE)
        if self.error is not None:
            raise self.error


class TemporaryFolder:
    """A short temporary folder (Unix socket paths are limited to 107 bytes)."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="adpy-", dir="/tmp")

    def __call__(self, name: str) -> str:
        return os.path.join(self.path, name)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# Integration: a real ZooKeeper and real daemons.

def daemon_binary() -> Optional[str]:
    """The allocatord to test: $ALLOCATORD_BIN (which must be there: scripts/test sets it),
    else .build/debug/allocatord if built, else `None`."""
    named = os.environ.get("ALLOCATORD_BIN")
    if named:
        if not os.access(named, os.X_OK):
            raise RuntimeError(f"ALLOCATORD_BIN={named} is not an executable")
        return named
    path = os.path.join(REPOSITORY, ".build", "debug", "allocatord")
    return path if os.access(path, os.X_OK) else None


class ZooKeeper:
    """A throw-away ZooKeeper through scripts/zk, stopped when the test process ends anyway."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        result = subprocess.run(
            [os.path.join(REPOSITORY, "scripts", "zk"), "up", "--owner", str(os.getpid()), folder],
            check=True, stdout=subprocess.PIPE, text=True, timeout=120,
        )
        self.connect = result.stdout.strip()

    def down(self) -> None:
        subprocess.run([os.path.join(REPOSITORY, "scripts", "zk"), "down", self.folder], check=False, timeout=120)


class Daemon:
    """One allocatord member, its socket and state file in `folder`."""

    def __init__(self, binary: str, zk: str, folder: TemporaryFolder, group: str, member: str, *options: str,
                 session_timeout_ms: int = 4000) -> None:
        self.member = member
        self.socket_path = folder(f"{member}.sock")
        self.state_file = folder(f"{member}.json")
        self.log_path = folder(f"{member}.log")
        environment = {key: value for key, value in os.environ.items() if not key.startswith("ALLOCATORD_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [binary, "--zk", zk, "--group", group, "--member", member, "--partitions", "orders:0-5",
                 "--socket", self.socket_path, "--state-file", self.state_file,
                 "--session-timeout", str(session_timeout_ms), "--log-level", "notice", *options],
                stdout=log, stderr=subprocess.STDOUT, env=environment,
            )
        self.client = allocatord.Client(self.socket_path, timeout=30)

    def wait_active(self) -> "allocatord.Document":
        def active() -> Optional[allocatord.Document]:
            if self.process.poll() is not None:
                raise AssertionError(f"allocatord {self.member} exited with {self.process.returncode}: {self.log()}")
            try:
                document = self.client.get()
            except allocatord.AllocatordError:
                return None
            return document if document.state == "active" else None
        return wait_for(active, f"member {self.member} to be active")

    def log(self) -> str:
        with open(self.log_path, errors="replace") as log:
            return log.read()[-4000:]

    def signal(self, number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(number)

    def stop(self) -> None:
        """SIGTERM, and wait for the exit. With consumer handover a stopping member waits for
        its consumer's release: say it for the consumer, whose test may be over."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            try:
                self.process.wait(0.2)
                return
            except subprocess.TimeoutExpired:
                pass
            try:
                document = self.client.get()
                if document.revoking:
                    self.client.release(document.generation)
            except allocatord.AllocatordError:
                pass
        self.process.kill()
        self.process.wait()
