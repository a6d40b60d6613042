"""The effective share: what a consumer may work on now, the lease applied.

`ShareTracker` is the lease timer without any I/O: documents and clock readings go in, the
share comes out, and it says when to look again. The client drives it from the socket.

Guarantees: a share is never larger than the newest document's `allocation` ∪ `revoking`, and
it is empty from the moment the lease of the newest document has ended (the earlier of the
wall-clock and the CLOCK_BOOTTIME deadline) until a newer document comes with a lease still
running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, Optional

from .clock import Clock
from .document import Document, Partition


@dataclass(frozen=True)
class Share:
    """This member's share at one moment, the lease applied.

    Two shares are equal when they hold the same `partitions` and `revoking`; what else
    changed (a renewed lease, the state, the generation) does not count as a change.
    """

    #: Everything this member may work on now: `allocation` ∪ `revoking` while the lease
    #: runs, empty once it has ended.
    partitions: FrozenSet[Partition]
    #: The part of `partitions` the daemon wants back (consumer handover): stop working on
    #: them, then `release(generation)`.
    revoking: FrozenSet[Partition]
    generation: int = field(compare=False)
    state: str = field(compare=False)
    #: True when the share is empty because the lease ended without a renewal.
    expired: bool = field(compare=False)
    #: The document the share comes from.
    document: Document = field(compare=False, repr=False)

    @property
    def assigned(self) -> FrozenSet[Partition]:
        """The partitions to work on: `partitions` less `revoking`."""
        return self.partitions - self.revoking

    @classmethod
    def of(cls, document: Document, clock: Clock) -> Share:
        """The share `document` gives now."""
        remaining = document.lease_remaining(clock.wall(), clock.boottime_ns())
        if document.share and remaining > 0:
            return cls(document.share, document.revoking, document.generation, document.state, False, document)
        return cls(frozenset(), frozenset(), document.generation, document.state, bool(document.share), document)


class ShareTracker:
    """Holds the newest document and the share it gives, and notices the lease ending."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._document: Optional[Document] = None
        self._share: Optional[Share] = None

    @property
    def share(self) -> Optional[Share]:
        """The share as last computed; `None` before the first document."""
        return self._share

    def observe(self, document: Document) -> Optional[Share]:
        """Takes a newer document; returns the share if it changed (or is the first)."""
        self._document = document
        return self._update()

    def tick(self) -> Optional[Share]:
        """Looks at the clocks; returns the share if it changed (the lease ended)."""
        return self._update() if self._document is not None else None

    def seconds_left(self) -> Optional[float]:
        """Seconds until the lease of a non-empty share ends, `None` when there is none to
        watch. Wait at most this long before `tick`."""
        if self._document is None or self._share is None or not self._share.partitions:
            return None
        return max(0.0, self._document.lease_remaining(self._clock.wall(), self._clock.boottime_ns()))

    def _update(self) -> Optional[Share]:
        assert self._document is not None
        share = Share.of(self._document, self._clock)
        changed = self._share is None or share != self._share
        self._share = share
        return share if changed else None
