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

3. Issue 13 (`--issue13`, only this part): `sticky` and weights, P = 100 000, 10 topics,
   N in {10, 100, 1000}. Start: the plan without --current (sticky then equals consistent).
   K single joins and K single leaves through `plan --strategy sticky --current START`, and a
   chain of C random joins and leaves (each from the previous result): moved against the
   minimum any allocation within the quotas must move (P minus the most it can keep:
   sum of min(held, floor) plus one per extra given to a member holding more than its floor),
   and the balance. Weighted (weights 1-4 drawn with a fixed seed, joiners too): every
   member's distance to its exact quota P*w/W under sticky and consistent, and consistent's
   movement against that minimum, next to unweighted consistent's measured the same way.
   Timing: the whole `plan` command at N = 1000 for consistent, weighted consistent, sticky
   without --current and sticky with --current (a join).

Prints Markdown tables (the ones in docs/benchmarks.md) and writes the raw numbers as
JSON to --json (default: none).
"""
import argparse
import json
import os
import random
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


def timing(ctl, strategy, pfile, mfile, runs, folder, extra=()):
    """Median, min and max wall time in ms of one plan run."""
    cmd = [ctl, "plan", "--strategy", strategy, "--members-file", mfile, "--partitions", pfile] + list(extra)
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


def plan_with(ctl, strategy, pspec, members, folder, weights=None, current=None):
    """The mapping plan prints for these members, weights ({member: w}) and current mapping."""
    _, mfile = write_inputs(folder, 0, members)
    cmd = [ctl, "plan", "--strategy", strategy, "--members-file", mfile, "--partitions", pspec]
    if weights:
        cmd += ["--weights", ",".join("%s=%d" % (m, w) for m, w in sorted(weights.items()) if m in members and w != 1)]
        if cmd[-1] == "":
            cmd = cmd[:-2]
    if current is not None:
        cfile = os.path.join(folder, "current.json")
        with open(cfile, "w") as f:
            json.dump(current, f)
        cmd += ["--current", cfile]
    out = subprocess.run(cmd, check=True, capture_output=True)
    return json.loads(out.stdout)


def counts(mapping):
    return {m: sum(len(ids) for ids in share.values()) for m, share in mapping.items()}


def minimum_moves(before_owners, members, weights, p):
    """The fewest partitions any allocation within the weighted quotas moves from before."""
    w = {m: weights.get(m, 1) for m in members}
    total = sum(w.values())
    floors = {m: p * w[m] // total for m in members}
    extras = p - sum(floors.values())
    held = {m: 0 for m in members}
    for owner in before_owners.values():
        if owner in held:
            held[owner] += 1
    kept = sum(min(held[m], floors[m]) for m in members)
    over = sum(1 for m in members if p * w[m] % total > 0 and held[m] > floors[m])
    return p - kept - min(extras, over)


def quota_error(mapping, weights, p):
    """The largest |count - P*w/W| over the members."""
    c = counts(mapping)
    total = sum(weights.get(m, 1) for m in c)
    return max(abs(c[m] - p * weights.get(m, 1) / total) for m in c)


def issue13(ctl, folder, samples, chain, runs, results):
    p = 100_000
    pspec = ",".join("topic-%d:0-%d" % (t, p // TOPICS - 1) for t in range(TOPICS))
    rng = random.Random(13)

    print("## Issue 13: sticky, P = 100 000 (%d joins and %d leaves from the start; a chain of %d)\n"
          % (samples, samples, chain))
    print("| N | join: avg moved (minimum) | ratio | leave: avg moved (minimum) | ratio | "
          "chain: steps at the minimum | max−min (worst of all) |")
    print("|---|---|---|---|---|---|---|")
    for n in (10, 100, 1000):
        members = ["host-%d" % i for i in range(n)]
        start = plan_with(ctl, "sticky", pspec, members, folder)
        own = owners(start)
        spread = [max(counts(start).values()) - min(counts(start).values())]
        joins, jmin, leaves, lmin = [], [], [], []
        for k in range(samples):
            after = plan_with(ctl, "sticky", pspec, members + ["joiner-%d" % k], folder, current=start)
            joins.append(moved(own, owners(after)))
            jmin.append(minimum_moves(own, members + ["joiner-%d" % k], {}, p))
            spread.append(max(counts(after).values()) - min(counts(after).values()))
            leaver = members[(k * n) // samples]
            rest = [m for m in members if m != leaver]
            after = plan_with(ctl, "sticky", pspec, rest, folder, current=start)
            leaves.append(moved(own, owners(after)))
            lmin.append(minimum_moves(own, rest, {}, p))
            spread.append(max(counts(after).values()) - min(counts(after).values()))
        at_minimum = 0
        current, group, joined = start, list(members), 0
        for _ in range(chain):
            if rng.random() < 0.5 or len(group) < 2:
                group = group + ["chain-%d" % joined]
                joined += 1
            else:
                group = [m for m in group if m != rng.choice(group)]
            after = plan_with(ctl, "sticky", pspec, group, folder, current=current)
            if moved(owners(current), owners(after)) == minimum_moves(owners(current), group, {}, p):
                at_minimum += 1
            spread.append(max(counts(after).values()) - min(counts(after).values()))
            current = after
        row = dict(p=p, n=n, join_avg=statistics.mean(joins), join_min=statistics.mean(jmin),
                   leave_avg=statistics.mean(leaves), leave_min=statistics.mean(lmin),
                   chain_at_minimum=at_minimum, chain=chain, worst_spread=max(spread))
        results["issue13_sticky"].append(row)
        print("| %d | %.1f (%.1f) | %.2f | %.1f (%.1f) | %.2f | %d / %d | %d |" % (
            n, row["join_avg"], row["join_min"], row["join_avg"] / row["join_min"],
            row["leave_avg"], row["leave_min"], row["leave_avg"] / row["leave_min"],
            at_minimum, chain, row["worst_spread"]), flush=True)
    print()

    print("## Issue 13: weights 1-4 at random, P = 100 000 (%d joins, %d leaves)\n" % (samples, samples))
    print("| strategy | N | worst \\|count − P·w/W\\| | join: moved / minimum | leave: moved / minimum | "
          "unweighted consistent, same runs: join / leave |")
    print("|---|---|---|---|---|---|")
    for n in (10, 100, 1000):
        members = ["host-%d" % i for i in range(n)]
        weights = {m: rng.randint(1, 4) for m in members}
        joiner_weights = [rng.randint(1, 4) for _ in range(samples)]
        unweighted = {}
        base = plan_with(ctl, "consistent", pspec, members, folder)
        uj, ul = [], []
        for k in range(samples):
            after = plan_with(ctl, "consistent", pspec, members + ["joiner-%d" % k], folder)
            uj.append(moved(owners(base), owners(after)) / minimum_moves(owners(base), members + ["joiner-%d" % k], {}, p))
            rest = [m for m in members if m != members[(k * n) // samples]]
            after = plan_with(ctl, "consistent", pspec, rest, folder)
            ul.append(moved(owners(base), owners(after)) / minimum_moves(owners(base), rest, {}, p))
        unweighted = (statistics.mean(uj), statistics.mean(ul))
        for strategy in ("consistent", "sticky"):
            start = plan_with(ctl, strategy, pspec, members, folder, weights=weights)
            errors = [quota_error(start, weights, p)]
            jr, lr = [], []
            for k in range(samples):
                joiner = "joiner-%d" % k
                w = dict(weights, **{joiner: joiner_weights[k]})
                current = start if strategy == "sticky" else None
                after = plan_with(ctl, strategy, pspec, members + [joiner], folder, weights=w, current=current)
                errors.append(quota_error(after, w, p))
                jr.append(moved(owners(start), owners(after)) / minimum_moves(owners(start), members + [joiner], w, p))
                rest = [m for m in members if m != members[(k * n) // samples]]
                after = plan_with(ctl, strategy, pspec, rest, folder, weights=weights, current=current)
                errors.append(quota_error(after, weights, p))
                lr.append(moved(owners(start), owners(after)) / minimum_moves(owners(start), rest, weights, p))
            row = dict(strategy=strategy, p=p, n=n, worst_quota_error=max(errors), join_ratio=statistics.mean(jr),
                       leave_ratio=statistics.mean(lr), unweighted_join_ratio=unweighted[0],
                       unweighted_leave_ratio=unweighted[1])
            results["issue13_weighted"].append(row)
            print("| %s | %d | %.4f | %.2f | %.2f | %.2f / %.2f |" % (
                strategy, n, row["worst_quota_error"], row["join_ratio"], row["leave_ratio"],
                unweighted[0], unweighted[1]), flush=True)
    print()

    print("## Issue 13: `allocatorctl plan`, P = 100 000, N = 1000, whole command (ms)\n")
    print("| strategy | median | min | max | runs |")
    print("|---|---|---|---|---|")
    members = ["host-%d" % i for i in range(1000)]
    pfile, mfile = write_inputs(folder, p, members)
    _, jfile = write_inputs(folder, p, members + ["joiner-0"])
    start = plan_with(ctl, "consistent", pspec, members, folder)
    cfile = os.path.join(folder, "start.json")
    with open(cfile, "w") as f:
        json.dump(start, f)
    weights = {m: rng.randint(1, 4) for m in members}
    wspec = ",".join("%s=%d" % (m, w) for m, w in sorted(weights.items()) if w != 1)
    for label, strategy, mf, extra in (
            ("consistent", "consistent", mfile, ()),
            ("consistent, weights 1-4", "consistent", mfile, ("--weights", wspec)),
            ("sticky, no --current (= consistent)", "sticky", mfile, ()),
            ("sticky --current, a join", "sticky", jfile, ("--current", cfile)),
            ("sticky --current, nothing changed", "sticky", mfile, ("--current", cfile))):
        med, lo, hi, count = timing(ctl, strategy, pfile, mf, runs, folder, extra)
        results["issue13_timing"].append(dict(label=label, median_ms=med, min_ms=lo, max_ms=hi, runs=count))
        print("| %s | %.1f | %.1f | %.1f | %d |" % (label, med, lo, hi, count), flush=True)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"),
                    help="folder with allocatorctl (default: .build/release)")
    ap.add_argument("--samples", type=int, default=10, help="joins and leaves per size (default 10)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per strategy (default 10)")
    ap.add_argument("--quick", action="store_true", help="only P = 10 000 for movement")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-movement", action="store_true")
    ap.add_argument("--issue13", action="store_true", help="only the measurements of issue 13 (sticky, weights)")
    ap.add_argument("--chain", type=int, default=20, help="issue 13: consecutive joins and leaves (default 20)")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    ctl = os.path.join(args.bin, "allocatorctl")
    if not os.access(ctl, os.X_OK):
        sys.exit("no %s: flock /tmp/swift-build.lock swift build -c release --product allocatorctl" % ctl)

    results = {"timing": [], "movement": [], "issue13_sticky": [], "issue13_weighted": [], "issue13_timing": []}
    with tempfile.TemporaryDirectory(prefix="bench-strategy-") as folder:
        if args.issue13:
            issue13(ctl, folder, args.samples, args.chain, args.runs, results)
        if not args.skip_timing and not args.issue13:
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

        if not args.skip_movement and not args.issue13:
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
