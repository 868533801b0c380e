"""The emulated aarch64 board end to end: a host tracker, the board's RPC server (TVM's runtime on a
Debian arm64 userland under qemu-aarch64) registered with it, and edgec run/bench --tracker on
artifacts cross-compiled for aarch64. Outputs must equal onnxruntime's on the host (rtol 1e-4);
int8 kernels (``sdot`` and the NEON fallback) the numpy reference's integers exactly.

The userland is cached under .cache/boards (CI builds it from scratch); emulated runs are slow,
so SqueezeNet runs once per variant and is timed 3 times."""

from __future__ import annotations

import json
import subprocess

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


def int8_layers():
    """(graph, feeds): random int8 convolutions (regular, grouped, depthwise, a one-channel stem
    that folds its kernel width), a uint8 dense head and a global average pool."""
    from compiler.ir.ops.fixed_point import quantize_multipliers
    from tests.codegen.test_int8_schedules import Int8Graph, random_qconv
    from tests.codegen.test_quantized_kernels import out_attrs, qrand

    g = Int8Graph(21)
    for kind in ["regular", "regular", "grouped", "depthwise"]:
        random_qconv(g, kind)
    g.output(g.qconv(g.input((1, 1, 9, 10)), 1, 24, kernel=(3, 3), stride=(1, 2), pads=(1, 0, 1, 2)))
    r = g.rng
    mult, shift = quantize_multipliers(r.uniform(1e-3, 1e-2, 19))
    x = g.input((2, 70), "uint8")
    g.feeds[x][0, :2] = 0, 255  # the ends of the range: sdot takes them shifted into int8
    head = [x, g.b.const(qrand(r, (19, 70))), g.b.const(r.integers(-900, 900, 19).astype(np.int32)),
            g.b.const(mult), g.b.const(shift)]
    g.output(g.op("qdense", head, {"x_zp": 131, **out_attrs(r)}))
    x = g.input((1, 32, 4, 4))
    g.output(g.op("qavg_pool", [x], {"kernel_shape": (4, 4), "strides": (1, 1), "pads": (0, 0, 0, 0), "ceil_mode": 0,
                                     "count_include_pad": False, "out_scale": 0.1, "out_zp": 5}))
    return g.build(), g.feeds


@pytest.mark.parametrize("name, instruction", [("cortex-a76", "sdot"), ("aarch64", None)])
def test_int8_kernels_are_bit_exact_on_the_board(board, tmp_path, name, instruction):
    """The Armv8.2 dot product (``sdot``, Cortex-A76) and the NEON fallback (generic aarch64)
    give exactly the numpy reference's integers."""
    from compiler.codegen.build import compile_graph
    from compiler.ir import interpreter

    tracker, _ = board
    graph, feeds = int8_layers()
    artifact = compile_graph(graph, tmp_path / name, name).path
    disassembly = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(artifact / "model.so")], capture_output=True,
                                 text=True, check=True).stdout
    assert (f"\t{instruction}\t" in disassembly) if instruction else ("\tsdot\t" not in disassembly)
    inputs = []
    for input_name, value in feeds.items():
        np.save(tmp_path / f"{input_name}.npy", value)
        inputs += ["--input", f"{input_name}={tmp_path / input_name}.npy"]
    result = run_cli("run", artifact, "--tracker", tracker, "--key", KEY, *inputs, "--output", tmp_path / "y.npz",
                     "--timeout", "60")
    assert result.code == 0, result.err
    got = np.load(tmp_path / "y.npz")
    for output, want in interpreter.run(graph, feeds).items():
        assert got[output].dtype == want.dtype
        np.testing.assert_array_equal(got[output], want, err_msg=f"{name}: {output}")


def test_host_artifact_is_refused_by_the_board(board, build):
    tracker, _ = board
    assert_one_line_error(run_cli("bench", build("host"), "--tracker", tracker, "--key", KEY, "--timeout", "60"), 1,
                          "built for target 'host'", "is aarch64")
