"""The exceptions the client raises: all are `AllocatordError`."""

from __future__ import annotations

from typing import Optional


class AllocatordError(Exception):
    """Base class of every error this package raises."""


class ConnectError(AllocatordError):
    """The socket cannot be reached: no such file, refused, or no permission.

    `socket_path` is the path tried; the operating system's error is the `__cause__`.
    """

    def __init__(self, socket_path: str, reason: str) -> None:
        super().__init__(f"cannot connect to allocatord at {socket_path}: {reason}")
        self.socket_path = socket_path


class ConnectionLost(AllocatordError):
    """The connection ended before the reply came: closed by the daemon, reset, or no reply
    within the client's timeout."""


class DaemonError(AllocatordError):
    """The daemon answered with an error line, `{"error":{"code":...,"message":...}}`.

    `code` is the machine-readable code (`unknown_command`, `bad_epoch`, `too_many_clients`,
    ..., spec section 9), `message` the daemon's explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"allocatord answered {code}: {message}")
        self.code = code
        self.message = message


class ProtocolError(AllocatordError):
    """A line from the daemon is not what the protocol says: not JSON, not a document, or over
    the length limit. `line` holds (the start of) the offending line when there is one."""

    def __init__(self, message: str, line: Optional[bytes] = None) -> None:
        super().__init__(message)
        self.line = line
