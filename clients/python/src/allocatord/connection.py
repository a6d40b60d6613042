"""One connection to the daemon's socket: lines out, lines in (spec section 9)."""

from __future__ import annotations

import socket
import time
from typing import Optional

from .errors import ConnectError, ConnectionLost, ProtocolError

#: The longest reply line accepted. Documents grow with the share; this is far above any
#: znode-limited partition set.
MAX_LINE = 64 * 1024 * 1024


class LineConnection:
    """A connected stream socket that reads whole lines. Not thread-safe."""

    def __init__(self, socket_path: str, connect_timeout: float) -> None:
        self._buffer = bytearray()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.settimeout(connect_timeout)
            self._socket.connect(socket_path)
        except OSError as error:
            self._socket.close()
            reason = "timed out" if isinstance(error, socket.timeout) else (error.strerror or str(error))
            raise ConnectError(socket_path, reason) from error

    def __enter__(self) -> LineConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def send_line(self, text: str, timeout: float) -> None:
        try:
            self._socket.settimeout(timeout)
            self._socket.sendall(text.encode("utf-8") + b"\n")
        except OSError as error:
            raise ConnectionLost(f"sending {text.split(' ')[0]!r} failed: {error}") from error

    def read_line(self, timeout: Optional[float]) -> Optional[bytes]:
        """The next line without its newline, or `None` if none is complete within `timeout`
        seconds (`None`: wait for ever). A partial line stays buffered for the next call.

        Raises `ConnectionLost` when the daemon closes the connection, `ProtocolError` for a
        line over `MAX_LINE`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError(f"a line from allocatord is longer than {MAX_LINE} bytes", bytes(self._buffer[:200]))
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                self._socket.settimeout(left)
                chunk = self._socket.recv(1 << 16)
            except socket.timeout:
                return None
            except OSError as error:
                raise ConnectionLost(f"reading from allocatord failed: {error}") from error
            if not chunk:
                raise ConnectionLost("allocatord closed the connection")
            self._buffer += chunk
