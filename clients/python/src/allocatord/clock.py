"""The two clocks a lease is held to (spec section 8), injectable for tests."""

from __future__ import annotations

import time
from typing import Optional, Protocol


class Clock(Protocol):
    """Where the client reads the time. A test passes its own to step the wall clock."""

    def wall(self) -> float:
        """Seconds since the epoch, as `time.time()`."""
        ...

    def boottime_ns(self) -> Optional[int]:
        """The host's CLOCK_BOOTTIME in nanoseconds, or `None` where there is none."""
        ...


class SystemClock:
    """The host's clocks: `time.time()` and `clock_gettime_ns(CLOCK_BOOTTIME)` (Linux).

    CLOCK_BOOTTIME counts time spent suspended and is never stepped, unlike the wall clock.
    Where it does not exist, `boottime_ns` is `None` and leases are held to the wall clock
    alone.
    """

    def wall(self) -> float:
        return time.time()

    def boottime_ns(self) -> Optional[int]:
        boottime = getattr(time, "CLOCK_BOOTTIME", None)
        if boottime is None:
            return None
        return time.clock_gettime_ns(boottime)
