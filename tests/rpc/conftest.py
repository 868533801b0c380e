"""Servers for the RPC tests, each a real process on 127.0.0.1 with a port the OS picks.

``Service`` starts a command, waits for the line that says where it listens and stops it with a
signal at the end (its whole process group, so TVM's helper processes go too).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, TINY_CNN, run_cli

EDGEC = [sys.executable, "-m", "compiler.cli"]
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class Service:
    def __init__(self, command: list[str], ready: re.Pattern = LISTENING, timeout: float = 60.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait_for(ready, timeout).group(1)) if ready.groups else None
        self.address = f"127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern | str, timeout: float = 30.0) -> re.Match:
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if match := pattern.search(line):
                return match
        raise AssertionError(f"no line matching {pattern.pattern!r}; output so far: {self.lines}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        else:
            try:  # helper processes left behind (TVM's stock server forks a worker)
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def service():
    started: list[Service] = []

    def start(command: list[str], **kw) -> Service:
        started.append(Service(command, **kw))
        return started[-1]

    yield start
    for svc in reversed(started):
        svc.stop()


@pytest.fixture(scope="session")
def host_artifact(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rpc") / "tiny_host"
    assert run_cli("compile", TINY_CNN, "-o", out).code == 0
    return out
