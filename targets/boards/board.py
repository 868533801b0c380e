"""The emulated aarch64 board: edgec's RPC server on TVM's runtime, under qemu-aarch64, on 127.0.0.1.

The board's Python runs ``runtime/rpc/server.py`` (a standalone script: the same file a real board
gets) with ``TVM_USE_RUNTIME_LIB=1``, TVM's runtime-only library. It tests the deployment path end
to end (cross-compiled code, upload, load, run, time); its timings are emulation times, which the
server says in its device description.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from compiler.errors import TargetError

from .userland import CACHE, PYTHON, ROOT, build

SERVER = ROOT / "runtime" / "rpc" / "server.py"
NOTE = "emulated by qemu-aarch64: timings test the path, they are not the device's latency"
LISTENING = re.compile(r"listening on [^ ]+:(\d+)")


def board_env() -> dict[str, str]:
    """This process's environment for the board, minus anything that points at the host's Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "TVM_"))}
    env.update(TVM_USE_RUNTIME_LIB="1", EDGEC_BOARD_NOTE=NOTE, PYTHONUNBUFFERED="1")
    return env


def board_command(root: Path, port: int = 0, key: str = "", tracker: str | None = None,
                  extra: tuple[str, ...] = ()) -> list[str]:
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise TargetError("the emulated aarch64 board needs qemu-aarch64; install it with: apt-get install qemu-user")
    # -I: isolated (no script folder on sys.path, no user site, no PYTHON* variables)
    command = [qemu, "-L", str(root), str(root / PYTHON), "-I", str(SERVER), "--host", "127.0.0.1",
               "--port", str(port)]
    command += ["--key", key] if key else []
    command += ["--tracker", tracker] if tracker else []
    return command + list(extra)


class EmulatedBoard:
    """``with EmulatedBoard(key="board") as board: ... board.address ...`` (builds the userland first)."""

    def __init__(self, key: str = "", tracker: str | None = None, cache: Path = CACHE,
                 startup_timeout: float = 180.0, extra: tuple[str, ...] = ()) -> None:
        self.key, self.tracker, self.cache = key, tracker, cache
        self.startup_timeout, self.extra = startup_timeout, extra
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "EmulatedBoard":
        root = build(self.cache)
        self.process = subprocess.Popen(board_command(root, 0, self.key, self.tracker, self.extra), env=board_env(),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait_for(LISTENING).group(1))
        if self.tracker:
            self.wait_for(re.compile(r"registered with tracker"))
        return self

    def wait_for(self, pattern: re.Pattern, timeout: float | None = None) -> re.Match:
        """The first new output line matching ``pattern``; a TargetError with the board's output if none."""
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            match = pattern.search(line)
            if match:
                return match
        self.stop()
        raise TargetError(f"the emulated board did not print '{pattern.pattern}'; its output: "
                          + " | ".join(self.lines[-8:]))

    def _read(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> int | None:
        """SIGTERM (the server stops cleanly), then SIGKILL after 15 s; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> "EmulatedBoard":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
