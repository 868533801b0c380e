"""Converters for ONNX reductions (ReduceMean/Sum/Max/Min).

The axes are an attribute until opset 18 (13 for ReduceSum) and an optional constant input
after; no axes means all axes, unless ``noop_with_empty_axes`` makes the node an identity.
"""

from __future__ import annotations

from ..context import converter
from .args import ints_arg, norm_axes

# ONNX op -> (IR op, opset where axes became an input)
_REDUCE = {"ReduceMean": ("reduce_mean", 18), "ReduceSum": ("reduce_sum", 13), "ReduceMax": ("reduce_max", 18),
           "ReduceMin": ("reduce_min", 18)}


@converter(*_REDUCE)
def reduce(ctx, node, ins, attrs):
    op, since = _REDUCE[node.op_type]
    x = ins[0]
    axes = ints_arg(ctx, ins, attrs, attr="axes", index=1, since=since) or []
    if not axes and attrs.get("noop_with_empty_axes", 0):
        return [x]
    axes = sorted(norm_axes(ctx, axes, ctx.type(x).rank))
    return [ctx.emit(op, [x], {"axes": tuple(axes), "keepdims": int(attrs.get("keepdims", 1))})]
