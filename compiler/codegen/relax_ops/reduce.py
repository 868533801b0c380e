"""Lowering of reductions to Relax."""

from __future__ import annotations

from tvm.relax import op as R

from .registry import lowering

_REDUCE = {"reduce_mean": R.mean, "reduce_sum": R.sum, "reduce_max": R.max, "reduce_min": R.min}


@lowering(*_REDUCE)
def reduce(ctx, node, args, attrs):
    axes = list(attrs["axes"]) or None  # empty: all axes
    fn, x = _REDUCE[node.op], args[0]
    if ctx.type(node.inputs[0]).dtype == "bool":  # TVM has no min/max identity for bool: any/all as uint8
        reduced = ctx.emit(fn(R.astype(x, "uint8"), axis=axes, keepdims=bool(attrs["keepdims"])))
        return R.astype(reduced, "bool")
    return fn(x, axis=axes, keepdims=bool(attrs["keepdims"]))
