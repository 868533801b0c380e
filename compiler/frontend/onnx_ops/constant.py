"""Converters for ONNX ops whose result is known at import: Constant, ConstantOfShape, Shape, Size,
Range. Shapes are static, so these all become IR constants and fold into their users."""

from __future__ import annotations

import math

import numpy as np

from ...ir.types import DTYPES
from ..context import ImportContext, converter
from .args import const_ints, const_values


def _checked(ctx: ImportContext, value: np.ndarray, what: str) -> np.ndarray:
    if str(value.dtype) not in DTYPES:
        raise ctx.error(f"{what} has dtype {value.dtype}, which edgec does not support ({', '.join(DTYPES)})")
    return value


@converter("Constant")
def constant(ctx, node, ins, attrs):
    makers = {
        "value": lambda v: np.asarray(v),
        "value_float": lambda v: np.array(v, np.float32),
        "value_floats": lambda v: np.array(v, np.float32),
        "value_int": lambda v: np.array(v, np.int64),
        "value_ints": lambda v: np.array(v, np.int64),
    }
    given = [k for k in attrs if k in makers or k.startswith(("value_string", "sparse_value"))]
    if len(given) != 1:
        raise ctx.error(f"needs exactly one value attribute, got {given or 'none'}")
    if given[0] not in makers:
        raise ctx.error(f"'{given[0]}' constants are not supported (only numeric tensors)")
    value = _checked(ctx, makers[given[0]](attrs[given[0]]), "the constant")
    return [ctx.add_const(value, node.output[0])]


@converter("ConstantOfShape")
def constant_of_shape(ctx, node, ins, attrs):
    shape = const_ints(ctx, ins[0], "shape")
    if min(shape, default=0) < 0:
        raise ctx.error(f"shape {shape} has a negative dimension")
    value = np.asarray(attrs.get("value", np.zeros(1, np.float32)))
    if value.size != 1:
        raise ctx.error(f"value must hold one element, got {value.size}")
    value = _checked(ctx, value, "the fill value")
    return [ctx.add_const(np.full(shape, value.reshape(-1)[0], dtype=value.dtype), node.output[0])]


@converter("Shape")
def shape(ctx, node, ins, attrs):
    dims = ctx.type(ins[0]).shape
    start, end = attrs.get("start", 0), attrs.get("end", None)  # Python slicing clamps like ONNX
    return [ctx.add_const(np.array(dims[start:end], dtype=np.int64), node.output[0])]


@converter("Size")
def size(ctx, node, ins, attrs):
    return [ctx.add_const(np.array(math.prod(ctx.type(ins[0]).shape), dtype=np.int64), node.output[0])]


@converter("Range")
def range_(ctx, node, ins, attrs):
    start, limit, delta = (const_values(ctx, name, what) for name, what in zip(ins, ("start", "limit", "delta")))
    if not len(start) == len(limit) == len(delta) == 1:
        raise ctx.error("start, limit and delta must be scalars")
    dtype = ctx.type(ins[0]).dtype
    start, limit, delta = start[0], limit[0], delta[0]
    if delta == 0:
        raise ctx.error("delta is 0")
    count = max(math.ceil((limit - start) / delta), 0)
    values = np.array([start + i * delta for i in range(count)]).astype(dtype)
    return [ctx.add_const(values, node.output[0])]
