#!/usr/bin/env python3
"""Footprint (issue 6, item 4): memory, start-up time and binary sizes of the release build.

    Benchmarks/footprint.py [--runs 5] [--watchers 100] [--drop-caches] [--json OUT]

Starts one ZooKeeper (`scripts/zk up --owner PID`), then --runs times, each in a fresh group:
  * starts allocatord with 10 000 partitions (`t0:0-999,...,t9:0-999`, so this one member
    holds all of them) and NOTIFY_SOCKET pointing at a datagram socket bound by this
    script; start-up time = from just before spawn to the arrival of the `READY=1` datagram
    (the spec sends it after the first allocation is computed, the file written and the
    socket listening);
  * opens --watchers `watch` streams (drained), waits 2 s (a lease renewal included), and
    reads VmRSS and VmHWM from /proc/PID/status;
  * SIGTERM, and waits for the exit.
The daemon gets the Environment= of systemd/allocatord@.service (glibc malloc thresholds), as
it runs when deployed; --bin points at another build (e.g. one made with --static-swift-stdlib).
Then the sizes of .build/release/allocatord and allocatorctl, as built and after `strip`
(on copies). Prints medians (and min/max) as Markdown.

Comparing builds: VmRSS counts the binary's pages the kernel maps around each page fault, and
it maps only pages already in the page cache, so a binary just built or copied (all of it
cached) shows about 1 MB more than the same bytes cached for a while (measured: one build,
copied twice, 26.2 against 25.2 MB). --drop-caches (root) empties the page cache before each
run (`sync`, /proc/sys/vm/drop_caches), so that builds are compared from the same state.
"""
import argparse
import json
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = ",".join("t%d:0-999" % t for t in range(10))


def unit_environment():
    """The Environment= of systemd/allocatord@.service: the daemon runs as it is deployed."""
    env = {}
    with open(os.path.join(ROOT, "systemd", "allocatord@.service")) as f:
        for line in f:
            if line.startswith("Environment="):
                for item in line[len("Environment="):].split():
                    key, _, value = item.partition("=")
                    env[key] = value
    return env


UNIT_ENVIRONMENT = unit_environment()


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def drain(socks, stop):
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            key.fileobj.recv(1 << 20)


def one_run(allocatord, zk, folder, i, watchers, spec):
    notify_path = os.path.join(folder, "notify-%d.sock" % i)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    sock = os.path.join(folder, "m%d.sock" % i)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, **UNIT_ENVIRONMENT)
    log = open(os.path.join(folder, "m%d.log" % i), "wb")
    t0 = time.time()
    proc = subprocess.Popen([allocatord, "--zk", zk, "--group", "fp-%d-%d" % (os.getpid(), i), "--member", "m",
                             "--partitions", spec, "--session-timeout", "4000", "--log-level", "warning",
                             "--state-file", os.path.join(folder, "m%d.json" % i), "--socket", sock],
                            env=env, stdout=log, stderr=log)
    ready = None
    notify.settimeout(30)
    try:
        while ready is None:
            msg = notify.recv(65536).decode()
            if "READY=1" in msg.split("\n"):
                ready = (time.time() - t0) * 1000
        rss_idle = status_kb(proc.pid, "VmRSS")
        socks = []
        for _ in range(watchers):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.sendall(b"watch\n")
            socks.append(s)
        stop = threading.Event()
        t = threading.Thread(target=drain, args=(socks, stop), daemon=True)
        t.start()
        time.sleep(2.0)
        rss = status_kb(proc.pid, "VmRSS")
        hwm = status_kb(proc.pid, "VmHWM")
        threads = status_kb(proc.pid, "Threads")
        anon = status_kb(proc.pid, "RssAnon")
        filerss = status_kb(proc.pid, "RssFile")
        stop.set()
        t.join()
        for s in socks:
            s.close()
        return dict(ready_ms=ready, rss_kb=rss, hwm_kb=hwm, rss_before_watchers_kb=rss_idle, threads=threads,
                    rss_anon_kb=anon, rss_file_kb=filerss)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        notify.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--partitions", default=SPEC, help="seed SPEC (default: 10 000 partitions)")
    ap.add_argument("--drop-caches", action="store_true", help="empty the page cache before each run (root)")
    ap.add_argument("--json")
    args = ap.parse_args()
    allocatord = os.path.join(args.bin, "allocatord")
    if not os.access(allocatord, os.X_OK):
        sys.exit("no %s: flock /tmp/swift-build.lock swift build -c release --product allocatord" % allocatord)
    zkdir = tempfile.mktemp(prefix="bench-zk-")
    folder = tempfile.mkdtemp(prefix="bench-fp-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    zk = subprocess.run([os.path.join(ROOT, "scripts", "zk"), "up", "--owner", str(os.getpid()), zkdir],
                        check=True, capture_output=True, text=True).stdout.strip()
    runs = []
    try:
        for i in range(args.runs):
            if args.drop_caches:
                subprocess.run(["sync"], check=True)
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
            runs.append(one_run(allocatord, zk, folder, i, args.watchers, args.partitions))
            print("run %d: %s" % (i + 1, runs[-1]), file=sys.stderr, flush=True)
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "zk"), "down", zkdir], capture_output=True)
    sizes = {}
    for name in ("allocatord", "allocatorctl"):
        path = os.path.join(args.bin, name)
        stripped = os.path.join(folder, name + ".stripped")
        subprocess.run(["strip", "-o", stripped, path], check=True)
        sizes[name] = (os.path.getsize(path), os.path.getsize(stripped))
    shutil.rmtree(folder, ignore_errors=True)

    def med(key, scale=1.0):
        vals = [r[key] * scale for r in runs]
        return "%.1f (%.1f–%.1f)" % (statistics.median(vals), min(vals), max(vals))

    print("| measure | median (min–max) over %d runs |" % len(runs))
    print("|---|---|")
    print("| start → READY=1 (ms) | %s |" % med("ready_ms"))
    print("| VmRSS, before the watchers (MB) | %s |" % med("rss_before_watchers_kb", 1 / 1024))
    print("| VmRSS, %d watchers (MB) | %s |" % (args.watchers, med("rss_kb", 1 / 1024)))
    print("| VmHWM, %d watchers (MB) | %s |" % (args.watchers, med("hwm_kb", 1 / 1024)))
    print("| of which RssAnon (heap, stacks) (MB) | %s |" % med("rss_anon_kb", 1 / 1024))
    print("| of which RssFile (mapped binary and libraries) (MB) | %s |" % med("rss_file_kb", 1 / 1024))
    print("| threads | %s |" % med("threads"))
    print()
    print("| binary | as built (MB) | stripped (MB) |")
    print("|---|---|---|")
    for name, (raw, stripped) in sizes.items():
        print("| %s | %.1f | %.1f |" % (name, raw / 1e6, stripped / 1e6))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "sizes": sizes}, f, indent=1)


if __name__ == "__main__":
    main()
