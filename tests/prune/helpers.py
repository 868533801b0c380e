"""Small ONNX graphs for the pruning tests, with chosen channels made exactly zero.

The oracle is onnxruntime on the original model: removing a channel whose filter and bias are
zero must leave every output unchanged (up to float rounding), and the pruned IR must verify.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from compiler.export import export_onnx
from compiler.frontend.onnx import import_onnx
from compiler.ir import interpreter
from compiler.ir.graph import Graph
from compiler.prune import PruneOptions, PruneResult, prune
from tests.oracle import make_model, run_ort

ATOL = 1e-5


class Net:
    """Collects ONNX nodes and initializers; ``conv`` zeroes the output channels in ``dead``."""

    def __init__(self, seed: int = 0) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)

    def conv(self, name: str, x: str, cin: int, cout: int, k: int = 3, groups: int = 1, dead=(),
             relu: bool = True) -> str:
        w = self.rng.standard_normal((cout, cin // groups, k, k)).astype(np.float32) * 0.3
        b = self.rng.standard_normal(cout).astype(np.float32) * 0.1
        w[list(dead)] = 0
        b[list(dead)] = 0
        self.inits[f"{name}.w"], self.inits[f"{name}.b"] = w, b
        self.nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [name], name=name,
                                           pads=[k // 2] * 4, group=groups))
        return self.op("Relu", [name], f"{name}.relu") if relu else name

    def gemm(self, name: str, x: str, k: int, n: int, dead=()) -> str:
        w = self.rng.standard_normal((n, k)).astype(np.float32) * 0.3
        b = np.zeros(n, np.float32)
        w[list(dead)] = 0
        self.inits[f"{name}.w"], self.inits[f"{name}.b"] = w, b
        self.nodes.append(helper.make_node("Gemm", [x, f"{name}.w", f"{name}.b"], [name], name=name, transB=1))
        return name

    def const(self, name: str, array) -> str:
        self.inits[name] = np.asarray(array)
        return name

    def op(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def model(self, inputs: dict[str, tuple], outputs: list[str]) -> onnx.ModelProto:
        return make_model(self.nodes, inputs, outputs, self.inits)


def feeds_for(model: onnx.ModelProto, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def out_channels(graph: Graph, layer: str) -> int:
    node = next(n for n in graph.nodes if n.name == layer)
    return graph.types[node.outputs[0]].shape[1]


def prune_exact(model: onnx.ModelProto, options: PruneOptions, merged: bool = False) -> tuple[Graph, PruneResult]:
    """Prune the imported model; assert the pruned IR and its ONNX export match ORT on the original."""
    feeds = feeds_for(model)
    expected = run_ort(model, feeds)
    graph = import_onnx(model)
    if merged:
        from compiler.pipeline import compress

        graph = compress(graph).graph
    result = prune(graph, options)
    got = interpreter.run(result.graph, feeds)
    for name, want in zip(result.graph.outputs, expected):
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=ATOL, err_msg=f"pruned IR, output {name}")
    for name, have, want in zip(result.graph.outputs, run_ort(export_onnx(result.graph), feeds), expected):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=ATOL, err_msg=f"pruned ONNX, output {name}")
    return graph, result
