"""The direct executor (``compiler/codegen/direct.py``): the model as one ``edgec_main`` call.

Each build is checked against onnxruntime on the original model (float) or against the numpy
reference interpreter (int8, bit-exact), and against the same kernels run by the Relax VM.
Models the direct entry cannot express keep the VM, and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import runtime
from compiler.codegen.build import compile_graph
from compiler.errors import ArtifactError, UsageError
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.pipeline import CompressOptions, compress
from compiler.quant.ptq import QuantOptions
from tests.oracle import make_model

from .conftest import ROOT, TINY_CNN, run_cli
from .test_errors import assert_one_line_error

DIGITS = ROOT / "examples" / "digits" / "digits_cnn.onnx"


def ort_outputs(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip((o.name for o in session.get_outputs()), session.run(None, feeds)))


def build_both(graph, tmp_path) -> tuple:
    direct = compile_graph(graph, tmp_path / "direct")
    vm = compile_graph(graph, tmp_path / "vm", executor="vm")
    assert direct.manifest["executor"]["kind"] == "direct"
    assert vm.manifest["executor"] == {"kind": "vm", "why": "chosen (--executor vm)"}
    return runtime.load(tmp_path / "direct"), runtime.load(tmp_path / "vm")


def two_outputs_model() -> onnx.ModelProto:
    """Two inputs; two outputs, one of them also read by a later node; a Flatten (a reshape kernel) between."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["relu"]),
             helper.make_node("Flatten", ["relu"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc"], ["g"], transB=1),
             helper.make_node("Add", ["g", "s"], ["logits"]),
             helper.make_node("Sigmoid", ["logits"], ["prob"])]
    inits = {"w": rng.standard_normal((5, 3, 3, 3)).astype(np.float32) * 0.3,
             "b": rng.standard_normal(5).astype(np.float32),
             "fc": rng.standard_normal((7, 5 * 6 * 6)).astype(np.float32) * 0.1}
    return make_model(nodes, {"x": (2, 3, 6, 6), "s": (2, 7)}, ["relu", "prob"], inits)


@pytest.mark.parametrize("which", ["tiny_cnn", "digits", "two_outputs"])
def test_direct_matches_onnxruntime_and_the_vm(which, tmp_path):
    model = {"tiny_cnn": lambda: onnx.load(TINY_CNN), "digits": lambda: onnx.load(DIGITS),
             "two_outputs": two_outputs_model}[which]()
    direct, vm = build_both(compress(import_onnx(model)).graph, tmp_path)
    for seed in range(3):
        feeds = direct.random_inputs(seed)
        want, got, via_vm = ort_outputs(model, feeds), direct.run(feeds), vm.run(feeds)
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(got[name], via_vm[name])  # the same kernels, called another way


def test_direct_int8_is_bit_exact(tmp_path):
    from examples.digits.data import load_split

    x_train, _, x_test, _ = load_split()
    calib = [{"input": x_train[i:i + 1]} for i in range(16)]
    graph = compress(import_onnx(str(DIGITS)), CompressOptions(quantize=QuantOptions(calib=calib))).graph
    direct, vm = build_both(graph, tmp_path)
    for i in range(5):
        feeds = {"input": x_test[i:i + 1]}
        want = interpreter.run(graph, feeds)
        for name, got in direct.run(feeds).items():
            np.testing.assert_array_equal(got, want[name])
            np.testing.assert_array_equal(got, vm.run(feeds)[name])


def test_direct_with_two_threads(tmp_path):
    """TVM reads TVM_NUM_THREADS when its thread pool starts: ``edgec run`` in a new process."""
    model = onnx.load(TINY_CNN)
    compile_graph(compress(import_onnx(model)).graph, tmp_path / "a")
    feeds = {"input": np.random.default_rng(5).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    np.save(tmp_path / "x.npy", feeds["input"])
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "run", str(tmp_path / "a"), "--input",
                             str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz")], cwd=ROOT,
                            env={**os.environ, "TVM_NUM_THREADS": "2"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["probs"], ort_outputs(model, feeds)["probs"],
                               rtol=1e-4, atol=1e-6)


def test_a_model_returning_its_input_keeps_the_vm(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 4)}, ["x", "y"])
    graph = import_onnx(model)
    result = compile_graph(graph, tmp_path / "a")
    assert result.manifest["executor"]["kind"] == "vm"
    assert "inputs, weights or repeated outputs" in result.manifest["executor"]["why"]
    feeds = {"x": np.array([[-1, 2, -3, 4]], np.float32)}
    got = list(runtime.load(tmp_path / "a").run(feeds).values())
    np.testing.assert_array_equal(got[0], feeds["x"])
    np.testing.assert_array_equal(got[1], [[0, 2, 0, 4]])
    with pytest.raises(Exception, match="direct executor cannot run this model"):
        compile_graph(graph, tmp_path / "b", executor="direct")


def test_executor_choices_are_checked(tmp_path):
    graph = import_onnx(str(TINY_CNN))
    with pytest.raises(UsageError, match="unknown executor"):
        compile_graph(graph, tmp_path / "a", executor="aot")
    with pytest.raises(UsageError, match="scheduled CPU code"):
        compile_graph(graph, tmp_path / "a", schedule=False, executor="direct")
    assert compile_graph(graph, tmp_path / "a", schedule=False).manifest["executor"]["kind"] == "vm"


def test_cli_reports_the_executor(tmp_path):
    result = run_cli("compile", TINY_CNN, "-o", tmp_path / "a")
    assert result.code == 0, result.err
    assert "executor: direct (" in result.out and "params.bin" in result.out
    result = run_cli("compile", TINY_CNN, "-o", tmp_path / "b", "--executor", "vm")
    assert result.code == 0 and "executor: Relax VM (chosen (--executor vm))" in result.out
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert (tmp_path / "a" / manifest["executor"]["params"]).stat().st_size == manifest["executor"]["params_bytes"]


def test_truncated_or_missing_weights_are_reported(tmp_path):
    compile_graph(import_onnx(str(TINY_CNN)), tmp_path / "a")
    params = tmp_path / "a" / "params.bin"
    params.write_bytes(params.read_bytes()[:-64])
    with pytest.raises(ArtifactError, match="params.bin is corrupt"):
        runtime.load(tmp_path / "a")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 16, 16), np.float32))
    assert_one_line_error(run_cli("run", tmp_path / "a", "--input", x), 1, "params.bin is corrupt")
    params.unlink()
    assert_one_line_error(run_cli("run", tmp_path / "a", "--input", x), 1, "cannot read", "params.bin")
