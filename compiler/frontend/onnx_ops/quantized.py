"""Converters for ONNX QuantizeLinear / DequantizeLinear (opsets 10 to 25).

A per-tensor QuantizeLinear becomes the IR's ``quantize`` and a per-tensor DequantizeLinear of a
computed int8/uint8 tensor its ``dequantize``. A DequantizeLinear of a *constant* (int8 weights
with per-channel scales, int32 biases) is not folded to float: it stays as the small subgraph

    cast(q, float32) [- zero_point] * scale        (scale shaped to broadcast along ``axis``)

so the QDQ fusion pass (``compiler/passes/fuse_qdq.py``) can read the integer weights and their
scales back and build integer layers; constant folding turns whatever it leaves into plain float
constants. A per-axis QuantizeLinear divides by its scales in float and quantizes with scale 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from ..context import ImportContext, converter

QDTYPES = ("int8", "uint8")


def _params(ctx: ImportContext, ins: list[str | None], attrs: dict[str, Any], dtype: str | None
            ) -> tuple[np.ndarray, np.ndarray, str, int | None]:
    """(scale, zero point, integer dtype, axis or None for per tensor) of a Q/DQ node."""
    if attrs.get("block_size", 0):
        raise ctx.error("blocked quantization (block_size) is not supported")
    scale = np.asarray(ctx.const(ins[1], "scale"))
    if scale.dtype != np.float32:
        raise ctx.error(f"scale must be float32, got {scale.dtype}")
    zp_name = ins[2] if len(ins) > 2 else None
    zp = np.asarray(ctx.const(zp_name, "zero point")) if zp_name else None
    if dtype is None:  # QuantizeLinear: the zero point's type, else output_dtype (opset 21), else uint8
        dtype = str(zp.dtype) if zp is not None else _output_dtype(attrs)
    if zp is None:
        zp = np.zeros(scale.shape, dtype)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ctx.error(f"scale must be finite and > 0, got {scale.reshape(-1)[:4].tolist()}")
    if scale.size == 1 and zp.size == 1:
        return scale.reshape(-1).astype(np.float64), zp.reshape(-1).astype(np.int64), dtype, None
    if scale.ndim != 1 or zp.shape not in (scale.shape, (1,), ()):
        raise ctx.error(f"scale {list(scale.shape)} / zero point {list(zp.shape)} must be scalars or 1-D")
    rank = ctx.type(ins[0]).rank
    axis = int(attrs.get("axis", 1))
    if not -rank <= axis < rank or ctx.type(ins[0]).shape[axis] != scale.size:
        raise ctx.error(f"per-axis scale of length {scale.size} does not fit axis {axis} of {ctx.type(ins[0])}")
    return (scale.astype(np.float64), np.broadcast_to(zp, scale.shape).astype(np.int64), dtype, axis % rank)


def _output_dtype(attrs: dict[str, Any]) -> str:
    code = attrs.get("output_dtype", 0)
    return str(onnx.helper.tensor_dtype_to_np_dtype(code)) if code else "uint8"


def _along(values: np.ndarray, axis: int | None, rank: int, dtype: str) -> np.ndarray:
    """Per-axis parameters shaped to broadcast against a rank-``rank`` tensor (a scalar per tensor)."""
    if axis is None:
        return np.asarray(values[0], dtype=dtype)
    shape = [1] * rank
    shape[axis] = -1
    return values.reshape(shape).astype(dtype)


@converter("QuantizeLinear")
def quantize_linear(ctx, node, ins, attrs):
    scale, zp, dtype, axis = _params(ctx, ins, attrs, None)
    if dtype not in QDTYPES:
        raise ctx.error(f"quantizes to {dtype}; edgec supports int8 and uint8")
    x = ins[0]
    if axis is None:
        return [ctx.emit("quantize", [x], {"out_scale": float(scale[0]), "out_zp": int(zp[0]), "out_dtype": dtype})]
    # per axis: round(x / scale[c]) + zp[c] == round(x / scale[c] + zp[c]), a quantize with scale 1
    rank = ctx.type(x).rank
    x = ctx.emit("div", [x, ctx.add_const(_along(scale, axis, rank, "float32"), f"{node.output[0]}_scale")])
    if np.any(zp != 0):
        x = ctx.emit("add", [x, ctx.add_const(_along(zp, axis, rank, "float32"), f"{node.output[0]}_zero_point")])
    return [ctx.emit("quantize", [x], {"out_scale": 1.0, "out_zp": 0, "out_dtype": dtype})]


@converter("DequantizeLinear")
def dequantize_linear(ctx, node, ins, attrs):
    x = ins[0]
    t = ctx.type(x)
    scale, zp, _, axis = _params(ctx, ins, attrs, t.dtype)
    plain = (axis is None and t.dtype in QDTYPES and not ctx.is_const(x)
             and (t.quant is None or t.quant.zero_point[0] == zp[0]))
    if plain:
        return [ctx.emit("dequantize", [x], {"scale": float(scale[0]), "zero_point": int(zp[0])})]
    return [dequantize_subgraph(ctx, x, scale, zp, axis)]


def dequantize_subgraph(ctx: ImportContext, x: str, scale: np.ndarray, zp: np.ndarray, axis: int | None) -> str:
    """``cast(x) [- zp] * scale`` as IR nodes that are *not* folded (see the module docstring)."""
    b, name, rank = ctx.builder, ctx.node.name, ctx.type(x).rank
    out = ctx.node.output[0]
    value = b.op("cast", [x], {"to": "float32"}, name=name, outputs=[f"{out}_int"])
    if np.any(zp != 0):
        zero = ctx.add_const(_along(zp, axis, rank, "float32"), f"{out}_zero_point")
        value = b.op("sub", [value, zero], name=name, outputs=[f"{out}_centered"])
    factor = ctx.add_const(_along(scale, axis, rank, "float32"), f"{out}_scale")
    return b.op("mul", [value, factor], name=name, outputs=[out])
