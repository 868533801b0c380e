"""Boot a Cortex-M ELF in qemu-system-arm with its UART on a loopback socket.

QEMU runs with ``-icount shift=0`` (every instruction advances virtual time by exactly 1 ns, so
SysTick readings are deterministic and convert to instruction counts) and semihosting (a fault or
exit in the firmware ends QEMU with the program's exit code). The UART is a TCP server on
127.0.0.1 that QEMU opens before starting the CPU (``wait=on``): the firmware's first byte cannot
be lost. Every wait has a deadline; the process is killed on close, on error and on exit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from targets.mcu.boards import Board

from .errors import BoardError
from .transport import SocketTransport

EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage fault", 5: "BusFault", 6: "UsageFault",
              7: "SecureFault", 11: "SVCall", 12: "DebugMonitor", 14: "PendSV"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_binary() -> str:
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        raise BoardError("running on an emulated Cortex-M board needs qemu-system-arm; install it with: "
                         "apt-get install qemu-system-arm")
    return qemu


def qemu_command(board: Board, elf: Path, port: int) -> list[str]:
    return [qemu_binary(), "-M", board.machine, "-nographic", "-monitor", "none", "-icount", "shift=0",
            "-semihosting-config", "enable=on,target=native",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on", "-kernel", str(elf)]


def exit_reason(code: int) -> str:
    """What the firmware's exit code means (startup.c: 128 + exception number on a fault)."""
    if code >= 128 and code - 128 in EXCEPTIONS:
        return f"the firmware faulted ({EXCEPTIONS[code - 128]}, exit code {code})"
    if code < 0:
        return f"QEMU was killed by signal {-code}"
    return f"QEMU exited with code {code}"


class QemuBoard:
    """``with QemuBoard(board, elf) as link: ...``: a running emulated board and its UART link."""

    def __init__(self, board: Board, elf: str | Path, start_timeout: float = 20.0) -> None:
        self.board, self.elf, self.start_timeout = board, Path(elf), start_timeout
        self.process: subprocess.Popen | None = None
        self.transport: SocketTransport | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def description(self) -> str:
        return f"{self.board.target} board ({self.board.machine} under QEMU)"

    def start(self) -> SocketTransport:
        if not self.elf.is_file():
            raise BoardError(f"{self.elf} does not exist; build it first (make -C {self.elf.parent.parent})")
        for _ in range(3):  # the free port may be taken between choosing and binding it: try again
            port = free_port()
            self.process = subprocess.Popen(qemu_command(self.board, self.elf, port), stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
            sock = self._connect(port)
            if sock is not None:
                self.transport = SocketTransport(sock, f"the {self.description}")
                return self.transport
            if "Address already in use" not in self.log():
                break
        output = self.log().strip()[-300:] or "no output"
        self.close()
        raise BoardError(f"could not start the {self.description}: {output}")

    def _connect(self, port: int) -> socket.socket | None:
        """Connect to QEMU's serial socket; None if QEMU exited first; BoardError after the deadline."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return None
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=1.0)
            except OSError:
                time.sleep(0.02)
        self.close()
        raise BoardError(f"the {self.description} did not open its serial port within {self.start_timeout:g} s")

    def log(self) -> str:
        """What QEMU printed so far (empty once closed)."""
        if self._log.closed:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stopped(self, grace: float = 1.0) -> str | None:
        """Why QEMU is no longer running (None while it runs); waits ``grace`` s for it to finish
        exiting (its socket closes a moment before the process is gone)."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return None
        return exit_reason(self.process.returncode)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()

    def __enter__(self) -> SocketTransport:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
