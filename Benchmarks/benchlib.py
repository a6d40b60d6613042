"""What the group benchmarks share (Benchmarks/convergence.py, Benchmarks/packets.py).

Not a command: both scripts import it (`import benchlib`; they run from this folder). It holds:

  * process helpers: every child dies with the driver (PR_SET_PDEATHSIG), percentiles,
    timestamps, the re-run under scripts/kiel-venv's python (for kazoo);
  * `ZooKeeper`: one server started with `scripts/zk up --owner PID` (tick 200 ms), its
    four-letter words (`mntr`: zk_packets_received / zk_packets_sent);
  * `bench_session`: the setup both share (a server, a kazoo client, a `Bench` in a fresh
    folder), torn down afterwards whatever happened;
  * `Bench`: starts release allocatord processes and kiel peers (Benchmarks/kiel_light_peer.py)
    in a group, follows what each publishes (allocatord: a `watch` stream on its socket and its
    state file through inotify; kiel: the peer's stdout) and says when the group has converged;
  * `socket_command` (one command on a member's socket, e.g. `status`, whose "role" names the
    leader) and `CpuMeter` (a process's CPU time over a window: perf stat task-clock, and
    /proc/PID/stat utime + stime).

Convergence (protocol 2, docs/spec.md section 14). A change takes the leader one to four fenced
writes (revoke, then grant as the losers acknowledge), and every member publishes every epoch
with the group's member list: several epochs in a row can name the live members while
partitions are still being handed over. So an allocatord group has converged when every live
member's latest document is `active`, names exactly the expected members, all at one
`generation`, AND every partition is held: the shares add up to P (or, with members that get no
grant, such as an empty "foreign" member node that allocatord treats as a kiel consumer, every
allocatord member holds exactly the number of partitions the strategy gives it, from
`allocatorctl plan`). The weaker condition (the live set at one generation, handovers perhaps
not done) is the channel "agreed". A kiel group has converged when every peer's latest
allocation line lists the expected members and all P partitions.
"""
import calendar
import collections
import contextlib
import ctypes
import json
import os
import selectors
import signal
import socket
import struct
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_MOVED_TO = 0x80
IN_CLOSE_WRITE = 0x8
PERF = "/usr/bin/perf"

libc = ctypes.CDLL("libc.so.6", use_errno=True)


def partition_spec(count, topics=10):
    """`count` partitions as `t0:0-(count/topics - 1),...`: 10 000 -> t0:0-999,...,t9:0-999."""
    if count % topics:
        raise ValueError("the partition count must be a multiple of %d" % topics)
    return ",".join("t%d:0-%d" % (t, count // topics - 1) for t in range(topics))


def die_with_parent():
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no child outlives the driver
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # members run at the normal priority, not the driver's


def percentile(values, q):
    """Nearest rank."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


def parse_timestamp(text):
    """`2026-11-25T15:11:52.956Z` (the daemon's updated_at) as seconds since the epoch."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))


def kiel_python():
    """The python of scripts/kiel-venv (made on first use: kiel 0.9.3 and kazoo)."""
    return subprocess.run([os.path.join(ROOT, "scripts", "kiel-venv")], check=True,
                          capture_output=True, text=True).stdout.strip()


def ensure_kazoo():
    """Re-runs this script with the python of scripts/kiel-venv unless kazoo is importable."""
    try:
        import kazoo  # noqa: F401
    except ImportError:
        py = kiel_python()
        os.execv(py, [py] + sys.argv)


def prefer_cpu():
    """nice -10 for the driver, when it may: the observer is not the one waiting for a core."""
    try:
        os.nice(-10)
    except PermissionError:
        pass


class ZooKeeper:
    """One server from `scripts/zk up --owner PID` (tick 200 ms), gone with this process."""

    def __init__(self, tmp=None):
        import tempfile
        self.dir = tempfile.mktemp(prefix="bench-zk-", dir=tmp)
        self.connect = subprocess.run([os.path.join(ROOT, "scripts", "zk"), "up", "--owner", str(os.getpid()),
                                       self.dir], check=True, capture_output=True, text=True).stdout.strip()
        self.port = int(self.connect.split(",")[0].rsplit(":", 1)[1])

    def four(self, word, timeout=5.0):
        """A four-letter word's answer (scripts/zk whitelists ruok, srvr, mntr and stat)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def mntr(self):
        out = {}
        for line in self.four("mntr").splitlines():
            key, _, value = line.partition("\t")
            out[key] = value
        if "zk_packets_received" not in out:
            raise RuntimeError("mntr gave no zk_packets_received: is it in 4lw.commands.whitelist?")
        return out

    def packets(self):
        """zk_packets_received + zk_packets_sent, server-wide, since the server started."""
        m = self.mntr()
        return int(m["zk_packets_received"]) + int(m["zk_packets_sent"])

    def read_cost(self, reads=6):
        """What one `mntr` read adds to the packet counters (the least of back-to-back reads:
        its answer is sent in 2 KB pieces, each counted, so it grows with the metrics once
        sessions and watches exist; 3 on an empty server, 4 with a few members)."""
        r = [self.packets() for _ in range(reads)]
        return min(b - a for a, b in zip(r, r[1:]))

    def down(self):
        subprocess.run([os.path.join(ROOT, "scripts", "zk"), "down", self.dir], capture_output=True)


def socket_command(path, command, timeout=5.0):
    """One command on a member's Unix socket; its one-line JSON answer as a dict."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = s.recv(1 << 16)
            if not data:
                break
            buf += data
    return json.loads(buf.split(b"\n", 1)[0])


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (every thread, exited ones included), in seconds;
    /proc counts in clock ticks (10 ms here)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time of one process over a window.

    `perf stat -e task-clock,context-switches -p PID` (every thread, those started meanwhile
    included, nanosecond precision) and /proc/PID/stat utime + stime (clock ticks, a check).
    start() starts perf and waits `attach` seconds (perf's attach time is not the window's);
    stop() ends it with SIGINT and returns {"wall_s", "perf_ms", "switches", "proc_ms"}
    (perf_ms None without perf)."""

    def __init__(self, pid, folder, use_perf=True, attach=0.2):
        self.pid = pid
        self.folder = folder
        self.use_perf = use_perf and os.access(PERF, os.X_OK)
        self.attach = attach
        self.count = 0

    def start(self, record=None):
        """`record`: also `perf record --call-graph dwarf` the window into this file."""
        self.perf = None
        self.recorder = None
        if record is not None and os.access(PERF, os.X_OK):
            self.recorder = subprocess.Popen([PERF, "record", "-F", "10000", "--call-graph", "dwarf,16384",
                                              "-o", record, "-p", str(self.pid)],
                                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        if self.use_perf:
            self.count += 1
            self.out = os.path.join(self.folder, "perf-%d-%d.csv" % (self.pid, self.count))
            self.perf = subprocess.Popen([PERF, "stat", "-e", "task-clock,context-switches", "-x", ",",
                                          "-o", self.out, "-p", str(self.pid)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
            time.sleep(self.attach)
        self.proc0 = proc_cpu_seconds(self.pid)
        self.t0 = time.time()

    def stop(self):
        t1 = time.time()
        proc1 = proc_cpu_seconds(self.pid)
        result = {"wall_s": t1 - self.t0, "proc_ms": (proc1 - self.proc0) * 1000, "perf_ms": None, "switches": None}
        if self.recorder is not None:
            self.recorder.send_signal(signal.SIGINT)
            self.recorder.wait(60)
        if self.perf is not None:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait(10)
            with open(self.out) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) < 3:
                        continue
                    value = 0.0 if parts[0].startswith("<") else float(parts[0])
                    if parts[2].startswith("task-clock"):
                        result["perf_ms"] = value
                    elif parts[2].startswith("context-switches"):
                        result["switches"] = value
        return result


View = collections.namedtuple("View", "members generation state seen stamp share")
KielView = collections.namedtuple("KielView", "members count seen stamp")


class Member:
    def __init__(self, name, impl, proc, spawned):
        self.name = name
        self.impl = impl
        self.proc = proc
        self.spawned = spawned
        self.sockpath = None
        self.sock = None      # allocatord watch stream
        self.buf = b""
        self.watch = None     # latest View from the watch stream (stamp: updated_at)
        self.file = None      # latest View from the state file (stamp: None)
        self.kiel = None      # latest KielView from the kiel peer's stdout (stamp: kiel's own time)


@contextlib.contextmanager
def bench_session(args, prefix, tools=("allocatord",), **options):
    """Yields (bench, zookeeper, kazoo client): a throw-away ZooKeeper, a started KazooClient and
    a `Bench` (args.bin, args.strategy, args.kiel_peer, args.session_timeout, and `options`) in a
    fresh folder under args.tmp; stops every member, the client and the server, and removes the
    folder, afterwards. Exits first if a tool of `tools` is not built in args.bin."""
    for tool in tools:
        if not os.access(os.path.join(args.bin, tool), os.X_OK):
            sys.exit("no %s in %s: flock /tmp/swift-build.lock swift build -c release --product %s" % (tool, args.bin, tool))
    ensure_kazoo()
    from kazoo.client import KazooClient

    folder = tempfile.mkdtemp(prefix=prefix, dir=args.tmp)
    zookeeper = ZooKeeper()
    zkc = KazooClient(hosts=zookeeper.connect)
    zkc.start()
    bench = Bench(zookeeper.connect, folder, zkc, args.bin, strategy=args.strategy, kiel_peer=args.kiel_peer,
                  session_timeout=args.session_timeout, **options)
    prefer_cpu()  # the driver first: members and ZooKeeper (started above) stay on CPU 0
    try:
        yield bench, zookeeper, zkc
    finally:
        bench.stop_all()
        zkc.stop()
        zkc.close()
        zookeeper.down()
        shutil.rmtree(folder, ignore_errors=True)


def write_json(path, results, indent):
    """Writes `results` to `path` (--json), when given."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=indent)


class Bench:
    """Members of groups on one ZooKeeper, and what they publish.

    zk: connect string; folder: where files, sockets and logs go (under /dev/shm); zkclient:
    a started KazooClient (or None); bin_dir: the folder of the release allocatord; spec and
    partitions: the seed set and its size P; extra_args: more allocatord flags."""

    def __init__(self, zk, folder, zkclient, bin_dir, strategy="", kiel_peer="light",
                 spec=None, partitions=10_000, session_timeout=4000, extra_args=()):
        self.zk = zk
        self.folder = folder
        self.zkc = zkclient
        self.strategy = strategy
        self.kiel_peer = kiel_peer
        self.P = partitions
        self.spec = spec or partition_spec(partitions)
        self.session_timeout = session_timeout
        self.extra_args = list(extra_args)
        self.sel = selectors.DefaultSelector()
        self.members = {}       # live (name -> Member)
        self.foreign = set()    # member nodes that are no process of ours (expected in every view)
        self.targets = None     # with foreign members: {allocatord member: share the strategy gives it}
        self.all = []           # every process started
        self.pending_connect = set()
        self.ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.files = os.path.join(folder, "files")
        os.makedirs(self.files)
        libc.inotify_add_watch(self.ino, self.files.encode(), IN_MOVED_TO | IN_CLOSE_WRITE)
        self.sel.register(self.ino, selectors.EVENT_READ, ("inotify", None))
        self.bin = os.path.join(bin_dir, "allocatord")
        self.ctl = os.path.join(bin_dir, "allocatorctl")
        self.kiel_python = kiel_python()

    # -- processes ----------------------------------------------------------------------
    def spawn(self, impl, group, name):
        log = open(os.path.join(self.folder, "%s.log" % name), "wb")
        if impl == "allocatord":
            sockpath = os.path.join(self.folder, "%s.sock" % name)
            cmd = [self.bin, "--zk", self.zk, "--group", group, "--member", name,
                   "--partitions", self.spec, "--session-timeout", str(self.session_timeout),
                   "--log-level", "warning",
                   "--state-file", os.path.join(self.files, name + ".json"), "--socket", sockpath]
            if self.strategy:
                cmd += ["--strategy", self.strategy]
            cmd += self.extra_args
            t = time.time()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    preexec_fn=die_with_parent)
            m = Member(name, impl, proc, t)
            m.sockpath = sockpath
            self.pending_connect.add(m)
        else:
            peer = (os.path.join(ROOT, "Tests", "kiel", "kiel_peer.py") if self.kiel_peer == "full"
                    else os.path.join(ROOT, "Benchmarks", "kiel_light_peer.py"))
            cmd = [self.kiel_python, peer, "--zk", self.zk, "--group", group, "--member", name,
                   "--partitions", self.spec]
            t = time.time()
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    preexec_fn=die_with_parent)
            m = Member(name, impl, proc, t)
            os.set_blocking(proc.stdout.fileno(), False)
            self.sel.register(proc.stdout, selectors.EVENT_READ, ("kiel", m))
        log.close()
        self.members[name] = m
        self.all.append(m)
        return m

    def try_connect(self):
        for m in list(self.pending_connect):
            if m.proc.poll() is not None:
                self.pending_connect.discard(m)
                continue
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(m.sockpath)
            except OSError:
                s.close()
                continue
            s.sendall(b"watch\n")
            s.setblocking(False)
            m.sock = s
            self.sel.register(s, selectors.EVENT_READ, ("watch", m))
            self.pending_connect.discard(m)

    def forget(self, m):
        self.members.pop(m.name, None)
        self.pending_connect.discard(m)
        for f in (m.sock, m.proc.stdout):
            if f is not None:
                try:
                    self.sel.unregister(f)
                except (KeyError, ValueError):
                    pass
        if m.sock:
            m.sock.close()
            m.sock = None

    def reap(self, m, timeout=10):
        try:
            m.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()
        if m.proc.stdout:
            m.proc.stdout.close()
        if m.proc.stdin:
            m.proc.stdin.close()

    def stop_all(self):
        for m in list(self.members.values()):
            self.forget(m)
            if m.proc.poll() is None:
                m.proc.send_signal(signal.SIGTERM)
        for m in self.all:
            self.reap(m)
        self.all = []
        self.foreign = set()
        self.targets = None

    # -- roles --------------------------------------------------------------------------
    def status(self, m):
        """The member's `status` answer (allocatord), or None if it does not answer."""
        try:
            return socket_command(m.sockpath, "status")
        except (OSError, ValueError):
            return None

    def leader(self):
        """The live allocatord member whose `status` says "role":"leader", or None."""
        for name in sorted(self.members):
            m = self.members[name]
            if m.impl != "allocatord":
                continue
            s = self.status(m)
            if s and s.get("role") == "leader":
                return m
        return None

    # -- foreign members ----------------------------------------------------------------
    def plan_targets(self, strategy):
        """With foreign members: every allocatord member's share as `allocatorctl plan` gives it
        for the expected members (the leader runs the same pure strategy)."""
        if not self.foreign:
            self.targets = None
            return
        names = sorted(set(self.members) | self.foreign)
        out = subprocess.run([self.ctl, "plan", "--strategy", strategy or "consistent", "--members", ",".join(names),
                              "--partitions", self.spec], check=True, capture_output=True, text=True).stdout
        mapping = json.loads(out)
        self.targets = {name: sum(len(ids) for ids in mapping.get(name, {}).values())
                        for name in self.members}

    # -- observation --------------------------------------------------------------------
    def pump(self, timeout):
        """Reads whatever is ready (waits at most `timeout` seconds)."""
        if self.pending_connect:
            self.try_connect()
            timeout = min(timeout, 0.001)
        for key, _ in self.sel.select(timeout):
            kind, m = key.data
            now = time.time()
            if kind == "watch":
                if m.sock is None:
                    continue
                try:
                    data = m.sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(m.sock)
                    m.sock.close()
                    m.sock = None
                    continue
                m.buf += data
                while b"\n" in m.buf:
                    line, m.buf = m.buf.split(b"\n", 1)
                    d = json.loads(line)
                    share = sum(len(ids) for ids in d["allocation"].values())
                    m.watch = View(tuple(sorted(d["members"])), d["generation"], d["state"], now,
                                   parse_timestamp(d["updated_at"]), share)
            elif kind == "kiel":
                try:
                    data = os.read(m.proc.stdout.fileno(), 1 << 22)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(m.proc.stdout)
                    continue
                m.buf += data
                while b"\n" in m.buf:
                    line, m.buf = m.buf.split(b"\n", 1)
                    d = json.loads(line)
                    if d.get("event") == "allocation":
                        count = d.get("partition_count", len(d.get("partitions", [])))
                        m.kiel = KielView(tuple(sorted(d["members"])), count, now, d.get("at", now))
            elif kind == "inotify":
                try:
                    data = os.read(self.ino, 65536)
                except BlockingIOError:
                    continue
                names = set()
                off = 0
                while off < len(data):
                    _, mask, _, ln = struct.unpack_from("iIII", data, off)
                    name = data[off + 16: off + 16 + ln].rstrip(b"\0").decode()
                    off += 16 + ln
                    if mask & IN_MOVED_TO and name.endswith(".json"):
                        names.add(name[:-5])
                for name in names:
                    mm = self.members.get(name)
                    if mm is None:
                        continue
                    try:
                        with open(os.path.join(self.files, name + ".json"), "rb") as f:
                            d = json.loads(f.read())
                    except (OSError, ValueError):
                        continue
                    share = sum(len(ids) for ids in d["allocation"].values())
                    mm.file = View(tuple(sorted(d["members"])), d["generation"], d["state"], now, None, share)

    def expected(self):
        return tuple(sorted(set(self.members) | self.foreign))

    def converged(self, impl, channel):
        """The time the last live member showed the converged view, or None.

        Channels: kiel, kiel_self (kiel's own stamps); watch, file, self (allocatord's
        updated_at, from the watch stream): converged with every partition held (see the
        module's docstring); agreed (watch stream: the live set at one generation, handovers
        perhaps not done)."""
        want = self.expected()
        if impl == "kiel":
            views = [m.kiel for m in self.members.values()]
            if any(v is None or v.members != want or v.count != self.P for v in views):
                return None
            return max(v.stamp if channel == "kiel_self" else v.seen for v in views)
        members = list(self.members.values())
        views = [m.file if channel == "file" else m.watch for m in members]
        if any(v is None or v.members != want or v.state != "active" for v in views):
            return None
        if len({v.generation for v in views}) != 1:
            return None
        if channel != "agreed":
            if self.targets is not None:
                if any(v.share != self.targets.get(m.name, 0) for m, v in zip(members, views)):
                    return None
            elif sum(v.share for v in views) != self.P:
                return None
        return max(v.stamp if channel == "self" else v.seen for v in views)

    def channels(self, impl):
        return ["kiel", "kiel_self"] if impl == "kiel" else ["watch", "file", "self", "agreed"]

    def wait(self, impl, timeout):
        """Waits until converged on every channel; returns {channel: time} (None: timed out).
        Each channel's time is taken the first time it converges (a later lease renewal does
        not move it)."""
        done = {c: None for c in self.channels(impl)}
        deadline = time.time() + timeout
        while True:
            for c in done:
                if done[c] is None:
                    done[c] = self.converged(impl, c)
            if all(v is not None for v in done.values()) or time.time() >= deadline:
                return done
            self.pump(0.05)

    def settle(self, seconds):
        end = time.time() + seconds
        while True:
            left = end - time.time()
            if left <= 0:
                return
            self.pump(left)

    def ctime(self, group, name):
        stat = self.zkc.exists("/kiel/groups/%s/members/%s" % (group, name))
        return stat.ctime / 1000.0 if stat else None
