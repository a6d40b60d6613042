#!/usr/bin/env python3
"""Strategy benchmark through the release `allocatorctl plan` (issue 6, item 2).

    Benchmarks/strategy.py [--bin DIR] [--samples K] [--runs R] [--quick]

1. Compute time: `allocatorctl plan` for P = 100 000 partitions (10 topics, given as
   `--partitions topic-0:0-9999,...`) and N = 1000 members (`--members-file`), per
   strategy, wall clock of the whole command (start, parse, allocate, print ~0.6 MB of
   JSON to /dev/null). With `hyperfine` on PATH it
   runs hyperfine (warm-up 2, at least R runs); otherwise it repeats R times. The same
   for N = 1 (the fixed cost: process start, reading and parsing the inputs, printing),
   so that the strategy's own share can be read off as the difference.
2. Movement: for P in {10 000, 100 000} and N in {10, 100, 1000}, members host-0 ...
   host-(N-1), partitions topic-0 ... topic-9 with ids 0 ... P/10-1: K single joins
   (joiner-0 ... joiner-(K-1) added to the starting group) and K single leaves (K
   members spread over the sorted group removed, one at a time), each a pair of plan
   outputs diffed partition by partition. Optimal: P/(N+1) on a join, the leaver's
   share on a leave. Balance of the starting allocation: global max-min of the members'
   counts, and per topic max-min (mean and max over the 10 topics).

Prints Markdown tables (the ones in docs/benchmarks.md) and writes the raw numbers as
JSON to --json (default: none).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRATEGIES = ["round-robin", "range", "consistent"]
TOPICS = 10


def write_inputs(folder, p, members):
    """The partitions as a SPEC (topic-0:0-9999,...) and a file with one member a line."""
    pspec = ",".join("topic-%d:0-%d" % (t, p // TOPICS - 1) for t in range(TOPICS))
    mfile = os.path.join(folder, "members-%d.txt" % abs(hash(tuple(members))))
    with open(mfile, "w") as f:
        f.write("".join(m + "\n" for m in members))
    return pspec, mfile


def plan(ctl, strategy, pfile, mfile):
    out = subprocess.run([ctl, "plan", "--strategy", strategy, "--members-file", mfile,
                          "--partitions", pfile], check=True, capture_output=True)
    return json.loads(out.stdout)


def owners(mapping):
    """partition (topic, id) -> member."""
    own = {}
    for member, share in mapping.items():
        for topic, ids in share.items():
            for i in ids:
                own[(topic, i)] = member
    return own


def moved(a, b):
    return sum(1 for k, m in a.items() if b.get(k) != m)


def balance(mapping):
    counts = [sum(len(ids) for ids in share.values()) for share in mapping.values()]
    per_topic = []
    for t in range(TOPICS):
        topic = "topic-%d" % t
        c = [len(share.get(topic, [])) for share in mapping.values()]
        per_topic.append(max(c) - min(c))
    return max(counts) - min(counts), statistics.mean(per_topic), max(per_topic)


def timing(ctl, strategy, pfile, mfile, runs, folder):
    """Median, min and max wall time in ms of one plan run."""
    cmd = [ctl, "plan", "--strategy", strategy, "--members-file", mfile, "--partitions", pfile]
    if shutil.which("hyperfine"):
        export = os.path.join(folder, "hyperfine.json")
        subprocess.run(["hyperfine", "-N", "--warmup", "2", "--min-runs", str(runs), "--style", "none",
                        "--output", "null", "--export-json", export, "--",
                        " ".join(cmd)], check=True, capture_output=True)
        with open(export) as f:
            times = json.load(f)["results"][0]["times"]
    else:
        times = []
        for _ in range(runs + 2):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        times = times[2:]
    times = [t * 1000 for t in times]
    return statistics.median(times), min(times), max(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"),
                    help="folder with allocatorctl (default: .build/release)")
    ap.add_argument("--samples", type=int, default=10, help="joins and leaves per size (default 10)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per strategy (default 10)")
    ap.add_argument("--quick", action="store_true", help="only P = 10 000 for movement")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-movement", action="store_true")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    ctl = os.path.join(args.bin, "allocatorctl")
    if not os.access(ctl, os.X_OK):
        sys.exit("no %s: flock /tmp/swift-build.lock swift build -c release --product allocatorctl" % ctl)

    results = {"timing": [], "movement": []}
    with tempfile.TemporaryDirectory(prefix="bench-strategy-") as folder:
        if not args.skip_timing:
            print("## Compute time, P = 100 000, 10 topics (wall time of `allocatorctl plan`, ms)\n")
            print("| strategy | N | median | min | max | runs |")
            print("|---|---|---|---|---|---|")
            for strategy in STRATEGIES:
                for n in (1, 1000):
                    pfile, mfile = write_inputs(folder, 100_000, ["host-%d" % i for i in range(n)])
                    med, lo, hi, count = timing(ctl, strategy, pfile, mfile, args.runs, folder)
                    results["timing"].append(dict(strategy=strategy, p=100_000, n=n, median_ms=med,
                                                  min_ms=lo, max_ms=hi, runs=count))
                    print("| %s | %d | %.1f | %.1f | %.1f | %d |" % (strategy, n, med, lo, hi, count), flush=True)
            print()

        if not args.skip_movement:
            print("## Movement on single joins and leaves, balance (%d joins, %d leaves per row)\n"
                  % (args.samples, args.samples))
            print("| strategy | P | N | join: avg moved (optimal) | ratio | max | "
                  "leave: avg moved (optimal) | ratio | max | global max−min | per-topic max−min (mean / max) |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            sizes = [10_000] if args.quick else [10_000, 100_000]
            for strategy in STRATEGIES:
                for p in sizes:
                    for n in (10, 100, 1000):
                        base_members = ["host-%d" % i for i in range(n)]
                        pfile, mfile = write_inputs(folder, p, base_members)
                        base = plan(ctl, strategy, pfile, mfile)
                        own = owners(base)
                        g, tmean, tmax = balance(base)
                        joins = []
                        for k in range(args.samples):
                            _, jf = write_inputs(folder, p, base_members + ["joiner-%d" % k])
                            joins.append(moved(own, owners(plan(ctl, strategy, pfile, jf))))
                        leaves, leave_opt = [], []
                        for k in range(args.samples):
                            # the k-th of `samples` members spread evenly over the group
                            leaver = base_members[(k * n) // args.samples]
                            rest = [m for m in base_members if m != leaver]
                            _, lf = write_inputs(folder, p, rest)
                            after = owners(plan(ctl, strategy, pfile, lf))
                            # the leaver's own partitions must move; count every change
                            leaves.append(moved(own, after))
                            leave_opt.append(sum(len(ids) for ids in base[leaver].values()))
                        jopt = p / (n + 1)
                        lopt = statistics.mean(leave_opt)
                        row = dict(strategy=strategy, p=p, n=n, join_avg=statistics.mean(joins), join_opt=jopt,
                                   join_max=max(joins), leave_avg=statistics.mean(leaves), leave_opt=lopt,
                                   leave_max=max(leaves), global_spread=g, topic_spread_mean=tmean,
                                   topic_spread_max=tmax)
                        results["movement"].append(row)
                        print("| %s | %s | %d | %.1f (%.1f) | %.2f | %d | %.1f (%.1f) | %.2f | %d | %d | %.1f / %d |" % (
                            strategy, format(p, ",").replace(",", " "), n,
                            row["join_avg"], jopt, row["join_avg"] / jopt, row["join_max"],
                            row["leave_avg"], lopt, row["leave_avg"] / lopt, row["leave_max"],
                            g, tmean, tmax), flush=True)
            print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
