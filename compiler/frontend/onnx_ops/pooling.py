"""Converters for ONNX pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

from ..context import converter
from .nn import auto_pads, window_attrs


def _window(ctx, attrs, x: str) -> dict:
    """IR window attributes (kernel, strides, explicit pads, dilations, ceil_mode) of a pooling node."""
    xt = ctx.type(x)
    if xt.rank < 3:
        raise ctx.error(f"needs an input [N, C, D1, ...], got {xt}")
    spatial = xt.shape[2:]
    if "kernel_shape" not in attrs:
        raise ctx.error("needs the 'kernel_shape' attribute")
    kernel = tuple(attrs["kernel_shape"])
    if len(kernel) != len(spatial):
        raise ctx.error(f"kernel_shape {list(kernel)} does not fit input {xt}")
    strides, dilations = window_attrs(ctx, attrs, len(spatial))
    return {"kernel_shape": kernel, "strides": strides, "dilations": dilations,
            "pads": auto_pads(ctx, attrs, spatial, kernel, strides, dilations),
            "ceil_mode": int(attrs.get("ceil_mode", 0))}


@converter("MaxPool")
def max_pool(ctx, node, ins, attrs):
    if len(node.output) > 1 and node.output[1]:
        raise ctx.error("its Indices output (argmax positions) is not supported; use MaxPool with one output")
    return [ctx.emit("max_pool", [ins[0]], _window(ctx, attrs, ins[0]))]


@converter("AveragePool")
def avg_pool(ctx, node, ins, attrs):
    window = _window(ctx, attrs, ins[0])
    return [ctx.emit("avg_pool", [ins[0]], {**window, "count_include_pad": int(attrs.get("count_include_pad", 0))})]


@converter("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx, node, ins, attrs):
    op = "global_avg_pool" if node.op_type == "GlobalAveragePool" else "global_max_pool"
    return [ctx.emit(op, [ins[0]])]
