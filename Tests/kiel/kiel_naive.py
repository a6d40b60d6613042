#!/usr/bin/env python3
"""kiel 0.9.3 naive_allocator, called exactly as PartitionAllocator.rebalance
calls it (sorted(members), sorted(partitions)).

One request per line on stdin: {"members": [...], "partitions": ["topic:id", ...]};
one answer per line on stdout, flushed: {"MEMBER": {"TOPIC": [ID, ...]}} with ids
in kiel's order (partition-string order, e.g. [0, 1, 10, 2]) and members that
get nothing absent.  Ends at EOF.  Run with .venv-kiel/bin/python (made by
scripts/kiel-venv)."""
import json
import sys

from kiel.clients.grouped import naive_allocator

for line in sys.stdin:
    req = json.loads(line)
    mapping = naive_allocator(sorted(set(req["members"])), sorted(set(req["partitions"])))
    sys.stdout.write(json.dumps(mapping, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()
