"""A Cortex-M artifact run on its board: QEMU by default, a real board with ``port='/dev/ttyACM0'``.

The board describes its model itself (INFO), so inputs are checked against what the firmware was
built with. Timing comes from SysTick ticks of the CPU clock. On a real board a tick is a cycle.
Under QEMU with ``-icount shift=0`` every instruction takes 1 ns of virtual time, so a tick is
1e9 / clock instructions (40 at 25 MHz): the figure is an instruction count, exact to one tick, and
the "time at the board clock" assumes one instruction per cycle.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from compiler.errors import ArtifactError
from runtime.host import FeedChecks, TensorSpec
from targets.mcu.boards import BOARDS, Board
from targets.mcu.project import ELF

from .errors import BoardError
from .protocol import BoardClient, BoardInfo
from .qemu import QemuBoard
from .transport import SerialTransport


def board_of(path: Path) -> Board:
    """The board an artifact was built for (``board/board.json`` written with the project)."""
    config = path / "board" / "board.json"
    if not config.is_file():
        raise ArtifactError(f"{path} is not a Cortex-M artifact (no board/board.json); "
                            f"compile it with --target cortex-m4 (or m7, m55)")
    target = json.loads(config.read_text()).get("target")
    if target not in BOARDS:
        raise ArtifactError(f"{config} names unknown board '{target}'; known: {', '.join(BOARDS)}")
    return BOARDS[target]


def is_mcu_artifact(path: str | Path) -> bool:
    return (Path(path) / "board" / "board.json").is_file()


def _specs(tensors: list[dict[str, Any]]) -> list[TensorSpec]:
    return [TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in tensors]


class McuModel(FeedChecks):
    """``with McuModel(OUT) as model: model.run({...})``; ``benchmark_ticks`` returns ticks per run.

    The same API as the host runtime's ``Model`` (``runtime.load(OUT)`` returns one): ``inputs`` and
    ``outputs`` come from the manifest, ``run`` opens the board on first use, ``benchmark`` gives
    milliseconds at the board clock. QEMU is stopped by ``close()``, at the end of a ``with`` block,
    when the model is garbage-collected, or when Python exits.
    """

    def __init__(self, path: str | Path, port: str | None = None, baud: int = 115200,
                 timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.board = board_of(self.path)
        manifest_path = self.path / "manifest.json"
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        self.port, self.baud, self.timeout = port, baud, timeout
        self.emulated = port is None
        self._qemu: QemuBoard | None = None
        self._client: BoardClient | None = None
        self._finalizer: weakref.finalize | None = None
        self.info: BoardInfo | None = None
        # from the manifest now (the host Model's API), from the board itself once open
        self.inputs: list[TensorSpec] = _specs(self.manifest.get("inputs", []))
        self.outputs: list[TensorSpec] = _specs(self.manifest.get("outputs", []))

    # -- connection ---------------------------------------------------------------------------------
    def open(self) -> "McuModel":
        if self._client is not None:  # already open (e.g. run() before a with block)
            return self
        if self.emulated:
            self._qemu = QemuBoard(self.board, self.path / ELF)
            transport = self._qemu.start()
            closer = self._qemu.close
        else:
            transport = SerialTransport(self.port, self.baud)  # type: ignore[arg-type]
            closer = transport.close
        self._finalizer = weakref.finalize(self, closer)  # never leave QEMU running or the port open
        self._client = BoardClient(transport, self.timeout)
        self.info = self._call(self._client.info)
        self.inputs = [TensorSpec(t.name, tuple(t.shape), t.dtype) for t in self.info.inputs]
        self.outputs = [TensorSpec(t.name, tuple(t.shape), t.dtype) for t in self.info.outputs]
        return self

    def _call(self, fn, *args):
        """Run a protocol call; if QEMU stopped meanwhile, say why instead of 'connection closed'."""
        try:
            return fn(*args)
        except BoardError as err:
            reason = self._qemu.stopped() if self._qemu else None
            self.close()
            if reason:
                raise BoardError(f"the {self._qemu.description} stopped: {reason}") from None
            raise err from None

    def _opened(self) -> BoardClient:
        """The protocol client, booting the board (or opening the serial port) on first use."""
        if self._client is None:
            self.open()
        assert self._client is not None
        return self._client

    def close(self) -> None:
        if self._qemu is not None:
            self._qemu.close()
        elif self._client is not None:
            self._client.transport.close()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._client = None

    def __enter__(self) -> "McuModel":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def description(self) -> str:
        if self.emulated:
            return f"{self.board.target}: {self.board.machine} emulated by qemu-system-arm -icount shift=0"
        return f"{self.board.target}: board on {self.port}"

    # -- running ------------------------------------------------------------------------------------
    def run_timed(self, feeds: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
        client = self._opened()
        outputs, ticks = self._call(client.run, self.check(feeds))
        return {spec.name: out for spec, out in zip(self.outputs, outputs)}, ticks

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return self.run_timed(feeds)[0]

    def benchmark_ticks(self, feeds: Mapping[str, Any], repeat: int = 10) -> list[int]:
        client = self._opened()
        return self._call(client.bench, self.check(feeds), repeat)

    def benchmark(self, feeds: Mapping[str, Any], repeat: int = 50, warmup: int = 5) -> list[float]:
        """Milliseconds per run at the board clock, as the host ``Model.benchmark`` (see ``figures``
        for what a tick is under QEMU). Runs on the board are deterministic: ``warmup`` is unused."""
        del warmup
        return [self.figures(ticks)["ms_at_clock"] for ticks in self.benchmark_ticks(feeds, repeat)]

    def stack_used(self) -> int:
        """Deepest stack use on the board since it started (measured: the firmware paints its stack)."""
        return self._call(self._opened().stack_used)

    # -- figures ------------------------------------------------------------------------------------
    def figures(self, ticks: int) -> dict[str, Any]:
        """What ``ticks`` of SysTick mean on this board (see the module docstring)."""
        clock = self.info.clock_hz if self.info else self.board.clock_hz
        if self.emulated:
            instructions = round(ticks * 1e9 / clock)
            return {"ticks": ticks, "instructions": instructions, "instructions_resolution": round(1e9 / clock),
                    "cycles_estimate": instructions, "ms_at_clock": instructions / clock * 1e3, "clock_hz": clock,
                    "counter": "instructions (QEMU -icount shift=0; cycles assume 1 instruction per cycle)"}
        return {"ticks": ticks, "cycles": ticks, "ms_at_clock": ticks / clock * 1e3, "clock_hz": clock,
                "counter": "cycles (SysTick on the CPU clock)"}


def load(path: str | Path, port: str | None = None, baud: int = 115200, timeout: float = 60.0) -> McuModel:
    """``runtime.load`` for a Cortex-M artifact: the board boots (QEMU, or ``port``) on the first run."""
    return McuModel(path, port=port, baud=baud, timeout=timeout)
