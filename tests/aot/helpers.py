"""Shared by the AOT tests: models (digits, MLPerf Tiny), the two builds, and comparisons.

Oracles: the numpy reference interpreter (int8: bit-exact), onnxruntime (op-level graphs) and the
TVM-VM build (float rtol 1e-5, int8 exact) — all independent of the generated C.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
import pytest

import runtime
from compiler.codegen.build import compile_graph
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.ir.graph import Graph

ROOT = Path(__file__).resolve().parents[2]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MLPERF_MODELS = ("kws_dscnn", "ad_autoencoder", "ic_resnet8", "vww_mobilenetv1")


def mlperf_graph(stem: str) -> Graph:
    """An MLPerf Tiny model with its batch fixed to 1 (skips if the shared models are absent)."""
    path = MLPERF / f"{stem}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    first = onnx.load(str(path), load_external_data=False).graph.input[0]
    shape = [d.dim_value or 1 for d in first.type.tensor_type.shape.dim]
    return import_onnx(str(path), input_shapes={first.name: shape})


@lru_cache(maxsize=None)
def digits_samples(count: int = 64) -> tuple[np.ndarray, np.ndarray]:
    from examples.digits.data import load_split

    x_train, _, x_test, _ = load_split()
    return x_train[:count], x_test[:8]


def digits_graph(quantized: bool) -> Graph:
    from compiler.pipeline import CompressOptions, compress
    from compiler.quant.ptq import QuantOptions

    graph = import_onnx(str(ROOT / "examples" / "digits" / "digits_cnn.onnx"))
    train, _ = digits_samples()
    name = graph.inputs[0]
    quant = QuantOptions(calib=[{name: train[i:i + 1]} for i in range(len(train))]) if quantized else None
    return compress(graph, CompressOptions(quantize=quant)).graph


def build_c(graph: Graph, out: Path):
    """The host C build (target ``c``) loaded through ctypes."""
    return runtime.load(compile_graph(graph, out, "c").path)


def build_vm(graph: Graph, out: Path):
    return runtime.load(compile_graph(graph, out, "host").path)


def assert_same(have: dict, want: dict, exact: bool, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    for name, expected in want.items():
        got = have[name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, f"{what}: {name}"
        if exact or not np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_array_equal(got, expected, err_msg=f"{what}: output {name}")
        else:
            # long float reductions differ in summation order between builds: the tolerance is
            # relative to each element and to the output's largest magnitude
            scale = float(np.abs(expected).max()) if expected.size else 0.0
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=max(atol, rtol * scale),
                                       err_msg=f"{what}: output {name}")


def feeds_for(model, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs; float inputs in [0, 1) like images and features, ints over their range."""
    feeds = model.random_inputs(seed)
    rng = np.random.default_rng(seed)
    return {k: (rng.random(v.shape).astype(v.dtype) if v.dtype.kind == "f" else v) for k, v in feeds.items()}


def check_against_oracles(graph: Graph, tmp: Path, vm: bool = True, seeds: tuple[int, ...] = (0, 1),
                          ref_rtol: float = 1e-4, ref_atol: float = 1e-5):
    """C build vs the reference interpreter (int8 bit-exact) and, optionally, vs the VM build."""
    model = build_c(graph, tmp / "c")
    quantized = any(graph.types[o].dtype != "float32" for o in graph.outputs) or \
        any(n.op.startswith("q") for n in graph.nodes)
    vm_model = build_vm(graph, tmp / "vm") if vm else None
    for seed in seeds:
        feeds = feeds_for(model, seed)
        have = model.run(feeds)
        reference = interpreter.run(graph, feeds)
        assert_same(have, {k: reference[k] for k in graph.outputs}, quantized, "C vs reference", ref_rtol, ref_atol)
        if vm_model is not None:
            assert_same(have, vm_model.run(feeds), quantized, "C vs TVM VM")
    return model
