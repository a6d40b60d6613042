#!/usr/bin/env python3
"""The consumer of the end-to-end tests (Tests/FaultTests/ConsumerFaultTests.swift): works on
its member's share through the Python client, and appends `start PARTITION NAME PID NS` when it
begins work on a partition and `stop PARTITION NAME PID NS` when it has stopped (NS: the
CLOCK_MONOTONIC time in nanoseconds, comparable across processes of the host) to a log that
every consumer of the test shares, one write per line (O_APPEND: lines never interleave). It
works in batches of 100 ms: told to stop, it finishes the batch under way first (sleeps 100 ms
before its `stop` lines), as a real consumer would; well inside the lease's safety margin.

    logging_consumer.py LOG NAME [SOCKET]

SIGTERM or SIGINT stops it (stopping work on everything first).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import FrozenSet

import allocatord
from allocatord import Partition


def main() -> int:
    log_path, name = sys.argv[1], sys.argv[2]
    client = allocatord.Client(sys.argv[3] if len(sys.argv) > 3 else None, tick=0.05)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def record(event: str, partitions: FrozenSet[Partition]) -> None:
        for partition in sorted(partitions):
            os.write(log, f"{event} {partition} {name} {os.getpid()} {time.monotonic_ns()}\n".encode())

    def revoked(partitions: FrozenSet[Partition]) -> None:
        time.sleep(0.1)  # the batch under way
        record("stop", partitions)

    client.run(lambda partitions: record("start", partitions), revoked, stop=stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
