"""Export of layers to ONNX: conv, conv_transpose, dense, matmul, batch_norm, lrn."""

from __future__ import annotations

import numpy as np

from ...ir.ops.nn import spatial_attrs
from .registry import exporter


def window_kwargs(ctx, node, attrs) -> dict:
    """ONNX strides/pads/dilations of a conv-like node, always written out in full."""
    nd = ctx.graph.types[node.inputs[0]].rank - 2
    strides, pads, dilations = spatial_attrs(attrs, nd)
    return {"strides": list(strides), "pads": list(pads), "dilations": list(dilations)}


@exporter("conv")
def conv(ctx, node, attrs):
    ctx.add("Conv", node.inputs, node.outputs, node.name, group=attrs["groups"], **window_kwargs(ctx, node, attrs))


@exporter("conv_transpose")
def conv_transpose(ctx, node, attrs):
    nd = ctx.graph.types[node.inputs[0]].rank - 2
    ctx.add("ConvTranspose", node.inputs, node.outputs, node.name, group=attrs["groups"],
            output_padding=list(attrs["output_padding"] or (0,) * nd), **window_kwargs(ctx, node, attrs))


@exporter("dense")
def dense(ctx, node, attrs):
    """Gemm for 2-D inputs, else MatMul with the transposed weight (+ Add of the bias)."""
    x, w = node.inputs[0], node.inputs[1]
    if ctx.graph.types[x].rank == 2:
        ctx.add("Gemm", node.inputs, node.outputs, node.name, transB=1)
        return
    if w in ctx.graph.constants:
        w_t = ctx.const(np.ascontiguousarray(ctx.graph.constants[w].T), f"{w}_t")
    else:
        w_t = ctx.fresh(f"{w}_t")
        ctx.add("Transpose", [w], [w_t], perm=[1, 0])
    if len(node.inputs) == 2:
        ctx.add("MatMul", [x, w_t], node.outputs, node.name)
        return
    product = ctx.fresh(f"{node.outputs[0]}_mm")
    ctx.add("MatMul", [x, w_t], [product], node.name)
    ctx.add("Add", [product, node.inputs[2]], node.outputs, f"{node.name}_bias")


@exporter("matmul")
def matmul(ctx, node, attrs):
    ctx.add("MatMul", node.inputs, node.outputs, node.name)


@exporter("batch_norm")
def batch_norm(ctx, node, attrs):
    ctx.add("BatchNormalization", node.inputs, node.outputs, node.name, epsilon=attrs["epsilon"])


@exporter("lrn")
def lrn(ctx, node, attrs):
    ctx.add("LRN", node.inputs, node.outputs, node.name, size=attrs["size"], alpha=attrs["alpha"],
            beta=attrs["beta"], bias=attrs["bias"])
