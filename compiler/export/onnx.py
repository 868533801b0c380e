"""edgec IR -> ONNX model (opset 17), so any IR can be viewed in Netron or run by onnxruntime."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import EdgecError
from ..ir.graph import Graph, Node
from ..ir.ops import get
from ..ir.ops.registry import activation_of
from ..util.atomic import atomic_write_bytes
from .onnx_ops import EXPORTERS, ExportContext
from .onnx_ops.registry import OPSET


def _value_info(graph: Graph, name: str) -> onnx.ValueInfoProto:
    t = graph.types[name]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(t.dtype)), list(t.shape))


def export_onnx(graph: Graph) -> onnx.ModelProto:
    missing = sorted({n.op for n in graph.nodes if n.op not in EXPORTERS})
    if missing:
        raise EdgecError(f"cannot export IR op(s) to ONNX: {', '.join(missing)}")
    ctx = ExportContext(graph.copy())  # a copy: fused layers add their pre-activation types to it
    for node in graph.nodes:
        attrs = get(node.op).full_attrs(node.attrs)
        act = activation_of(attrs)
        if act is None:
            EXPORTERS[node.op](ctx, node, attrs)
            continue
        # a fused layer is exported as the layer followed by its activation node
        inner = ctx.fresh(f"{node.outputs[0]}_preact")
        ctx.graph.types[inner] = graph.types[node.outputs[0]]
        EXPORTERS[node.op](ctx, node.copy(outputs=[inner]), attrs)
        EXPORTERS[act[0]](ctx, Node(act[0], [inner], node.outputs, act[1], f"{node.name}/{act[0]}"), act[1])
    used = {name for node in ctx.nodes for name in node.input}
    inits = [numpy_helper.from_array(array, name) for name, array in graph.constants.items() if name in used]
    inits += ctx.initializers
    onnx_graph = helper.make_graph(ctx.nodes, graph.name, [_value_info(graph, n) for n in graph.inputs],
                                   [_value_info(graph, n) for n in graph.outputs], inits)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgec")
    model.ir_version = 8  # readable by onnxruntime releases from 1.10 on
    onnx.checker.check_model(model)
    return model


def save_onnx(graph: Graph, path: str | os.PathLike) -> None:
    """Write the model atomically; large models use ONNX's external data next to it."""
    model = export_onnx(graph)
    data = model.SerializeToString()
    atomic_write_bytes(path, data)
