#!/usr/bin/env python3
"""kiel 0.9.3 naive_allocator, called exactly as PartitionAllocator.rebalance
calls it (sorted(members), sorted(partitions)).  stdin: {"members": [...],
"partitions": ["topic:id", ...]}; stdout: {"MEMBER": {"TOPIC": [ID, ...]}}
with ids in kiel's order (partition-string order, e.g. [0, 1, 10, 2]);
members that get nothing are absent.  Run with .venv-kiel/bin/python (made by scripts/kiel-venv)."""
import json, sys
from kiel.clients.grouped import naive_allocator
req = json.load(sys.stdin)
mapping = naive_allocator(sorted(set(req["members"])), sorted(set(req["partitions"])))
json.dump(mapping, sys.stdout, sort_keys=True, separators=(",", ":"))
sys.stdout.write("\n")
