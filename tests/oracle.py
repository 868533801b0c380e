"""Test helpers: build small ONNX models and check edgec against onnxruntime.

The oracle is always onnxruntime on the *original* ONNX model. ``check_model`` checks three
things against it: edgec's reference interpreter on the imported IR, the TVM build of that
IR, and onnxruntime on the IR exported back to ONNX.
"""

from __future__ import annotations

import tempfile
from typing import Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from compiler.codegen.build import compile_graph
from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.ir.graph import Graph

FLOAT = onnx.TensorProto.FLOAT


def make_model(nodes: Sequence[onnx.NodeProto], inputs: dict[str, tuple], outputs: Sequence[str],
               initializers: dict[str, np.ndarray] | None = None, opset: int = 17,
               input_dtype: int = FLOAT) -> onnx.ModelProto:
    """A one-graph ONNX model; ``inputs`` maps name -> shape, output shapes are left to inference."""
    graph = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(n, input_dtype, list(s)) for n, s in inputs.items()],
        [helper.make_empty_tensor_value_info(n) for n in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_tvm(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import runtime

    with tempfile.TemporaryDirectory() as tmp:
        compile_graph(graph, f"{tmp}/art")
        out = runtime.load(f"{tmp}/art").run(feeds)
    return [out[name] for name in graph.outputs]


def check_model(model: onnx.ModelProto, feeds: dict[str, np.ndarray], rtol: float = 1e-4, atol: float = 1e-5,
                tvm: bool = True, export: bool = True) -> Graph:
    """Assert interpreter, TVM build and exported ONNX all match onnxruntime on ``model``."""
    expected = run_ort(model, feeds)
    graph = import_onnx(model)
    got = interpreter.run(graph, feeds)
    for name, want in zip(graph.outputs, expected):
        np.testing.assert_allclose(got[name], want, rtol=rtol, atol=atol, err_msg=f"interpreter, output {name}")
    if tvm:
        for name, have, want in zip(graph.outputs, run_tvm(graph, feeds), expected):
            assert have.dtype == want.dtype, f"TVM output {name}: dtype {have.dtype} != {want.dtype}"
            np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=f"TVM build, output {name}")
    if export:
        for name, have, want in zip(graph.outputs, run_ort(export_onnx(graph), feeds), expected):
            np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, err_msg=f"exported ONNX, output {name}")
    return graph


def rand(*shape: int, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
