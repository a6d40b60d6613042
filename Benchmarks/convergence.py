#!/usr/bin/env python3
"""Convergence benchmark (issue 6, item 1; issue 10): real release allocatord processes and real
kiel 0.9.3 PartitionAllocator peers on one ZooKeeper, the same join / leave / kill -9 schedule.

    Benchmarks/convergence.py [--sizes 3,10,20] [--events 50] [--kills 10]
                              [--kill-role random|leader|follower|both]
                              [--impl allocatord,kiel] [--strategy consistent] [--json OUT]
    Benchmarks/convergence.py --merge RUN1.json RUN2.json   # one table over both runs

Runs itself with the python of scripts/kiel-venv (it needs kazoo to read the member
nodes' creation times). Starts one ZooKeeper with `scripts/zk up --owner PID` (tick 200 ms:
sessions of 400 ms to 60 s; allocatord asks for --session-timeout, 4000 ms, kiel gets kazoo's
10 s). What it shares with Benchmarks/packets.py is in Benchmarks/benchlib.py.

For each size N and each implementation, in a fresh group, with P = 10 000 partitions
(`t0:0-999,...,t9:0-999`, every member seeds the same set; `--partitions P` for another
count, e.g. 1 000 with `--strategy round-robin`, issue 21's case beside kiel's own allocator):
  * start N members and wait until they agree;
  * `--events` times: a join (start one more member), then a graceful leave (SIGTERM to a
    member picked by a seeded random generator, the same picks for both implementations);
  * `--kills` times: kill -9 of a member, then a join to restore the size (not counted).
    --kill-role says which member (allocatord; kiel has no roles, its victim is always picked
    at random): `random` (the default, as before: event `kill-9`), `leader` (the member whose
    `status` on its socket says "role":"leader": event `kill-9 leader`), `follower` (a random
    member other than the leader: `kill-9 follower`), `both` (each of the --kills rounds kills
    the leader, restores the size, then kills a follower and restores it again). kiel's
    --kills random kills stand beside each role's row in the table.
After each event the driver waits until every live member's latest published view shows
exactly the live members, converged:
  * allocatord (protocol 2): every document `active`, one `generation` for all, and every
    partition held (the shares add up to P). Protocol 2 goes through several epochs per change
    (revoke, then grant as the losers acknowledge; each epoch is published by every member with
    the new member list), so the live set at one generation is not enough: that weaker moment
    is reported too, as "first agreed" (channel `agreed`);
  * kiel: the allocation line of every peer lists the live members and all P partitions.

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
it may.

Measured, per event, to the moment the last member shows the converged view:
  * join: from the member node's creation (its ZooKeeper ctime, 1 ms resolution, same
    machine clock) -- the rebalance itself -- and from the spawn of the process (adds the
    process start, the session, the layout checks and the seeding under the lock);
  * leave: from the SIGTERM;
  * kill -9: from the SIGKILL (includes the session timeout). Below the table: how many
    allocatord kills converged (`watch`) within the session timeout + 300 ms.
Tables give p50 / p99 / max (nearest rank) per row. State files and sockets live in a folder
under /dev/shm (tmpfs, like /run in production) unless --tmp says otherwise.

Issue 10's runs (sizes 3, 10, 20, 40 against kiel; 100 allocatord members as processes):
    Benchmarks/convergence.py --sizes 3,10,20,40 --kill-role both --json conv.json
    Benchmarks/convergence.py --sizes 100 --impl allocatord --kill-role both --json conv100.json
    Benchmarks/convergence.py --merge conv.json conv100.json
"""
import argparse
import json
import os
import random
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import ROOT, partition_spec, percentile  # noqa: E402,F401

KILL_BOUND_MS = 300  # issue 10: a kill -9 converges within the session timeout + 300 ms


def run_impl(bench, impl, n, args, rng_seed, results, events=None, kills=None, label=""):
    events = args.events if events is None else events
    kills = args.kills if kills is None else kills
    tag = label.strip().replace(" ", "-")
    group = "conv-%s%s-%d-%d" % (tag + "-" if tag else "", impl[0], n, os.getpid())
    prefix = impl[0]
    counter = [0]
    rng = random.Random(rng_seed)
    timeout = max(args.timeout, float(n))

    def new_name():
        counter[0] += 1
        return "%s%04d" % (prefix, counter[0])

    def record(kind, t0, done, extra=None):
        row = {"impl": impl, "n": n, "event": kind, "session_timeout": args.session_timeout}
        for c, t in done.items():
            row[c] = None if t is None else (t - t0) * 1000
        if extra:
            row.update(extra)
        results.append(row)
        return row

    # start the group
    for _ in range(n):
        bench.spawn(impl, group, new_name())
    done = bench.wait(impl, max(120, 3 * n))
    if any(v is None for v in done.values()):
        raise SystemExit("%s N=%d: the starting group did not converge" % (impl, n))
    bench.settle(args.pause)

    def join(count_it):
        name = new_name()
        m = bench.spawn(impl, group, name)
        done = bench.wait(impl, timeout)
        if count_it:
            ct = bench.ctime(group, name)
            extra = {}
            for c, t in done.items():
                extra[c + "_from_node"] = None if (t is None or ct is None) else (t - ct) * 1000
            record("join", m.spawned, done, extra)
        bench.settle(args.pause)

    def leave(sig, kind, role="random"):
        names = sorted(bench.members)
        victim = None
        if impl == "allocatord" and role in ("leader", "follower"):
            leader = bench.leader()
            if leader is None:
                print("  %s N=%d: no member says it leads; killing one at random" % (impl, n),
                      file=sys.stderr, flush=True)
            elif role == "leader":
                victim = leader
            elif len(names) > 1:
                victim = bench.members[rng.choice([x for x in names if x != leader.name])]
        if victim is None:
            victim = bench.members[rng.choice(names)]
        bench.forget(victim)
        t0 = time.time()
        victim.proc.send_signal(sig)
        done = bench.wait(impl, timeout)
        record(kind, t0, done)
        bench.reap(victim)
        bench.settle(args.pause)

    for i in range(events):
        join(True)
        leave(signal.SIGTERM, "leave")
        print("  %s%s N=%d: %d/%d joins and leaves" % (label, impl, n, i + 1, events), file=sys.stderr, flush=True)
    roles = [None]  # kiel has no roles: --kills random kills whatever --kill-role says
    if impl == "allocatord":
        roles = {"random": [None], "leader": ["leader"], "follower": ["follower"],
                 "both": ["leader", "follower"]}[args.kill_role]
    for i in range(kills):
        for role in roles:
            if role is not None:
                leave(signal.SIGKILL, "kill-9 " + role, role)
            else:
                leave(signal.SIGKILL, "kill-9")
            join(False)
        print("  %s%s N=%d: %d/%d kills" % (label, impl, n, i + 1, kills), file=sys.stderr, flush=True)
    bench.stop_all()


ROWS = (("join", "_from_node"), ("join", ""), ("leave", ""), ("kill-9", ""), ("kill-9 leader", ""),
        ("kill-9 follower", ""))


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
             "allocatord first agreed | kiel stdout | kiel self | samples | ÷ kiel (watch ÷ stdout) | ÷ kiel (self ÷ self) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    role_rows = False
    bounds = []

    def roles_of(n):
        """allocatord's kills at size n were aimed at roles: kiel's kills go beside those rows."""
        return any(r["impl"] == "allocatord" and r["n"] == n and r["event"].startswith("kill-9 ") for r in results)

    for n in sizes:
        for kind, frm in ROWS:
            label = {"_from_node": "member node created"}.get(frm, "process spawned" if kind == "join" else
                                                             "SIGTERM" if kind == "leave" else "SIGKILL")
            a = [r for r in results if r["impl"] == "allocatord" and r["n"] == n and r["event"] == kind]
            # kiel has no leader: its kill -9 rows (random members) stand beside allocatord's per role
            k = [r for r in results if r["impl"] == "kiel" and r["n"] == n
                 and r["event"] == ("kill-9" if kind.startswith("kill-9") else kind)]
            if not a and (not k or kind != k[0]["event"] or (kind == "kill-9" and roles_of(n))):
                continue
            if kind != "kill-9" and kind.startswith("kill-9"):
                role_rows = True
            col = {c: [r.get(c + frm) for r in a] for c in ("watch", "file", "self", "agreed")}
            col.update({c: [r.get(c + frm) for r in k] for c in ("kiel", "kiel_self")})
            fails = sum(1 for c in ("watch", "kiel") for v in col[c] if v is None)
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d + %d%s | %s | %s |" % (
                n, kind, label, stats(col["watch"]), stats(col["file"]), stats(col["self"]),
                stats(col["agreed"]), stats(col["kiel"]), stats(col["kiel_self"]), len(a), len(k),
                (" (%d timed out)" % fails) if fails else "", ratio(col["watch"], col["kiel"]),
                ratio(col["self"], col["kiel_self"])))
            if kind.startswith("kill-9") and a:
                limit = {r.get("session_timeout", 4000) for r in a}
                bound = max(limit) + KILL_BOUND_MS
                within = sum(1 for v in col["watch"] if v is not None and v <= bound)
                bounds.append("allocatord N = %d, %s: %d of %d within %d ms (session timeout %s + %d ms)" % (
                    n, kind, within, len(a), bound, "/".join(str(x) for x in sorted(limit)), KILL_BOUND_MS))
    if role_rows:
        lines.append("")
        lines.append("kiel has no leader: beside allocatord's `kill-9 leader` and `kill-9 follower` rows are "
                     "kiel's kill -9 of random members (the same samples on both rows).")
    if bounds:
        lines.append("")
        lines.append("kill -9, converged (`watch`) within the session timeout + %d ms:" % KILL_BOUND_MS)
        lines += ["- " + b for b in bounds]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--sizes", default="3,10,20")
    ap.add_argument("--events", type=int, default=50, help="joins and graceful leaves per size (50)")
    ap.add_argument("--kills", type=int, default=10,
                    help="kill -9 events per size (10; allocatord: per role with --kill-role both)")
    ap.add_argument("--kill-role", choices=["random", "leader", "follower", "both"], default="random",
                    help="which allocatord member a kill -9 hits (random)")
    ap.add_argument("--impl", default="allocatord,kiel")
    ap.add_argument("--strategy", default="", help="allocatord's --strategy (default: consistent)")
    ap.add_argument("--session-timeout", type=int, default=4000, help="allocatord's --session-timeout, ms (4000)")
    ap.add_argument("--partitions", type=int, default=10_000, help="partitions in the group (10 000), 10 topics")
    ap.add_argument("--kiel-peer", choices=["light", "full"], default="light")
    ap.add_argument("--pause", type=float, default=0.3, help="quiet time after each event, s (0.3)")
    ap.add_argument("--timeout", type=float, default=30,
                    help="longest wait for one event to converge, s (30; at least N s)")
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
    sizes = [int(x) for x in args.sizes.split(",")]
    impls = args.impl.split(",")
    results = []
    try:
        with benchlib.bench_session(args, "bench-conv-", spec=partition_spec(args.partitions),
                                    partitions=args.partitions) as (bench, _, _):
            # A fresh ZooKeeper spends its first minute compiling its own code (the JVM's JIT,
            # as much CPU as 20 members): warm it with every implementation's requests first, as
            # a long-running production server is.
            for impl in impls:
                if args.warmup:
                    run_impl(bench, impl, 3, args, 0, [], events=args.warmup, kills=0, label="warm-up ")
            for n in sizes:
                for impl in impls:
                    print("%s, N = %d" % (impl, n), file=sys.stderr, flush=True)
                    run_impl(bench, impl, n, args, args.seed * 1000 + n, results)
    finally:
        benchlib.write_json(args.json, results, indent=0)
    print(summarize(results, sizes, impls))


if __name__ == "__main__":
    main()
