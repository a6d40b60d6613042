#!/usr/bin/env python3
"""ZooKeeper packets per membership change (issue 10), allocatord against kiel 0.9.3; with
--cpu also the CPU time one member spends per change.

    Benchmarks/packets.py [--sizes 10,40,100] [--events 10] [--impl allocatord,kiel]
                          [--partitions 1000] [--change node|member] [--idle 10] [--pause 1]
                          [--cpu] [--json OUT]
    Benchmarks/packets.py --merge RUN1.json RUN2.json      # the tables of earlier runs

Runs itself with the python of scripts/kiel-venv (kazoo). Starts its own ZooKeeper with
`scripts/zk up --owner PID` (tick 200 ms; `mntr` is in its 4lw.commands.whitelist) and reads
the server's counters with the four-letter word `mntr` on the client port:
packets = zk_packets_received + zk_packets_sent, server-wide (every request, reply, ping and
watch notification of every session). What it shares with Benchmarks/convergence.py is in
Benchmarks/benchlib.py; children die with the driver (PR_SET_PDEATHSIG), files and sockets go
to a folder under /dev/shm.

For each size N and each implementation, one at a time, in a fresh group:
  1. Start N members (release `.build/release/allocatord` with --session-timeout 4000, or kiel
     peers, Benchmarks/kiel_light_peer.py: kiel's PartitionAllocator and naive_allocator,
     kazoo's 10 s session) seeding --partitions partitions (1000: `t0:0-99,...,t9:0-99`, as
     issue 10's first measurement), wait until they agree, then --settle seconds of quiet.
  2. Idle rate: packets over --idle seconds of nothing happening (heartbeats: allocatord sends
     an `exists` every quarter of its session timeout, kazoo pings; the driver's own kazoo
     session is open throughout and counts as idle too).
  3. --events changes, one after another, alternating a join and a leave. What a change is
     (--change):
       node (the default): a *foreign member node* appears or vanishes: the driver's own
         kazoo session creates the ephemeral node ROOT/groups/G/members/foreign-K with empty
         data (what a kiel consumer writes; allocatord counts it as a member that gets no grant)
         and deletes it in the next change. The group is the same for both implementations
         and the joiner's own start-up traffic is left out: what is counted is the request
         that creates or deletes the node (2 packets) and everything the N members then do.
       member: a real member process joins (a new allocatord or kiel peer is started) and
         leaves again (SIGTERM) in the next change; this also counts the joiner's session,
         layout checks, seeding under the lock, and the leaver's closing.
     After each change the driver waits until the group has converged (benchlib.Bench.wait:
     allocatord, every member `active` at one generation naming the expected members and
     holding exactly the share the strategy gives it, `allocatorctl plan`, so the handovers
     are done; kiel, every peer's allocation lists the expected members and all partitions),
     then --pause seconds more (the acknowledgements that follow the last document, and any
     other trailing request, land in the change's window), then reads `mntr`.
  4. Idle rate again (--idle seconds); the rate used is the mean of before and after.
Packets per change = (packets in the change's window - idle rate x the window's length - one
`mntr` read's own packets, 3-4, measured by back-to-back reads before the idle window), averaged
over the changes: the table gives that mean (the goal's measure), the details table joins and
leaves apart, and for allocatord the epochs (leader writes) a change took. Goal (issue 10): at
most 12·N + 100 per change.

What the idle subtraction assumes: heartbeats go on during a change as when idle. allocatord's
do (an `exists` on a timer, whatever else is sent; the C library's own ping never comes then).
kazoo's do not: every request counts as a ping, and a session pings only after a third of its
session timeout without sending (3.3 s for kiel's 10 s). Each change makes every kiel peer (and
the driver's session) send a request, so in a change window they hardly ever ping, and the
subtraction takes off pings that did not happen. kiel's table cell also gives the raw mean (no
subtraction): kiel's true cost lies between the two (for a foreign node, 3·N + 2 exactly: per
peer a watch notification, a get_children and its reply; the driver's create or delete and its
reply). For allocatord the driver's own pings (about 0.6 packets/s) are the only such part.

--cpu: during the same run, the CPU time of one member per change: an allocatord follower
(a member whose `status` says "role":"follower") and the leader, a kiel peer. `perf stat -e
task-clock,context-switches -p PID` (/usr/bin/perf; every thread) over the change window
and over both idle windows; per change = (CPU in the change window - idle CPU rate x its
length) / changes. /proc/PID/stat utime + stime (10 ms ticks) is shown beside as a check.
The member also sends every document to the driver's `watch` stream and writes its state
file, as deployed members do for their consumer. Goal (issue 10): a follower at N = 20,
at most 1 ms per change; with convergence.py's 10 000 partitions and real joins and leaves:
    Benchmarks/packets.py --sizes 20 --impl allocatord,kiel --partitions 10000 --change member \
                          --events 40 --cpu --json cpu20.json

--record DIR (with --cpu): also `perf record -F 10000 --call-graph dwarf` each measured member
over the change windows, into DIR/N-follower.data and DIR/N-leader.data (`perf report -i`).

allocatord members are started with --full-read-interval 3600000 (1 h; the default 5 minutes
would put a periodic re-read of every member, O(N) packets at once, into some run's windows).
"""
import argparse
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import ROOT, CpuMeter, partition_spec  # noqa: E402


def goal(n):
    return 12 * n + 100


def run_impl(bench, zookeeper, zkc, impl, n, args):
    """One group of N members of `impl`: idle, changes, idle. Returns the result dict."""
    group = "pk-%s-%d-%d" % (impl[0], n, os.getpid())
    counter = [0]

    def new_name():
        counter[0] += 1
        return "%s%04d" % (impl[0], counter[0])

    for _ in range(n):
        bench.spawn(impl, group, new_name())
    done = bench.wait(impl, max(120, 3 * n))
    if any(v is None for v in done.values()):
        raise SystemExit("%s N=%d: the starting group did not converge" % (impl, n))
    bench.settle(args.settle)
    timeout = max(args.timeout, float(n))
    overhead = zookeeper.read_cost()  # packets of one `mntr` read, now

    meters = {}
    if args.cpu:
        if impl == "allocatord":
            roles = {}
            for name in sorted(bench.members):
                s = bench.status(bench.members[name])
                roles[name] = s.get("role") if s else None
            followers = [x for x in sorted(roles) if roles[x] == "follower"]
            leaders = [x for x in sorted(roles) if roles[x] == "leader"]
            if followers:
                meters["follower " + followers[0]] = CpuMeter(bench.members[followers[0]].proc.pid, bench.folder)
            if leaders:
                meters["leader " + leaders[0]] = CpuMeter(bench.members[leaders[0]].proc.pid, bench.folder)
        else:
            first = sorted(bench.members)[0]
            meters["peer " + first] = CpuMeter(bench.members[first].proc.pid, bench.folder)

    def idle_window():
        for meter in meters.values():
            meter.start()
        p0, t0 = zookeeper.packets(), time.time()
        bench.settle(args.idle)
        p1, t1 = zookeeper.packets(), time.time()
        cpu = {label: meter.stop() for label, meter in meters.items()}
        return {"packets": p1 - p0 - overhead, "seconds": t1 - t0, "cpu": cpu}

    print("  %s N=%d: %d members agree; idle %.0f s" % (impl, n, n, args.idle), file=sys.stderr, flush=True)
    before = idle_window()

    changes = []
    members_path = "/kiel/groups/%s/members/" % group
    foreign = []
    joined = []
    for label, meter in meters.items():
        record = None
        if args.record:
            os.makedirs(args.record, exist_ok=True)
            record = os.path.join(args.record, "%d-%s.data" % (n, label.split()[0]))
        meter.start(record=record)
    c0 = time.time()
    def generation():
        gens = [m.watch.generation for m in bench.members.values() if m.watch is not None]
        return max(gens) if impl == "allocatord" and gens else None

    for i in range(args.events):
        kind = "join" if i % 2 == 0 else "leave"
        gen0 = generation()
        if args.change == "node":
            if kind == "join":
                name = "foreign-%d" % (i // 2)
                bench.foreign.add(name)
            else:
                name = foreign.pop()
                bench.foreign.discard(name)
            if impl == "allocatord":
                bench.plan_targets(args.strategy)
            p0, t0 = zookeeper.packets(), time.time()
            if kind == "join":
                zkc.create(members_path + name, b"", ephemeral=True)
                foreign.append(name)
            else:
                zkc.delete(members_path + name)
            victim = None
        else:
            p0, t0 = zookeeper.packets(), time.time()
            victim = None
            if kind == "join":
                joined.append(bench.spawn(impl, group, new_name()))
            else:
                victim = joined.pop()
                bench.forget(victim)
                victim.proc.send_signal(signal.SIGTERM)
        got = bench.wait(impl, timeout)
        t_conv = time.time()
        if victim is not None:
            bench.reap(victim)
        bench.settle(args.pause)
        p1, t1 = zookeeper.packets(), time.time()
        converged = all(v is not None for v in got.values())
        gen1 = generation()
        changes.append({"kind": kind, "packets": p1 - p0 - overhead, "seconds": t1 - t0,
                        "converge_ms": (t_conv - t0) * 1000 if converged else None,
                        "epochs": None if gen0 is None or gen1 is None else gen1 - gen0})
        if not converged:
            print("  %s N=%d: change %d (%s) did not converge within %.0f s" % (impl, n, i + 1, kind, timeout),
                  file=sys.stderr, flush=True)
    change_cpu = {label: meter.stop() for label, meter in meters.items()}
    change_seconds = time.time() - c0
    print("  %s N=%d: %d changes done; idle %.0f s" % (impl, n, args.events, args.idle), file=sys.stderr, flush=True)
    after = idle_window()

    rate = (before["packets"] + after["packets"]) / (before["seconds"] + after["seconds"])
    for c in changes:
        c["net"] = c["packets"] - rate * c["seconds"]
    result = {"impl": impl, "n": n, "change": args.change, "partitions": args.partitions,
              "idle_before": before["packets"] / before["seconds"], "idle_after": after["packets"] / after["seconds"],
              "idle_rate": rate, "changes": changes,
              "per_change": sum(c["net"] for c in changes) / len(changes) if changes else None,
              "mntr_overhead": overhead, "session_timeout": args.session_timeout}
    if meters:
        cpu = {}
        for label in meters:
            idle_wall = before["cpu"][label]["wall_s"] + after["cpu"][label]["wall_s"]
            entry = {"change_window": change_cpu[label], "idle_before": before["cpu"][label],
                     "idle_after": after["cpu"][label], "change_seconds": change_seconds}
            for key in ("perf_ms", "proc_ms", "switches"):
                if change_cpu[label][key] is None:
                    entry[key + "_per_change"] = None
                    continue
                idle_rate = (before["cpu"][label][key] + after["cpu"][label][key]) / idle_wall
                entry[key + "_idle_per_s"] = idle_rate
                entry[key + "_per_change"] = (change_cpu[label][key] - idle_rate * change_cpu[label]["wall_s"]) / len(changes)
            cpu[label] = entry
        result["cpu"] = cpu
    # the last foreign node or joiner (an odd --events) goes, uncounted
    for name in foreign:
        zkc.delete(members_path + name)
    bench.stop_all()
    return result


def tables(results, sizes):
    def cell(r, raw=False):
        if r is None or r["per_change"] is None:
            return "–"
        if raw:
            return "%.0f (raw %.0f)" % (r["per_change"], statistics.mean(c["packets"] for c in r["changes"]))
        return "%.0f" % r["per_change"]

    by = {(r["impl"], r["n"]): r for r in results}
    changes = sorted({r["change"] for r in results})
    lines = ["Packets per change (`mntr` zk_packets_received + zk_packets_sent, idle rate subtracted; change: %s):"
             % ", ".join(changes), "",
             "| N | allocatord packets/change | kiel packets/change | goal 12·N+100 |", "|---|---|---|---|"]
    for n in sizes:
        a, k = by.get(("allocatord", n)), by.get(("kiel", n))
        met = ""
        if a and a["per_change"] is not None:
            met = " (allocatord %s)" % ("met" if a["per_change"] <= goal(n) else "**not met**")
        lines.append("| %d | %s | %s | %d%s |" % (n, cell(a), cell(k, raw=True), goal(n), met))
    if any(impl == "kiel" for impl, _ in by):
        lines += ["", "kiel's raw count (nothing subtracted) is beside: kazoo counts every request as a ping, so "
                  "a peer does not ping for a third of its session timeout (3.3 s) after the request each change "
                  "makes it send; the idle subtraction takes off pings that mostly did not happen. kiel's cost "
                  "lies between the two figures."]
    lines += ["", "Details (packets; idle in packets/s):", "",
              "| N | impl | per change (mean) | raw (mean) | join (mean) | leave (mean) | min / max | idle before / after | "
              "idle share of the change windows | changes | converged in (median ms) | epochs per change (mean) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for impl in ("allocatord", "kiel"):
            r = by.get((impl, n))
            if not r or not r["changes"]:
                continue
            nets = [c["net"] for c in r["changes"]]
            joins = [c["net"] for c in r["changes"] if c["kind"] == "join"]
            leaves = [c["net"] for c in r["changes"] if c["kind"] == "leave"]
            raw = sum(c["packets"] for c in r["changes"])
            idle = raw - sum(nets)
            conv = [c["converge_ms"] for c in r["changes"] if c["converge_ms"] is not None]
            epochs = [c["epochs"] for c in r["changes"] if c.get("epochs") is not None]
            lines.append("| %d | %s | %.0f | %.0f | %s | %s | %.0f / %.0f | %.1f / %.1f | %.0f %% | %d%s | %s | %s |" % (
                n, impl, r["per_change"], raw / len(nets), "%.0f" % statistics.mean(joins) if joins else "–",
                "%.0f" % statistics.mean(leaves) if leaves else "–", min(nets), max(nets),
                r["idle_before"], r["idle_after"], 100.0 * idle / raw if raw else 0, len(nets),
                "" if len(conv) == len(nets) else " (%d timed out)" % (len(nets) - len(conv)),
                "%.0f" % statistics.median(conv) if conv else "–",
                "%.1f" % statistics.mean(epochs) if epochs else "–"))
    cpu_rows = [(r, label, e) for r in results for label, e in sorted(r.get("cpu", {}).items())]
    if cpu_rows:
        lines += ["", "CPU per change (idle CPU subtracted; perf task-clock, /proc utime+stime beside):", "",
                  "| N | impl | member | CPU ms/change (perf) | CPU ms/change (/proc) | idle CPU ms/s (perf) | "
                  "context switches/change | goal |", "|---|---|---|---|---|---|---|---|"]
        for r, label, e in sorted(cpu_rows, key=lambda x: (x[0]["n"], x[0]["impl"], x[1])):
            def f(key, fmt="%.2f"):
                v = e.get(key)
                return "–" if v is None else fmt % v
            g = ""
            if r["impl"] == "allocatord" and label.startswith("follower") and e.get("perf_ms_per_change") is not None:
                g = "≤ 1 ms: %s" % ("met" if e["perf_ms_per_change"] <= 1.0 else "**not met**")
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
                r["n"], r["impl"], label, f("perf_ms_per_change"), f("proc_ms_per_change"),
                f("perf_ms_idle_per_s"), f("switches_per_change", "%.0f"), g))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--sizes", default="10,40,100")
    ap.add_argument("--events", type=int, default=10, help="changes per size: join, leave, join, ... (10)")
    ap.add_argument("--impl", default="allocatord,kiel")
    ap.add_argument("--change", choices=["node", "member"], default="node",
                    help="node: a foreign member node appears / vanishes; member: a member process joins / leaves (node)")
    ap.add_argument("--partitions", type=int, default=1000, help="partitions, 10 topics (1000)")
    ap.add_argument("--strategy", default="", help="allocatord's --strategy (default: consistent)")
    ap.add_argument("--session-timeout", type=int, default=4000, help="allocatord's --session-timeout, ms (4000)")
    ap.add_argument("--kiel-peer", choices=["light", "full"], default="light")
    ap.add_argument("--idle", type=float, default=10, help="each idle window, s (10; one before, one after)")
    ap.add_argument("--settle", type=float, default=3, help="quiet after the group first agrees, s (3)")
    ap.add_argument("--pause", type=float, default=1.0, help="after each change has converged, s (1.0)")
    ap.add_argument("--timeout", type=float, default=30, help="longest wait for one change, s (30; at least N s)")
    ap.add_argument("--cpu", action="store_true", help="also CPU per change of one follower and the leader (perf)")
    ap.add_argument("--record", metavar="DIR",
                    help="with --cpu: also `perf record` those members over the change windows into DIR/N-ROLE.data")
    ap.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="no run: print the tables of these --json files")
    args = ap.parse_args()
    if args.merge:
        results = []
        for path in args.merge:
            with open(path) as f:
                results += json.load(f)
        print(tables(results, sorted({r["n"] for r in results})))
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    impls = args.impl.split(",")
    results = []
    try:
        with benchlib.bench_session(args, "bench-packets-", tools=("allocatord", "allocatorctl"),
                                    spec=partition_spec(args.partitions), partitions=args.partitions,
                                    extra_args=["--full-read-interval", "3600000"]) as (bench, zookeeper, zkc):
            for n in sizes:
                for impl in impls:
                    print("%s, N = %d" % (impl, n), file=sys.stderr, flush=True)
                    results.append(run_impl(bench, zookeeper, zkc, impl, n, args))
    finally:
        benchlib.write_json(args.json, results, indent=1)
    print(tables(results, sizes))


if __name__ == "__main__":
    main()
