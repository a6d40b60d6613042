#!/usr/bin/env python3
"""Socket benchmark (issue 6, item 3): `get` throughput and latency of one release allocatord.

    Benchmarks/socket-bench.py [--clients 1,10,100] [--watchers 100] [--seconds 5]
                         [--partitions SPEC] [--procs 1] [--json OUT]

Starts a ZooKeeper (`scripts/zk up --owner PID`) and one allocatord, alone in its group,
seeded with --partitions (default `t0:0-9,...,t9:0-9`, 100 partitions: a 496-byte document;
`--partitions t0:0-999,...` gives the 10 000-partition, 39 KB document), its socket in a
folder under /dev/shm. Opens --watchers `watch` streams (kept open and drained during the
whole run), then for each client count C: C connections, each a closed loop of `get\\n`
and one reply line (one request in flight per connection), for --seconds, after a 1 s
warm-up. Latency: from just before send() to the reply's last byte, per request.

--procs K splits the clients over K driver processes (the driver is Python: on this 2-core
machine one driver process and the daemon share the cores; more processes only help on
bigger machines). Reports get/s, latency p50/p90/p99/max, and the daemon's CPU use during the level (100% =
one core; the rest of the two cores is the driver's).
"""
import argparse
import json
import multiprocessing
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(s, q):
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(path, clients, seconds, warmup, out):
    """A closed loop of `get` on each of `clients` connections; returns latencies (ns)."""
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(clients):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        conns.append(s)
    lat = []
    sent_at = {}
    start = time.perf_counter_ns()
    t_warm = start + int(warmup * 1e9)
    t_end = t_warm + int(seconds * 1e9)
    for s in conns:
        sent_at[s] = time.perf_counter_ns()
        s.send(b"get\n")
        sel.register(s, selectors.EVENT_READ, [b""])
    count = 0
    pending = len(conns)
    done = False
    while pending:
        for key, _ in sel.select(1.0):
            s = key.fileobj
            data = s.recv(1 << 20)
            if not data:
                raise SystemExit("the daemon closed a connection")
            buf = key.data[0] + data
            nl = buf.count(b"\n")
            if nl == 0:
                key.data[0] = buf
                continue
            now = time.perf_counter_ns()
            key.data[0] = buf[buf.rindex(b"\n") + 1:]
            if now >= t_warm and sent_at[s] >= t_warm and now <= t_end:
                lat.append(now - sent_at[s])
                count += 1
            if now > t_end:
                done = True
            if done:
                sel.unregister(s)
                pending -= 1
                continue
            sent_at[s] = time.perf_counter_ns()
            s.send(b"get\n")
    for s in conns:
        s.close()
    out.put(lat)


class Watchers:
    """`watch` streams that are read (and dropped) in a thread of their own."""

    def __init__(self, path, count):
        import threading
        self.socks = []
        for _ in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b"watch\n")
            self.socks.append(s)
        self.lines = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        while not self.stop:
            for key, _ in sel.select(0.2):
                data = key.fileobj.recv(1 << 20)
                self.lines += data.count(b"\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--clients", default="1,10,100")
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--partitions", default=",".join("t%d:0-9" % t for t in range(10)))
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    allocatord = os.path.join(args.bin, "allocatord")
    if not os.access(allocatord, os.X_OK):
        sys.exit("no %s: flock /tmp/swift-build.lock swift build -c release --product allocatord" % allocatord)

    zkdir = tempfile.mktemp(prefix="bench-zk-")
    folder = tempfile.mkdtemp(prefix="bench-sock-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    zk = subprocess.run([os.path.join(ROOT, "scripts", "zk"), "up", "--owner", str(os.getpid()), zkdir],
                        check=True, capture_output=True, text=True).stdout.strip()
    path = os.path.join(folder, "g.sock")
    log = open(os.path.join(folder, "daemon.log"), "wb")
    daemon = subprocess.Popen([allocatord, "--zk", zk, "--group", "sock-%d" % os.getpid(), "--member", "m",
                               "--partitions", args.partitions, "--session-timeout", "4000",
                               "--log-level", "warning", "--state-file", os.path.join(folder, "g.json"),
                               "--socket", path], stdout=log, stderr=log)
    rows = []
    try:
        deadline = time.time() + 30
        while True:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(path)
                    s.sendall(b"get\n")
                    doc = s.makefile("rb").readline()
                    if json.loads(doc)["state"] == "active":
                        break
            except (OSError, ValueError):
                pass
            if time.time() > deadline:
                raise SystemExit("the daemon did not become active")
            time.sleep(0.05)
        print("document: %d bytes; %d watch streams open" % (len(doc), args.watchers), file=sys.stderr)
        watchers = Watchers(path, args.watchers)
        print("| clients | get/s | p50 (µs) | p90 | p99 | max | requests | document bytes | watch streams | daemon CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for clients in [int(c) for c in args.clients.split(",")]:
            procs = min(args.procs, clients)
            q = multiprocessing.Queue()
            workers = [multiprocessing.Process(
                target=drive, args=(path, clients // procs + (1 if i < clients % procs else 0),
                                    args.seconds, 1.0, q)) for i in range(procs)]
            c0, t0 = cpu_seconds(daemon.pid), time.time()
            for w in workers:
                w.start()
            lat = []
            for _ in workers:
                lat += q.get()
            for w in workers:
                w.join()
            cpu = (cpu_seconds(daemon.pid) - c0) / (time.time() - t0) * 100
            lat.sort()
            us = [x / 1000 for x in lat]
            row = dict(clients=clients, rate=len(lat) / args.seconds, p50=percentile(us, .5),
                       p90=percentile(us, .9), p99=percentile(us, .99), max=us[-1], requests=len(lat),
                       doc_bytes=len(doc), watchers=args.watchers, daemon_cpu_percent=cpu)
            rows.append(row)
            print("| %d | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %d | %d | %.0f%% |" % (
                clients, row["rate"], row["p50"], row["p90"], row["p99"], row["max"], len(lat), len(doc),
                args.watchers, cpu), flush=True)
        watchers.stop = True
        if daemon.poll() is not None:
            raise SystemExit("the daemon exited")
        print("watch lines received during the run: %d" % watchers.lines, file=sys.stderr)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        subprocess.run([os.path.join(ROOT, "scripts", "zk"), "down", zkdir], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
