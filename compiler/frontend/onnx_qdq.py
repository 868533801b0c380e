"""Import of pre-quantized ONNX models (QuantizeLinear/DequantizeLinear around float ops).

The converters in ``onnx_ops/quantized.py`` import the Q/DQ nodes as they are; the
``fuse-qdq`` pass then turns each ``dequantize -> float op -> quantize`` group with an integer
kernel into that kernel (qconv, qdense, qadd, ...). What stays float is what the model itself
computes in float between a dequantize and a quantize (e.g. a Softmax).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Mapping, Sequence

import onnx

from ..ir.graph import Graph
from ..passes.fuse_qdq import fuse_qdq
from .onnx import import_onnx, load_model

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def is_qdq_model(model: onnx.ModelProto) -> bool:
    return any(node.op_type in QDQ_OPS and node.domain in ("", "ai.onnx") for node in model.graph.node)


def import_qdq(model: onnx.ModelProto | str | os.PathLike, input_shapes: Mapping[str, Sequence[int]] | None = None,
               notices: list[str] | None = None) -> Graph:
    """Import an ONNX model; a QDQ model comes out as an integer graph."""
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    graph = import_onnx(model, input_shapes=input_shapes, notices=notices)
    return fuse_qdq(graph).graph if is_qdq_model(model) else graph


def float_ops(graph: Graph) -> dict[str, int]:
    """Counts of the ops that still compute in float (what fusion could not make integer)."""
    counts = Counter(node.op for node in graph.nodes
                     if any(graph.types[out].dtype.startswith("float") for out in node.outputs))
    return dict(sorted(counts.items()))
