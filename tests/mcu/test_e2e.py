"""Generated C on emulated boards: the int8 digits CNN and two MLPerf Tiny models, bit-exact to the
numpy reference interpreter (compiler/ir/interpreter.py) on the same inputs.

Each case compiles with ``compile_graph(graph, OUT, target)`` (the AOT path: C sources, board
project, ELF), boots the ELF in qemu-system-arm and runs it over the UART protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import needs_qemu

pytestmark = [needs_qemu, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
BOARDS = ["cortex-m4", "cortex-m55"]


def run_on_board(graph, target, out: Path, feeds_list: list[dict]) -> None:
    """Compile for ``target``, run every feed on the emulated board, compare with the interpreter."""
    from compiler.codegen.build import compile_graph
    from compiler.ir import interpreter
    from runtime.mcu.model import McuModel

    result = compile_graph(graph, out, target)
    target = getattr(target, "name", target)
    assert result.manifest["board"]["flash_bytes"] <= result.manifest["board"]["flash_capacity"]
    with McuModel(out, timeout=300) as board:
        for feeds in feeds_list:
            got, ticks = board.run_timed(feeds)
            want = interpreter.run(graph, feeds)
            assert ticks > 0
            for name, value in want.items():
                np.testing.assert_array_equal(got[name], value, err_msg=f"{target}: output '{name}'")
        used, estimate = board.stack_used(), result.manifest["board"]["stack_bytes"]
        assert 0 < used <= estimate, f"{target}: the stack reached {used} B, estimated {estimate} B"


@pytest.fixture(scope="module")
def digits_int8():
    from compiler.frontend.onnx import import_onnx
    from compiler.pipeline import compress
    from compiler.quant.ptq import QuantOptions, post_training_quantize
    from examples.digits.data import load_split

    x_train, _, x_test, _ = load_split()
    graph = compress(import_onnx(str(ROOT / "examples" / "digits" / "digits_cnn.onnx"))).graph
    calib = [{"input": x_train[i:i + 1]} for i in range(100)]
    return post_training_quantize(graph, QuantOptions(calib=calib)).graph, x_test


@pytest.mark.parametrize("target", BOARDS)
def test_digits_cnn_int8(digits_int8, target, tmp_path):
    graph, x_test = digits_int8
    run_on_board(graph, target, tmp_path / "out", [{"input": x_test[i:i + 1]} for i in range(3)])


def mlperf_graph(stem: str):
    from bench.mcu import batch_one_shapes
    from compiler.pipeline import compress, load

    path = MLPERF / f"{stem}_int8_qdq.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return compress(load(path, batch_one_shapes(path))).graph


@pytest.mark.parametrize("target", BOARDS)
@pytest.mark.parametrize("stem", ["kws_dscnn", "ad_autoencoder"])
def test_mlperf_tiny_int8(stem, target, tmp_path):
    graph = mlperf_graph(stem)
    rng = np.random.default_rng(0)
    feeds = []
    for _ in range(2):
        feeds.append({name: rng.integers(-128, 128, graph.types[name].shape).astype(graph.types[name].dtype)
                      if graph.types[name].dtype == "int8" else
                      rng.standard_normal(graph.types[name].shape).astype(graph.types[name].dtype)
                      for name in graph.inputs})
    run_on_board(graph, target, tmp_path / "out", feeds)


def test_cli_compile_run_bench(tmp_path, capsys):
    """`edgec compile --target cortex-m55`, then `edgec run` and `edgec bench` boot the ELF in QEMU."""
    from compiler.cli import main as edgec
    from compiler.ir import interpreter

    graph = mlperf_graph("ad_autoencoder")
    model, out = MLPERF / "ad_autoencoder_int8_qdq.onnx", tmp_path / "out"
    assert edgec(["compile", str(model), "--target", "cortex-m55", "-o", str(out), "--input-shape",
                  "input_1=1,640"]) == 0
    x = np.random.default_rng(1).integers(-128, 128, (1, 640)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    assert edgec(["run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as saved:
        np.testing.assert_array_equal(saved["Identity"], interpreter.run(graph, {"input_1": x})["Identity"])
    assert edgec(["bench", str(out), "--repeat", "2", "--warmup", "0"]) == 0
    assert "instructions" in capsys.readouterr().out


def dense_graph(rows: int, cols: int):
    """A float model: y = relu(x @ W + b), W [rows, cols] float32 (4 * rows * cols bytes of flash)."""
    from onnx import helper

    from compiler.frontend.onnx import import_onnx
    from tests.oracle import make_model

    rng = np.random.default_rng(0)
    model = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                       inputs={"x": (1, rows)}, outputs=["y"],
                       initializers={"w": rng.standard_normal((rows, cols)).astype(np.float32) / 8,
                                     "b": rng.standard_normal(cols).astype(np.float32)})
    return import_onnx(model)


def test_float_model_on_the_fpu(tmp_path):
    """A float model runs on the Cortex-M4's FPU; float32 sums in another order: rtol 1e-5."""
    from compiler.codegen.build import compile_graph
    from compiler.ir import interpreter
    from runtime.mcu.model import McuModel

    graph = dense_graph(64, 32)
    compile_graph(graph, tmp_path / "out", "cortex-m4")
    x = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
    with McuModel(tmp_path / "out", timeout=60) as board:
        got = board.run({"x": x})["y"]
    np.testing.assert_allclose(got, interpreter.run(graph, {"x": x})["y"], rtol=1e-5, atol=1e-5)


def test_model_too_big_for_the_board(tmp_path):
    """700 KB of weights do not fit the AN547's 512 KiB ITCM: the compile says so, with the sizes."""
    from compiler.codegen.build import compile_graph
    from targets.mcu.project import DoesNotFit

    with pytest.raises(DoesNotFit, match=r"does not fit cortex-m55 \(mps3-an547\): flash needs [\d,]+ bytes but "
                                         r"the board has 524,288 \(ITCM"):
        compile_graph(dense_graph(256, 700), tmp_path / "out", "cortex-m55")
    assert not (tmp_path / "out").exists()  # nothing half-written left behind


def test_float_model_refused_on_a_board_without_fpu(tmp_path):
    """A user target naming a Cortex-M3 (mps2-an385, no FPU) refuses a float model as the built-in
    ``cortex-m3`` does (tests/mcu/test_boards.py)."""
    from compiler.codegen.build import compile_graph
    from compiler.errors import TargetError
    from targets.spec import TargetSpec

    m3 = TargetSpec("my-m3", "a Cortex-M3 board", {"kind": "llvm", "mtriple": "thumbv7m-none-eabi",
                                                    "mcpu": "cortex-m3", "mfloat-abi": "soft"},
                    arch="arm", device="mcu", runner="qemu-system-arm")
    with pytest.raises(TargetError, match=r"cortex-m3 \(mps2-an385\) has no FPU but the model is not quantized"):
        compile_graph(dense_graph(8, 4), tmp_path / "out", m3)


def test_int8_model_on_a_board_without_fpu(tmp_path):
    """The built-in cortex-m3 target runs an int8 model (integer-only kernels), bit-exact."""
    graph = mlperf_graph("ad_autoencoder")
    x = np.random.default_rng(2).integers(-128, 128, (1, 640)).astype(np.int8)
    run_on_board(graph, "cortex-m3", tmp_path / "out", [{"input_1": x}])
