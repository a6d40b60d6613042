#!/usr/bin/env python3
"""A kiel 0.9.3 PartitionAllocator peer for the convergence benchmark.

Tests/kiel/kiel_peer.py prints the whole view (every partition and the whole mapping,
~0.5 MB of JSON for 10 000 partitions) on every rebalance, which costs the peer more CPU
than kiel's own rebalance. This peer is the same kiel object (same patch, same
naive_allocator, imported from kiel_peer.py) but prints one short line per rebalance:

    {"at":T,"event":"allocation","member":M,"members":[...],"partition_count":P,"share":S}

T is the peer's own clock (time.time()) when kiel called on_rebalance, the moment kiel's
allocation is known, so the driver's own scheduling does not count.

Run with the python of scripts/kiel-venv:
    kiel_light_peer.py --zk HOSTS --group G --member M [--partitions SPEC]
SIGTERM/SIGINT or EOF on stdin: stop() (leave the party, close the session), exit 0.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "kiel"))
import kiel_peer  # noqa: E402  (apply_py3_patch, parse_spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zk", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--member", required=True)
    ap.add_argument("--partitions", default="")
    args = ap.parse_args()
    kiel_peer.apply_py3_patch()
    asyncio.set_event_loop(asyncio.new_event_loop())
    from kiel.zookeeper.allocator import PartitionAllocator
    from kiel.clients.grouped import naive_allocator

    lock = threading.Lock()
    view = {}

    def allocator_fn(members, partitions):
        mapping = naive_allocator(members, partitions)
        view["members"], view["count"] = list(members), len(partitions)
        view["share"] = sum(len(ids) for ids in mapping.get(args.member, {}).values())
        return mapping

    def on_rebalance():
        line = json.dumps({"at": time.time(), "event": "allocation", "member": args.member, "members": view["members"],
                           "partition_count": view["count"], "share": view["share"]},
                          sort_keys=True, separators=(",", ":"))
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    alloc = PartitionAllocator([args.zk], args.group, args.member, allocator_fn, on_rebalance=on_rebalance)

    class Stop(Exception):
        pass

    def on_signal(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        alloc.start(kiel_peer.parse_spec(args.partitions)).result()
        with lock:
            sys.stdout.write(json.dumps({"event": "started", "member": args.member}) + "\n")
            sys.stdout.flush()
        for _ in sys.stdin:
            pass
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        alloc.stop().result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
