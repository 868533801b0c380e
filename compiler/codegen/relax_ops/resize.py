"""Lowering of ``resize`` to Relax.

TVM's ``image.resize2d`` computes source coordinates as ``x * (in / out)`` where ONNX (and
onnxruntime) divide by the scale in float32, and it transforms both H and W even when one
keeps its size, which ONNX leaves alone. Measured against the reference on a grid of sizes:

- linear with half_pixel, pytorch_half_pixel, align_corners (output > 1) or asymmetric and
  scales equal to ``out / in`` matches up to float rounding of the weights: lowered to
  ``resize2d`` when only H and W of an NCHW tensor change;
- tf_half_pixel_for_nn shifts an unchanged axis by half a pixel: not used;
- nearest does not match: the differently rounded coordinate flips exact ties (asymmetric
  7 -> 4, round_prefer_ceil: x=2 gives 3.5 in TVM, 3.4999998 in onnxruntime, so pixel 4
  instead of 3), and its floor/ceil modes add a 1e-5 epsilon.

Everything else (nearest, other ranks and layouts, scales that differ from ``out / in``,
half_pixel_symmetric, legacy rounding) is lowered to gathers from index tables computed here
at compile time with the very functions that define the op: exact, one gather per resized
axis (two and a blend for linear).
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op as R

from ...ir.ops.resize import F32, linear_taps, nearest_indices, resized_axes, source_coords
from .registry import lowering
from .tensor import take

_TVM_COORDINATE_MODES = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel")


def _native_resize2d(shape: tuple[int, ...], axes: list[int], attrs: dict) -> bool:
    """Whether TVM's resize2d computes exactly this (linear) resize."""
    if len(shape) != 4 or not set(axes) <= {2, 3} or attrs["mode"] != "linear":
        return False
    if attrs["coordinate_mode"] not in _TVM_COORDINATE_MODES:
        return False
    for axis in (2, 3):
        in_len, out_len = shape[axis], attrs["size"][axis]
        if F32(attrs["scales"][axis]) != F32(out_len) / F32(in_len):
            return False
        if attrs["coordinate_mode"] == "align_corners" and out_len == 1:  # TVM divides by out - 1
            return False
    return True


def _blend_weights(w: np.ndarray, axis: int, rank: int, dtype: str) -> tuple[relax.Expr, relax.Expr]:
    shape = (-1,) + (1,) * (rank - axis - 1)
    return (relax.const((1 - w.astype(np.float64)).reshape(shape).astype(dtype)),
            relax.const(w.reshape(shape).astype(dtype)))


@lowering("resize")
def resize(ctx, node, args, attrs):
    x_type = ctx.type(node.inputs[0])
    shape = x_type.shape
    axes = resized_axes(shape, attrs)
    if _native_resize2d(shape, axes, attrs):
        return R.image.resize2d(args[0], size=tuple(attrs["size"][2:]), layout="NCHW", method="linear",
                                coordinate_transformation_mode=attrs["coordinate_mode"])
    x = args[0]
    for axis in axes:
        in_len, out_len, scale = shape[axis], attrs["size"][axis], attrs["scales"][axis]
        coords = source_coords(in_len, out_len, scale, attrs["coordinate_mode"])
        if attrs["mode"] == "nearest":
            x = take(ctx, x, nearest_indices(coords, in_len, scale, attrs["nearest_mode"]), axis)
            continue
        left, right, w = linear_taps(coords, in_len)
        keep, mix = _blend_weights(w, axis, len(shape), x_type.dtype)
        near, far = take(ctx, x, left, axis), take(ctx, x, right, axis)
        x = ctx.emit(R.add(R.multiply(near, keep), R.multiply(far, mix)))
    return x
