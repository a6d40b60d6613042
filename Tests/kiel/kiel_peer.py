#!/usr/bin/env python3
"""A real kiel 0.9.3 PartitionAllocator as a test peer for allocatord.

Run with the venv that has kiel==0.9.3 (and kazoo) installed:

    .venv-kiel/bin/python (made by scripts/kiel-venv) kiel_peer.py --zk 127.0.0.1:2181 --group G \
        --member kiel-a --partitions t:0-3,u:0

stdout: one JSON object per line (keys sorted, compact):
  {"event":"started","member":...}                     after start() returned
  {"event":"allocation","member":...,"members":[...],"partitions":[...],
   "allocation":{"TOPIC":[ID,...]},"mapping":{...}}   whenever the view or
                          the result changes (ids in kiel's own order)
  {"event":"ok","cmd":"add",...} / {"event":"error","cmd":...,"message":...}
  {"event":"stopped","member":...}                     after stop()
stdin, one command a line:
  add SPEC      -> PartitionAllocator.add_partitions({topic: [ids]})
  remove SPEC   -> SharedSet.remove_items({"topic:id",...}) (kiel's own
                   remove_partitions is broken, see notes; "remove-kiel SPEC"
                   calls it anyway)
  print         -> re-print the current allocation line
EOF on stdin or SIGTERM/SIGINT: stop() (leave party, close session), exit 0.
--no-patch: do not apply the Python 3 bytes monkeypatch (shows kiel's bug).
"""
import argparse
import asyncio
import json
import logging
import signal
import sys
import threading


def apply_py3_patch():
    """kiel 0.9.3 passes str (json.dumps) to KazooClient.set/create; kazoo on
    Python 3 wants bytes.  Encode str as UTF-8 (and a set/frozenset, which
    kiel's on_partition_change passes to create() when the partitions znode
    is missing, as kiel's own JSON list serialization)."""
    from kazoo.client import KazooClient
    if getattr(KazooClient, "_kiel_py3_patched", False):
        return
    orig_set, orig_create = KazooClient.set, KazooClient.create

    def enc(value):
        if isinstance(value, (set, frozenset)):
            value = json.dumps(list(value))
        if isinstance(value, str):
            value = value.encode("utf-8")
        return value

    def set_(self, path, value, version=-1):
        return orig_set(self, path, enc(value), version)

    def create(self, path, value=b"", *args, **kwargs):
        return orig_create(self, path, enc(value), *args, **kwargs)

    KazooClient.set, KazooClient.create = set_, create
    KazooClient._kiel_py3_patched = True


def parse_spec(spec):
    """'t:0-3,u:5' -> {'t': [0, 1, 2, 3], 'u': [5]} (ids may repeat topics)."""
    out = {}
    topic = None
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" in item:
            topic, ids = item.rsplit(":", 1)
        elif topic is None:
            raise ValueError("no topic in %r" % item)
        else:
            ids = item
        if "-" in ids:
            lo, hi = ids.split("-", 1)
            rng = range(int(lo), int(hi) + 1)
        else:
            rng = [int(ids)]
        out.setdefault(topic, []).extend(rng)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zk", required=True,
                    help="host:port[,host:port][/chroot]")
    ap.add_argument("--group", required=True)
    ap.add_argument("--member", required=True)
    ap.add_argument("--partitions", default="", help="seed SPEC")
    ap.add_argument("--no-patch", action="store_true")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args()

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.no_patch:
        apply_py3_patch()

    # tornado 6's concurrent.Future is asyncio.Future: give it a loop.
    # Nothing needs to run on it: kiel's start()/stop() block on
    # threading.Events while kazoo's own threads do the work.
    asyncio.set_event_loop(asyncio.new_event_loop())

    from kiel.zookeeper.allocator import PartitionAllocator
    from kiel.clients.grouped import naive_allocator

    out_lock = threading.Lock()
    state = {"view": None, "printed": None}

    def emit(obj):
        line = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def allocator_fn(members, partitions):
        mapping = naive_allocator(members, partitions)
        # plain dicts, kiel's id order kept
        plain = {m: {t: list(ids) for t, ids in tm.items()}
                 for m, tm in mapping.items()}
        state["view"] = (list(members), list(partitions), plain)
        return mapping

    def print_view(force=False):
        view = state["view"]
        if view is None:
            return
        members, partitions, plain = view
        doc = {"event": "allocation", "member": args.member,
               "members": members, "partitions": partitions,
               "allocation": plain.get(args.member, {}), "mapping": plain}
        with out_lock:
            if not force and doc == state["printed"]:
                return
            state["printed"] = doc
        emit(doc)

    alloc = PartitionAllocator([args.zk], args.group, args.member,
                               allocator_fn, on_rebalance=print_view)

    class Stop(Exception):
        pass

    def on_signal(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        f = alloc.start(parse_spec(args.partitions))
        f.result()  # raises kiel's error, e.g. the Python 3 TypeError
        emit({"event": "started", "member": args.member})
        print_view()
        for line in sys.stdin:
            cmd, _, rest = line.strip().partition(" ")
            if not cmd:
                continue
            try:
                if cmd == "add":
                    alloc.add_partitions(parse_spec(rest))
                elif cmd == "remove":
                    items = {"%s:%d" % (t, i)
                             for t, ids in parse_spec(rest).items()
                             for i in ids}
                    alloc.shared_set.remove_items(items)
                elif cmd == "remove-kiel":
                    alloc.remove_partitions(parse_spec(rest))
                elif cmd == "print":
                    print_view(force=True)
                    continue
                else:
                    raise ValueError("unknown command %r" % cmd)
                emit({"event": "ok", "cmd": cmd, "spec": rest})
            except Exception as e:  # report, keep running
                emit({"event": "error", "cmd": cmd, "spec": rest,
                      "message": "%s: %s" % (type(e).__name__, e)})
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            alloc.stop().result()
        except Exception as e:
            emit({"event": "error", "cmd": "stop", "message": str(e)})
        emit({"event": "stopped", "member": args.member})
    return 0


if __name__ == "__main__":
    sys.exit(main())
