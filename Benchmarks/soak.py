#!/usr/bin/env python3
"""Memory over many membership changes (issue 20, item 8): does a member give back what a
change costs it?

    Benchmarks/soak.py [--members 5] [--partitions 1000] [--changes 2000]
                       [--marks 100,2000] [--json OUT]

Runs itself with the python of scripts/kiel-venv (kazoo). Starts its own ZooKeeper (benchlib),
then --members release allocatord members (`.build/release/allocatord`, --session-timeout
4000, --full-read-interval 1 h) seeding --partitions partitions (`t0:0-99,...`), and waits
until they agree. Then --changes changes, one after another: a *foreign member node* (the
driver's kazoo session creates ROOT/groups/G/members/foreign with empty data, as a kiel
consumer would) appears, and vanishes in the next change; after each the driver waits until
the group has converged (benchlib.Bench.wait: every member active at one generation naming the
expected members, each holding exactly its planned share). The leader (the member whose
`status` says "role":"leader") and one follower are measured: VmRSS and VmHWM from
/proc/PID/status before the first change and after each change count of --marks (after 2 s of
quiet, so that trailing acknowledgements and lease renewals are done).

What it shows: the resident memory per change between the marks ((RSS at the last mark - RSS at
the first) / changes between them), for the leader and the follower. Flat means within noise
(the allocator's arenas and Swift's caches move by a few MB).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import ROOT  # noqa: E402


def memory(pid):
    """VmRSS and VmHWM of `pid`, in KiB."""
    values = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--marks", default="100,2000", help="change counts after which memory is read (100,2000)")
    ap.add_argument("--session-timeout", type=int, default=4000)
    ap.add_argument("--timeout", type=float, default=30, help="longest wait for one change to converge, s")
    ap.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args()
    args.strategy = ""
    args.kiel_peer = "light"
    marks = sorted({int(m) for m in args.marks.split(",")} | {args.changes})

    with benchlib.bench_session(args, "soak-", tools=("allocatord", "allocatorctl"),
                                partitions=args.partitions,
                                extra_args=["--full-read-interval", "3600000"]) as (bench, _zookeeper, zkc):
        group = "soak-%d" % os.getpid()
        for i in range(args.members):
            bench.spawn("allocatord", group, "m%02d" % i)
        if any(v is None for v in bench.wait("allocatord", 120).values()):
            sys.exit("soak: the starting group did not converge")
        bench.settle(2)
        roles = {name: (bench.status(m) or {}).get("role") for name, m in bench.members.items()}
        leader = next(name for name, role in sorted(roles.items()) if role == "leader")
        follower = next(name for name, role in sorted(roles.items()) if role == "follower")
        pids = {"leader": bench.members[leader].proc.pid, "follower": bench.members[follower].proc.pid}
        readings = [{"changes": 0, **{role: memory(pid) for role, pid in pids.items()}}]
        print("soak: %d members, %d partitions; leader %s, follower %s; %s" % (
            args.members, args.partitions, leader, follower, readings[-1]), file=sys.stderr, flush=True)

        path = "/kiel/groups/%s/members/foreign" % group
        bench.plan_targets("")
        targets = {False: bench.targets}
        bench.foreign.add("foreign")
        bench.plan_targets("")
        targets[True] = bench.targets
        bench.foreign.discard("foreign")
        started = time.time()
        for change in range(1, args.changes + 1):
            present = change % 2 == 1
            if present:
                bench.foreign.add("foreign")
                zkc.create(path, b"", ephemeral=True)
            else:
                bench.foreign.discard("foreign")
                zkc.delete(path)
            bench.targets = targets[present]
            if any(v is None for v in bench.wait("allocatord", args.timeout).values()):
                sys.exit("soak: change %d did not converge within %.0f s" % (change, args.timeout))
            if change in marks:
                bench.settle(2)
                readings.append({"changes": change, **{role: memory(pid) for role, pid in pids.items()}})
                print("soak: after %d changes (%.0f s): %s" % (change, time.time() - started, readings[-1]),
                      file=sys.stderr, flush=True)

    first, last = readings[1] if len(readings) > 2 else readings[0], readings[-1]
    span = last["changes"] - first["changes"]
    print("\n| after changes | leader RSS (MB) | follower RSS (MB) |\n|---|---|---|")
    for r in readings:
        print("| %d | %.1f | %.1f |" % (r["changes"], r["leader"]["VmRSS"] / 1024, r["follower"]["VmRSS"] / 1024))
    for role in ("leader", "follower"):
        print("%s: %+.2f KB per change between %d and %d changes" % (
            role, (last[role]["VmRSS"] - first[role]["VmRSS"]) / span if span else 0.0, first["changes"], last["changes"]))
    benchlib.write_json(args.json, {"members": args.members, "partitions": args.partitions, "readings": readings}, 1)


if __name__ == "__main__":
    main()
