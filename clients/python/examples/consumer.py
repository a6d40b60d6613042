#!/usr/bin/env python3
"""An example consumer: works on this member's share of the group's partitions, as allocatord
publishes it, one worker thread per partition.

    python3 consumer.py [SOCKET]

The socket is SOCKET, else $ALLOCATORD_SOCKET (set when the daemon runs this program with
--exec), else the socket of $ALLOCATORD_GROUP. With the daemon's --handover consumer, a
partition moves to another member only after on_revoked below has returned for it (the client
then says `release GENERATION`). SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Dict, FrozenSet, List

import allocatord
from allocatord import Partition


class PartitionWorker:
    """Stands in for the real work on one partition: fetch a batch, process it, repeat."""

    def __init__(self, partition: Partition) -> None:
        self.partition = partition
        self.offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=str(partition), daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while not self._stop.wait(0.1):
            self.offset += 1  # fetch and process a batch of `self.partition` here

    def stop(self) -> int:
        """Finishes the batch under way and returns the offset to commit."""
        self._stop.set()
        self._thread.join()
        return self.offset


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    client = allocatord.Client(argv[1] if len(argv) > 1 else None)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    # Run by the daemon (--exec), it gets SIGHUP after each change: run() follows the socket.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    workers: Dict[Partition, PartitionWorker] = {}

    def on_assigned(partitions: FrozenSet[Partition]) -> None:
        for partition in sorted(partitions):
            workers[partition] = PartitionWorker(partition)
        print("assigned", *sorted(partitions), flush=True)

    def on_revoked(partitions: FrozenSet[Partition]) -> None:
        for partition in sorted(partitions):
            offset = workers.pop(partition).stop()
            logging.getLogger("consumer").info("%s: committing offset %d", partition, offset)  # commit here
        print("revoked", *sorted(partitions), flush=True)

    client.run(on_assigned, on_revoked, stop=stop)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
