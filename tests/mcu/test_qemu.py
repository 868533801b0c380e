"""The fixture model on every emulated board, over the UART protocol; boards that fail or stay silent."""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest

from compiler.cli import main as edgec
from runtime.mcu.errors import BoardError
from runtime.mcu.model import McuModel
from runtime.mcu.protocol import BoardClient
from runtime.mcu.transport import SerialTransport, SocketTransport
from targets.mcu.stack import estimate_stack

from .conftest import needs_qemu
from .fixture import MODEL_INFO, build_fixture, expected, random_inputs

TARGETS = ["cortex-m3", "cortex-m4", "cortex-m7", "cortex-m55"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One fixture project per board, built once for the module."""
    cache: dict[str, object] = {}

    def get(target: str, **options):
        key = f"{target}-{sorted(options.items())}"
        if key not in cache:
            out = tmp_path_factory.mktemp(target)
            build_fixture(out, target, **options)
            cache[key] = out
        return cache[key]
    return get


@needs_qemu
@pytest.mark.parametrize("target", TARGETS)
def test_info_run_bench(built, target):
    a, b = random_inputs(seed=TARGETS.index(target))
    with McuModel(built(target), timeout=20) as model:
        info = model.info
        assert info.model == "fixture" and info.board.startswith(target)
        assert [(t.name, t.dtype, t.shape, t.scale, t.zero_point) for t in info.inputs] == \
            [("a", "int8", (2, 8), 0.5, -3), ("b", "int8", (2, 8), 0.25, 7)]
        assert [(t.name, t.dtype, t.shape) for t in info.outputs] == [("sum", "int8", (2, 8)), ("dot", "int32", (1,))]
        outputs, ticks = model.run_timed({"a": a, "b": b})
        want = expected(a, b)
        for name in want:
            np.testing.assert_array_equal(outputs[name], want[name])
        assert 0 < ticks < 1000
        figures = model.figures(ticks)
        assert figures["instructions"] == round(ticks * 1e9 / info.clock_hz)
        runs = model.benchmark_ticks({"a": a, "b": b}, repeat=70)  # two BENCH requests (64 + 6)
        assert len(runs) == 70 and max(runs) - min(runs) <= 2  # deterministic to a tick or two
        used, estimate = model.stack_used(), estimate_stack(built(target) / "build")["bytes"]
        assert 0 < used <= estimate <= info.stack_bytes, (used, estimate)  # the estimate is an upper bound


@needs_qemu
def test_cli_run_and_bench(built, tmp_path, capsys):
    a, b = random_inputs(seed=5)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = built("cortex-m4")
    assert edgec(["run", str(out), "--input", f"a={tmp_path / 'a.npy'}", "--input", f"b={tmp_path / 'b.npy'}",
                  "--output", str(tmp_path / "out.npz")]) == 0
    text = capsys.readouterr().out
    assert "instructions" in text and "mps2-an386" in text
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_array_equal(saved["sum"], expected(a, b)["sum"])
    assert edgec(["bench", str(out), "--repeat", "3", "--warmup", "1"]) == 0
    assert "median:" in capsys.readouterr().out


@needs_qemu
def test_runtime_load_boots_the_board(built, tmp_path):
    """``runtime.load(OUT)`` on a Cortex-M artifact: the host Model API, QEMU started and stopped."""
    import runtime
    from runtime.mcu import load as load_board

    out = tmp_path / "out"
    shutil.copytree(built("cortex-m4"), out)
    (out / "manifest.json").write_text(json.dumps({  # as the AOT compile writes it, for the fixture
        "runtime": "edgec-c", "library": None, "target": {"name": "cortex-m4"},
        "inputs": MODEL_INFO["inputs"], "outputs": MODEL_INFO["outputs"]}))
    model = runtime.load(out)
    assert isinstance(model, McuModel) and model._qemu is None  # nothing booted yet
    assert [(t.name, t.shape, t.dtype) for t in model.inputs] == [("a", (2, 8), "int8"), ("b", (2, 8), "int8")]
    assert [t.name for t in model.outputs] == ["sum", "dot"]
    a, b = random_inputs(seed=3)
    got = model.run({"a": a, "b": b})
    for name, want in expected(a, b).items():
        np.testing.assert_array_equal(got[name], want)
    times = model.benchmark({"a": a, "b": b}, repeat=3)
    assert len(times) == 3 and all(t > 0 for t in times)
    process = model._qemu.process
    assert process.poll() is None
    model.close()
    assert process.poll() is not None  # QEMU is gone
    with load_board(out) as again:  # the context manager, and a run() after it reopens nothing twice
        np.testing.assert_array_equal(again.run({"a": a, "b": b})["dot"], expected(a, b)["dot"])
        process = again._qemu.process
    assert process.poll() is not None
    lazy = runtime.load(out)
    lazy.run({"a": a, "b": b})
    process = lazy._qemu.process
    del lazy  # garbage-collected without close(): QEMU is still stopped
    gc.collect()
    assert process.poll() is not None


@needs_qemu
def test_silent_board_times_out(built):
    out = built("cortex-m4", hang=True)
    model = McuModel(out, timeout=2.0)
    start = time.monotonic()
    with pytest.raises(BoardError, match="did not answer in time to INFO within 2 s"):
        model.open()
    assert time.monotonic() - start < 15
    assert model._qemu is not None and model._qemu.process.poll() is not None  # QEMU was killed


@needs_qemu
def test_faulting_board_says_why(built):
    a, b = random_inputs()
    with McuModel(built("cortex-m4", fault=True), timeout=10) as model:
        with pytest.raises(BoardError, match=r"stopped: the firmware faulted \(HardFault, exit code 131\)"):
            model.run({"a": a, "b": b})


def test_listener_that_never_answers_times_out():
    """A port where something listens but never speaks the protocol (a closed or wrong port)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = BoardClient(SocketTransport(socket.create_connection(server.getsockname()), "the test port"),
                             timeout=0.5)
        start = time.monotonic()
        with pytest.raises(BoardError, match="the test port did not answer in time to INFO within 0.5 s"):
            client.info()
        assert time.monotonic() - start < 5
        client.transport.close()


def test_garbage_reply_is_a_clear_error():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        conn_thread = threading.Thread(target=lambda: server.accept()[0].sendall(b"hello, world!!!!" * 2))
        conn_thread.start()
        client = BoardClient(SocketTransport(socket.create_connection(server.getsockname()), "the test port"),
                             timeout=2)
        with pytest.raises(BoardError, match="malformed reply to INFO"):
            client.info()
        conn_thread.join()
        client.transport.close()


def test_serial_transport_on_a_pty():
    """The real-board path: termios setup, reads with a deadline (a pseudo-terminal stands in for the board)."""
    master, slave = os.openpty()
    try:
        link = SerialTransport(os.ttyname(slave))
        link.write(b"EDGC")
        assert os.read(master, 4) == b"EDGC"
        os.write(master, b"\x00\x01\xff")
        assert link.read(3, time.monotonic() + 2) == b"\x00\x01\xff"
        with pytest.raises(BoardError, match="did not answer in time"):
            link.read(1, time.monotonic() + 0.2)
        link.close()
    finally:
        os.close(master)
        os.close(slave)


def test_serial_port_that_does_not_exist():
    with pytest.raises(BoardError, match="cannot open serial port /dev/does-not-exist"):
        SerialTransport("/dev/does-not-exist")


def pump(a: int, b: int, stop: threading.Event) -> None:
    """Copy bytes both ways between two file descriptors until ``stop`` is set."""
    import select

    while not stop.is_set():
        ready, _, _ = select.select([a, b], [], [], 0.05)
        for src in ready:
            try:
                data = os.read(src, 4096)
            except OSError:
                return
            if data:
                os.write(b if src == a else a, data)


@needs_qemu
def test_serial_port_path_end_to_end(built):
    """`--port DEVICE`: the emulated board's UART behind a pseudo-terminal, as a USB serial board would be."""
    from runtime.mcu.qemu import QemuBoard
    from targets.mcu.boards import BOARDS

    a, b = random_inputs(seed=9)
    out = built("cortex-m4")
    master, slave = os.openpty()
    stop = threading.Event()
    with QemuBoard(BOARDS["cortex-m4"], out / "build" / "model.elf") as link:
        thread = threading.Thread(target=pump, args=(master, link.sock.fileno(), stop), daemon=True)
        thread.start()
        try:
            with McuModel(out, port=os.ttyname(slave), timeout=10) as model:
                assert not model.emulated and "board on /dev/pts" in model.description
                outputs, ticks = model.run_timed({"a": a, "b": b})
                np.testing.assert_array_equal(outputs["sum"], expected(a, b)["sum"])
                assert model.figures(ticks)["cycles"] == ticks  # a real board's SysTick counts cycles
        finally:
            stop.set()
            thread.join()
            os.close(master)
            os.close(slave)
