"""The emulated aarch64 board end to end: a host tracker, the board's RPC server (TVM's runtime on a
Debian arm64 userland under qemu-aarch64) registered with it, and edgec run/bench --tracker on
artifacts cross-compiled for aarch64. Outputs must equal onnxruntime's on the host (rtol 1e-4).

The userland is cached under .cache/boards (CI builds it from scratch); emulated runs are slow,
so SqueezeNet runs once per variant and is timed 3 times."""

from __future__ import annotations

import json

import numpy as np
import pytest

from targets.boards import EmulatedBoard
from tests.e2e.conftest import run_cli
from tests.e2e.test_errors import assert_one_line_error
from tests.rpc.conftest import EDGEC, Service
from .conftest import require_tools

pytestmark = pytest.mark.slow
KEY = "qemu-aarch64"


@pytest.fixture(scope="module")
def board():
    """(tracker address, board) for the module: one board start (~5-10 s) serves every test."""
    require_tools("qemu-aarch64", "aarch64-linux-gnu-g++", "apt-get", "dpkg-deb")
    tracker = Service(EDGEC + ["tracker", "--port", "0"])
    emulated = EmulatedBoard(key=KEY, tracker=tracker.address)
    try:
        emulated.start()
        yield tracker.address, emulated
    finally:
        assert emulated.stop() == 0, emulated.lines  # stopped cleanly by SIGTERM
        tracker.stop()


def test_bench_through_tracker_on_the_board(board, build, zoo):
    tracker, _ = board
    result = run_cli("bench", build("aarch64"), "--tracker", tracker, "--key", KEY, "--repeat", "3",
                     "--warmup", "1", "--json", "--timeout", "60")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["target"] == "aarch64" and report["remote"] == {"tracker": tracker, "key": KEY}
    assert report["device"].startswith(f"aarch64 via tracker {tracker}") and "emulated" in report["device"]
    assert report["repeat"] == 3 and report["timer"] == "device" and report["median_ms"] > 0
    assert report["agreement"]["ok"], report["agreement"]
    assert report["agreement"]["rtol"] == 1e-4 and report["agreement"]["reference"].startswith("onnxruntime")


@pytest.mark.parametrize("name", ["aarch64", "cortex-a53", "cortex-a72", "cortex-a76"])
def test_aarch64_artifacts_run_on_the_board(board, build, zoo, tmp_path, name):
    tracker, _ = board
    (input_name, x), = zoo.feeds.items()
    np.save(tmp_path / "x.npy", x)
    result = run_cli("run", build(name), "--tracker", tracker, "--key", KEY, "--input",
                     f"{input_name}={tmp_path / 'x.npy'}", "--output", tmp_path / "y.npz", "--timeout", "60")
    assert result.code == 0, result.err
    outputs = np.load(tmp_path / "y.npz")
    for key, want in zoo.expected.items():
        np.testing.assert_allclose(outputs[key], want, rtol=1e-4, atol=1e-5, err_msg=f"{name}: {key}")


def test_host_artifact_is_refused_by_the_board(board, build):
    tracker, _ = board
    assert_one_line_error(run_cli("bench", build("host"), "--tracker", tracker, "--key", KEY, "--timeout", "60"), 1,
                          "built for target 'host'", "is aarch64")
