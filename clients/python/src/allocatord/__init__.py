"""Client of allocatord, the sidecar that shares a group's partitions through ZooKeeper.

    import allocatord

    client = allocatord.Client()              # $ALLOCATORD_SOCKET, or group=...
    for share in client.shares():             # on every change, the lease applied
        work_on(share.assigned)

or `client.run(on_assigned=..., on_revoked=...)` with callbacks and automatic `release`.
See the package README and the daemon's docs/spec.md (sections 8, 9 and 15).
"""

from .client import Client, default_socket_path
from .clock import Clock, SystemClock
from .document import ACTIVE, JOINING, LOST, STATES, STOPPED, SUSPENDED, Document, Partition
from .errors import AllocatordError, ConnectError, ConnectionLost, DaemonError, ProtocolError
from .share import Share, ShareTracker

__version__ = "0.1.0"

__all__ = [
    "ACTIVE",
    "JOINING",
    "LOST",
    "STATES",
    "STOPPED",
    "SUSPENDED",
    "AllocatordError",
    "Client",
    "Clock",
    "ConnectError",
    "ConnectionLost",
    "DaemonError",
    "Document",
    "Partition",
    "ProtocolError",
    "Share",
    "ShareTracker",
    "SystemClock",
    "default_socket_path",
]
