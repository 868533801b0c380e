"""Byte links to a board: a TCP socket (QEMU's ``-serial tcp:...``) or a serial port (a real board).

Both give ``write(bytes)`` and ``read(n, deadline)``: ``read`` returns exactly ``n`` bytes or raises
BoardError once ``time.monotonic()`` passes ``deadline``, so nothing here can hang. The serial port
is driven with termios (raw mode, 8N1), so pyserial is not needed.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Protocol

from .errors import BoardError, BoardTimeout


class Transport(Protocol):
    description: str

    def write(self, data: bytes) -> None: ...

    def read(self, size: int, deadline: float) -> bytes: ...

    def close(self) -> None: ...


def _wait_readable(fd: int, deadline: float, what: str) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
        raise BoardTimeout(f"{what} did not answer in time")


class SocketTransport:
    """A connected TCP socket (QEMU's serial port on 127.0.0.1)."""

    def __init__(self, sock: socket.socket, description: str) -> None:
        self.sock, self.description = sock, description
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as err:
            raise BoardError(f"{self.description}: sending failed ({err.strerror or err})") from None

    def read(self, size: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < size:
            _wait_readable(self.sock.fileno(), deadline, self.description)
            try:
                chunk = self.sock.recv(size - got)
            except OSError as err:
                raise BoardError(f"{self.description}: receiving failed ({err.strerror or err})") from None
            if not chunk:
                raise BoardError(f"{self.description} closed the connection")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


class SerialTransport:
    """A serial device (``/dev/ttyACM0``) in raw 8N1 mode at ``baud``."""

    def __init__(self, path: str, baud: int = 115200) -> None:
        import termios

        self.description = f"the board on {path}"
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as err:
            raise BoardError(f"cannot open serial port {path}: {err.strerror}") from None
        try:
            speed = getattr(termios, f"B{baud}")
        except AttributeError:
            os.close(self.fd)
            raise BoardError(f"baud rate {baud} is not supported by this system") from None
        try:
            attrs = termios.tcgetattr(self.fd)
        except termios.error:
            os.close(self.fd)
            raise BoardError(f"{path} is not a serial port") from None
        iflag, oflag, cflag, lflag, _, _, cc = attrs
        iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                   | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF)
        oflag &= ~termios.OPOST
        lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
        cflag = (cflag & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB)) | termios.CS8 | termios.CLOCAL \
            | termios.CREAD
        cc[termios.VMIN], cc[termios.VTIME] = 0, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])
        termios.tcflush(self.fd, termios.TCIOFLUSH)

    def write(self, data: bytes, timeout: float = 30.0) -> None:
        view, deadline = memoryview(data), time.monotonic() + timeout
        while view:
            if time.monotonic() > deadline:
                raise BoardError(f"{self.description} does not take data (sending timed out)")
            select.select([], [self.fd], [], 1.0)
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue

    def read(self, size: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < size:
            _wait_readable(self.fd, deadline, self.description)
            data += os.read(self.fd, size - len(data))
        return bytes(data)

    def close(self) -> None:
        os.close(self.fd)
