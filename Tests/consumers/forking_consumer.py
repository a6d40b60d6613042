#!/usr/bin/env python3
"""The consumer of the process-tree tests (Tests/FaultTests/ConsumerTreeFaultTests.swift): a
process that forks a worker, as many real consumers do. Both append to LOG, one write per line
(O_APPEND: lines never interleave), every 20 ms while they run:

    start|alive|stop|hup ROLE NAME PID WALL_NS BOOT_NS

ROLE is `parent` or `worker`; WALL_NS is time.time_ns() (comparable with the documents'
`updated_at`), BOOT_NS the host's CLOCK_BOOTTIME (comparable with `valid_until_boottime_ns`),
both taken by the process itself. The test checks that every line was written under a lease.

    forking_consumer.py LOG NAME [--stubborn] [--escaping-worker] [--no-hup-handler-first MARKER]

SIGTERM: each process writes `stop` and exits. --stubborn: the worker ignores SIGTERM (only
SIGKILL ends it). --escaping-worker: both ignore SIGTERM and the worker leaves the process group
for a session of its own (`setsid`), so that it comes to the guard only once its parent is
killed. --no-hup-handler-first MARKER: the first run (MARKER absent, then made)
installs no SIGHUP handler, so the first SIGHUP kills both processes, as it kills a consumer
that gets its first share change before it has installed its handler; later runs log `hup`.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> int:
    log_path, name = sys.argv[1], sys.argv[2]
    options = sys.argv[3:]
    stubborn = "--stubborn" in options
    escaping = "--escaping-worker" in options
    hup_handler = True
    if "--no-hup-handler-first" in options:
        marker = options[options.index("--no-hup-handler-first") + 1]
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            hup_handler = False
        except FileExistsError:
            pass
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    role = "parent"

    def record(event: str) -> None:
        line = f"{event} {role} {name} {os.getpid()} {time.time_ns()} {time.clock_gettime_ns(time.CLOCK_BOOTTIME)}\n"
        os.write(log, line.encode())

    def stop(*_: object) -> None:
        record("stop")
        os._exit(0)

    if hup_handler:
        signal.signal(signal.SIGHUP, lambda *_: record("hup"))
    signal.signal(signal.SIGTERM, signal.SIG_IGN if escaping else stop)
    record("start")
    if os.fork() == 0:
        role = "worker"
        if stubborn:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if escaping:
            os.setsid()
        record("start")
    while True:
        time.sleep(0.02)
        record("alive")


if __name__ == "__main__":
    sys.exit(main())
