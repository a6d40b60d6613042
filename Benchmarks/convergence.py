#!/usr/bin/env python3
"""Convergence benchmark (issue 6, item 1): real release allocatord processes and real kiel
0.9.3 PartitionAllocator peers on one ZooKeeper, the same join / leave / kill -9 schedule.

    Benchmarks/convergence.py [--sizes 3,10,20] [--events 50] [--kills 10]
                              [--impl allocatord,kiel] [--strategy consistent] [--json OUT]
    Benchmarks/convergence.py --merge RUN1.json RUN2.json   # one table over both runs

Runs itself with the python of scripts/kiel-venv (it needs kazoo to read the member
nodes' creation times). Starts one ZooKeeper with `scripts/zk up --owner PID` (tick 200 ms,
so the 4000 ms session timeout is the server's maximum, kiel's default 10 s included).

For each size N and each implementation, in a fresh group, with P = 10 000 partitions
(`t0:0-999,...,t9:0-999`, every member seeds the same set):
  * start N members and wait until they agree;
  * `--events` times: a join (start one more member), then a graceful leave (SIGTERM to a
    member picked by a seeded random generator, the same picks for both implementations);
  * `--kills` times: kill -9 of a member, then a join to restore the size (not counted).
After each event the driver waits until every live member's latest published view shows
exactly the live members (allocatord: `state` active and one `generation` for all;
kiel: the allocation line of every peer lists the live members and all P partitions).

Where it looks:
  * allocatord, `watch`: one `watch` stream per member on its Unix socket (the daemon sends
    the document there first, then writes the file);
  * allocatord, `file`: the state files (all in one folder, inotify IN_MOVED_TO, read on
    rename: after the fsync and the atomic rename);
  * kiel: the peer's line on stdout (Benchmarks/kiel_light_peer.py: kiel's own object and
    naive_allocator, printing one short line per rebalance; --kiel-peer full uses
    Tests/kiel/kiel_peer.py, which prints the whole mapping on every rebalance).
Timestamps are taken by this driver (CLOCK_REALTIME) when it reads the line or the file, and
also by each member itself ("self"): allocatord's `updated_at` (when it made the document,
just before it goes to the streams and the file), the kiel peer's `at` (when kiel called
on_rebalance). With 20 busy members on 2 cores the driver is not always scheduled at once; the
self-stamped times leave its lag out. The driver asks for a higher priority (nice -10) when
it may. A third allocatord time, "complete", is when, besides, every partition is in some
member's published share: the handovers are done (joiners hold their share), not just the new
generation agreed.

Measured, per event, to the moment the last member shows the new view:
  * join: from the member node's creation (its ZooKeeper ctime, 1 ms resolution, same
    machine clock) -- the rebalance itself -- and from the spawn of the process (adds the
    process start, the session, the layout checks and the seeding under the lock);
  * leave: from the SIGTERM;
  * kill -9: from the SIGKILL (includes the session timeout).
State files and sockets live in a folder under /dev/shm (tmpfs, like /run in production)
unless --tmp says otherwise.
"""
import argparse
import ctypes
import json
import os
import random
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = ",".join("t%d:0-999" % t for t in range(10))
P = 10_000
IN_MOVED_TO = 0x80
IN_CLOSE_WRITE = 0x8

libc = ctypes.CDLL("libc.so.6", use_errno=True)


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
    import calendar
    whole, _, fraction = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))


def ensure_kazoo():
    try:
        import kazoo  # noqa: F401
    except ImportError:
        py = subprocess.run([os.path.join(ROOT, "scripts", "kiel-venv")], check=True,
                            capture_output=True, text=True).stdout.strip()
        os.execv(py, [py] + sys.argv)


class Member:
    def __init__(self, name, proc, spawned):
        self.name = name
        self.proc = proc
        self.spawned = spawned
        self.sock = None      # allocatord watch stream
        self.buf = b""
        self.watch = None     # latest (members, generation, state, seen at, updated_at, share size) from watch
        self.file = None      # latest from the file
        self.kiel = None      # latest (members, partition count, seen at, kiel's own time) from kiel


class Bench:
    def __init__(self, args, zk, folder, zkclient):
        self.args = args
        self.zk = zk
        self.folder = folder
        self.zkc = zkclient
        self.sel = selectors.DefaultSelector()
        self.members = {}       # live (name -> Member)
        self.all = []           # every process started
        self.pending_connect = set()
        self.ino = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self.files = os.path.join(folder, "files")
        os.makedirs(self.files)
        libc.inotify_add_watch(self.ino, self.files.encode(), IN_MOVED_TO | IN_CLOSE_WRITE)
        self.sel.register(self.ino, selectors.EVENT_READ, ("inotify", None))
        self.bin = os.path.join(args.bin, "allocatord")
        self.kiel_python = subprocess.run([os.path.join(ROOT, "scripts", "kiel-venv")], check=True,
                                          capture_output=True, text=True).stdout.strip()

    # -- processes ----------------------------------------------------------------------
    def spawn(self, impl, group, name):
        log = open(os.path.join(self.folder, "%s.log" % name), "wb")
        if impl == "allocatord":
            sockpath = os.path.join(self.folder, "%s.sock" % name)
            cmd = [self.bin, "--zk", self.zk, "--group", group, "--member", name,
                   "--partitions", SPEC, "--session-timeout", "4000", "--log-level", "warning",
                   "--state-file", os.path.join(self.files, name + ".json"), "--socket", sockpath]
            if self.args.strategy:
                cmd += ["--strategy", self.args.strategy]
            t = time.time()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    preexec_fn=die_with_parent)
            m = Member(name, proc, t)
            m.sockpath = sockpath
            self.pending_connect.add(m)
        else:
            peer = (os.path.join(ROOT, "Tests", "kiel", "kiel_peer.py") if self.args.kiel_peer == "full"
                    else os.path.join(ROOT, "Benchmarks", "kiel_light_peer.py"))
            cmd = [self.kiel_python, peer, "--zk", self.zk, "--group", group, "--member", name,
                   "--partitions", SPEC]
            t = time.time()
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    preexec_fn=die_with_parent)
            m = Member(name, proc, t)
            os.set_blocking(proc.stdout.fileno(), False)
            self.sel.register(proc.stdout, selectors.EVENT_READ, ("kiel", m))
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
                    m.watch = (tuple(sorted(d["members"])), d["generation"], d["state"], now,
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
                        m.kiel = (tuple(sorted(d["members"])), count, now, d.get("at", now))
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
                    mm.file = (tuple(sorted(d["members"])), d["generation"], d["state"], now)

    def converged(self, impl, channel):
        """The time the last live member showed the live set, or None.

        Channels: kiel, kiel_self (kiel's own stamps); watch, file, self (allocatord's
        updated_at, from the watch stream), complete (watch, and every partition held)."""
        want = tuple(sorted(self.members))
        if impl == "kiel":
            views = [m.kiel for m in self.members.values()]
            if any(v is None or v[0] != want or v[1] != P for v in views):
                return None
            return max(v[3 if channel == "kiel_self" else 2] for v in views)
        views = [getattr(m, "file" if channel == "file" else "watch") for m in self.members.values()]
        if any(v is None or v[0] != want or v[2] != "active" for v in views):
            return None
        if len({v[1] for v in views}) != 1:
            return None
        if channel == "complete" and sum(v[5] for v in views) != P:
            return None
        return max(v[4 if channel == "self" else 3] for v in views)

    def wait(self, impl, timeout):
        """Waits until converged on every channel; returns {channel: time} (None: timed out)."""
        channels = ["kiel", "kiel_self"] if impl == "kiel" else ["watch", "file", "self", "complete"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            done = {c: self.converged(impl, c) for c in channels}
            if all(v is not None for v in done.values()):
                return done
            self.pump(0.05)
        return {c: self.converged(impl, c) for c in channels}

    def settle(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.pump(end - time.time())

    def ctime(self, group, name):
        stat = self.zkc.exists("/kiel/groups/%s/members/%s" % (group, name))
        return stat.ctime / 1000.0 if stat else None


def run_impl(bench, impl, n, args, rng_seed, results, events=None, kills=None, label=""):
    events = args.events if events is None else events
    kills = args.kills if kills is None else kills
    group = "conv-%s%s-%d-%d" % (label, impl[0], n, os.getpid())
    prefix = impl[0]
    counter = [0]
    rng = random.Random(rng_seed)

    def new_name():
        counter[0] += 1
        return "%s%04d" % (prefix, counter[0])

    def record(kind, t0, done, extra=None):
        row = {"impl": impl, "n": n, "event": kind}
        for c, t in done.items():
            row[c] = None if t is None else (t - t0) * 1000
        if extra:
            row.update(extra)
        results.append(row)
        return row

    # start the group
    for _ in range(n):
        bench.spawn(impl, group, new_name())
    done = bench.wait(impl, 120)
    if any(v is None for v in done.values()):
        raise SystemExit("%s N=%d: the starting group did not converge" % (impl, n))
    bench.settle(args.pause)

    def join(count_it):
        name = new_name()
        m = bench.spawn(impl, group, name)
        done = bench.wait(impl, 30)
        if count_it:
            ct = bench.ctime(group, name)
            extra = {}
            for c, t in done.items():
                extra[c + "_from_node"] = None if (t is None or ct is None) else (t - ct) * 1000
            record("join", m.spawned, done, extra)
        bench.settle(args.pause)

    def leave(sig, kind):
        victim = bench.members[rng.choice(sorted(bench.members))]
        bench.forget(victim)
        t0 = time.time()
        victim.proc.send_signal(sig)
        done = bench.wait(impl, 30)
        record(kind, t0, done)
        bench.reap(victim)
        bench.settle(args.pause)

    for i in range(events):
        join(True)
        leave(signal.SIGTERM, "leave")
        print("  %s%s N=%d: %d/%d joins and leaves" % (label, impl, n, i + 1, events), file=sys.stderr, flush=True)
    for i in range(kills):
        leave(signal.SIGKILL, "kill-9")
        join(False)
        print("  %s%s N=%d: %d/%d kills" % (label, impl, n, i + 1, kills), file=sys.stderr, flush=True)
    bench.stop_all()


def summarize(results, sizes, impls):
    def stats(vals):
        vals = [v for v in vals if v is not None]
        if not vals:
            return "–"
        return "%.1f / %.1f / %.1f" % (statistics.median(vals), percentile(vals, 0.99), max(vals))

    def ratio(a, b):
        a = [v for v in a if v is not None]
        b = [v for v in b if v is not None]
        return "%.2f" % (statistics.median(a) / statistics.median(b)) if a and b else "–"

    lines = ["| N | event | measured from | allocatord `watch` | allocatord file | allocatord self | "
             "allocatord complete | kiel stdout | kiel self | samples | ÷ kiel (watch ÷ stdout) | ÷ kiel (self ÷ self) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for kind, frm in (("join", "_from_node"), ("join", ""), ("leave", ""), ("kill-9", "")):
            label = {"_from_node": "member node created"}.get(frm, {"join": "process spawned", "leave": "SIGTERM",
                                                                     "kill-9": "SIGKILL"}[kind])
            a = [r for r in results if r["impl"] == "allocatord" and r["n"] == n and r["event"] == kind]
            k = [r for r in results if r["impl"] == "kiel" and r["n"] == n and r["event"] == kind]
            if not a and not k:
                continue
            col = {c: [r.get(c + frm) for r in a] for c in ("watch", "file", "self", "complete")}
            col.update({c: [r.get(c + frm) for r in k] for c in ("kiel", "kiel_self")})
            fails = sum(1 for c in ("watch", "kiel") for v in col[c] if v is None)
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d + %d%s | %s | %s |" % (
                n, kind, label, stats(col["watch"]), stats(col["file"]), stats(col["self"]),
                stats(col["complete"]), stats(col["kiel"]), stats(col["kiel_self"]), len(a), len(k),
                (" (%d timed out)" % fails) if fails else "", ratio(col["watch"], col["kiel"]),
                ratio(col["self"], col["kiel_self"])))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--sizes", default="3,10,20")
    ap.add_argument("--events", type=int, default=50, help="joins and graceful leaves per size (50)")
    ap.add_argument("--kills", type=int, default=10, help="kill -9 events per size (10)")
    ap.add_argument("--impl", default="allocatord,kiel")
    ap.add_argument("--strategy", default="", help="allocatord's --strategy (default: consistent)")
    ap.add_argument("--kiel-peer", choices=["light", "full"], default="light")
    ap.add_argument("--pause", type=float, default=0.3, help="quiet time after each event, s (0.3)")
    ap.add_argument("--warmup", type=int, default=40,
                    help="unmeasured joins and leaves per implementation, N = 3, before measuring (40)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="no run: print the table over the samples of these --json files pooled")
    args = ap.parse_args()
    if args.merge:
        results = []
        for path in args.merge:
            with open(path) as f:
                results += json.load(f)
        sizes = sorted({r["n"] for r in results})
        print(summarize(results, sizes, None))
        return
    ensure_kazoo()
    from kazoo.client import KazooClient

    if not os.access(os.path.join(args.bin, "allocatord"), os.X_OK):
        sys.exit("no allocatord in %s: flock /tmp/swift-build.lock swift build -c release --product allocatord" % args.bin)
    sizes = [int(x) for x in args.sizes.split(",")]
    impls = args.impl.split(",")
    folder = tempfile.mkdtemp(prefix="bench-conv-", dir=args.tmp)
    zkdir = tempfile.mktemp(prefix="bench-zk-")
    zk = subprocess.run([os.path.join(ROOT, "scripts", "zk"), "up", "--owner", str(os.getpid()), zkdir],
                        check=True, capture_output=True, text=True).stdout.strip()
    zkc = KazooClient(hosts=zk)
    zkc.start()
    results = []
    bench = Bench(args, zk, folder, zkc)
    try:
        os.nice(-10)  # the observer first: members and ZooKeeper (started above) stay at 0
    except PermissionError:
        pass
    try:
        # A fresh ZooKeeper spends its first minute compiling its own code (the JVM's JIT,
        # as much CPU as 20 members): warm it with every implementation's requests first, as a
        # long-running production server is.
        for impl in impls:
            if args.warmup:
                run_impl(bench, impl, 3, args, 0, [], events=args.warmup, kills=0, label="warm-up ")
        for n in sizes:
            for impl in impls:
                print("%s, N = %d" % (impl, n), file=sys.stderr, flush=True)
                run_impl(bench, impl, n, args, args.seed * 1000 + n, results)
    finally:
        bench.stop_all()
        zkc.stop()
        zkc.close()
        subprocess.run([os.path.join(ROOT, "scripts", "zk"), "down", zkdir], capture_output=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=0)
        shutil.rmtree(folder, ignore_errors=True)
    print(summarize(results, sizes, impls))


if __name__ == "__main__":
    main()
