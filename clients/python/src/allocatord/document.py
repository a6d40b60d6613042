"""The document a member publishes (spec section 8), parsed and checked.

Guarantees: `Document.parse` accepts exactly the documents of spec section 8, with or without
the keys a daemon older than consumer handover leaves out (`revoking` reads as empty,
`valid_until_boottime_ns` as null), and raises `ProtocolError` on anything else, so that a
half-understood line never becomes a share.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, Mapping, Optional, Set, Tuple

from .errors import DaemonError, ProtocolError

JOINING = "joining"
ACTIVE = "active"
SUSPENDED = "suspended"
LOST = "lost"
STOPPED = "stopped"
STATES = frozenset({JOINING, ACTIVE, SUSPENDED, LOST, STOPPED})


@dataclass(frozen=True, order=True)
class Partition:
    """One partition: a topic and a non-negative id. Orders by topic, then id."""

    topic: str
    id: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.id}"


@dataclass(frozen=True)
class Document:
    """One member's published document, as it came (no lease applied: see `lease_remaining`).

    `allocation` and `revoking` are disjoint; this member's share is their union, and only
    until the lease ends (spec sections 8 and 15).
    """

    group: str
    member: str
    #: `joining`, `active`, `suspended`, `lost` or `stopped` (spec section 7).
    state: str
    #: The group's epoch the document was published for; what `release` takes.
    generation: int
    strategy: Optional[str]
    allocation: FrozenSet[Partition]
    #: Partitions taken from this member that its consumer has not released yet: still this
    #: member's under the lease. Always empty unless the daemon runs `--handover consumer`.
    revoking: FrozenSet[Partition]
    members: Tuple[str, ...]
    partition_count: int
    #: The lease on the wall clock (aware, UTC); `None` exactly when the share is empty.
    valid_until: Optional[datetime]
    #: The same deadline on the host's CLOCK_BOOTTIME, in nanoseconds; `None` when
    #: `valid_until` is, or from a daemon that does not publish it.
    valid_until_boottime_ns: Optional[int]
    updated_at: datetime

    @property
    def share(self) -> FrozenSet[Partition]:
        """`allocation` ∪ `revoking`, without regard to the lease."""
        return self.allocation | self.revoking

    def lease_remaining(self, wall: float, boottime_ns: Optional[int]) -> float:
        """Seconds left of the lease at the given clock readings; 0 or less once it has ended.

        `wall` is seconds since the epoch (`time.time()`), `boottime_ns` the host's
        CLOCK_BOOTTIME in nanoseconds, or `None` where there is none. The lease ends at the
        earlier of the two deadlines, so a wall clock stepped back cannot stretch it. A share
        without a `valid_until` has no lease at all (0).
        """
        if self.valid_until is None:
            return 0.0
        remaining = self.valid_until.timestamp() - wall
        if self.valid_until_boottime_ns is not None and boottime_ns is not None:
            remaining = min(remaining, (self.valid_until_boottime_ns - boottime_ns) / 1e9)
        return remaining

    @classmethod
    def parse(cls, line: bytes) -> Document:
        """The document of one line from `get` or `watch`.

        Raises `DaemonError` for an error line and `ProtocolError` for anything that is not a
        document.
        """
        value = _json_object(line)
        try:
            return cls.from_json(value)
        except ProtocolError as error:
            raise ProtocolError(f"not a document ({error})", line[:200]) from None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Document:
        """The document of a decoded JSON object. Raises `ProtocolError` if it is not one."""
        valid_until = _optional_timestamp(value, "valid_until")
        boottime = value.get("valid_until_boottime_ns")
        if boottime is not None and not _is_int(boottime):
            raise ProtocolError("valid_until_boottime_ns is not an integer or null")
        strategy = value.get("strategy")
        if strategy is not None and not isinstance(strategy, str):
            raise ProtocolError("strategy is not a string or null")
        members = _field(value, "members", list)
        if not all(isinstance(member, str) for member in members):
            raise ProtocolError("members is not a list of strings")
        updated_at = _optional_timestamp(value, "updated_at")
        if updated_at is None:
            raise ProtocolError("updated_at is null")
        revoking = value.get("revoking", {})
        return cls(
            group=_field(value, "group", str),
            member=_field(value, "member", str),
            state=_field(value, "state", str),
            generation=_natural(value, "generation"),
            strategy=strategy,
            allocation=_partitions(_field(value, "allocation", dict), "allocation"),
            revoking=_partitions(revoking, "revoking") if revoking is not None else frozenset(),
            members=tuple(members),
            partition_count=_natural(value, "partition_count"),
            valid_until=valid_until,
            valid_until_boottime_ns=boottime,
            updated_at=updated_at,
        )


def parse_reply(line: bytes) -> Dict[str, Any]:
    """A reply line as a JSON object; raises `DaemonError` for an error line, `ProtocolError`
    for anything that is not a JSON object."""
    return _json_object(line)


def _json_object(line: bytes) -> Dict[str, Any]:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"a line from allocatord is not JSON ({error})", line[:200]) from None
    if not isinstance(value, dict):
        raise ProtocolError("a line from allocatord is not a JSON object", line[:200])
    failure = value.get("error")
    if isinstance(failure, dict):
        raise DaemonError(str(failure.get("code", "unknown")), str(failure.get("message", "")))
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(value: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in value:
        raise ProtocolError(f"{key} is missing")
    if not isinstance(value[key], kind):
        raise ProtocolError(f"{key} is not a {kind.__name__}")
    return value[key]


def _natural(value: Mapping[str, Any], key: str) -> int:
    number = value.get(key)
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ProtocolError(f"{key} is not a non-negative integer")
    return number


def _partitions(share: Any, key: str) -> FrozenSet[Partition]:
    if not isinstance(share, dict):
        raise ProtocolError(f"{key} is not an object")
    partitions: Set[Partition] = set()
    for topic, ids in share.items():
        if not isinstance(ids, list) or not all(_is_int(id) and id >= 0 for id in ids):
            raise ProtocolError(f"{key}[{topic!r}] is not a list of non-negative integers")
        partitions.update(Partition(topic, id) for id in ids)
    return frozenset(partitions)


def _optional_timestamp(value: Mapping[str, Any], key: str) -> Optional[datetime]:
    if key not in value:
        raise ProtocolError(f"{key} is missing")
    text = value[key]
    if text is None:
        return None
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ProtocolError(f"{key} is not a UTC timestamp or null")
    try:
        # Python 3.9's fromisoformat takes "+00:00" but not "Z".
        moment = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        raise ProtocolError(f"{key} is not a UTC timestamp: {text!r}") from None
    if not math.isfinite(moment.timestamp()):
        raise ProtocolError(f"{key} is out of range")
    return moment.astimezone(timezone.utc)
