"""Converter for ONNX Resize (opsets 10-19+) and the legacy Upsample (opsets 7-9).

The output size and the per-axis scales are resolved here, as onnxruntime does (float32
arithmetic), and stored as static attributes of the IR ``resize`` op:

- scales given: ``size = floor(scale * input)``, coordinates divide by the given scale;
- sizes given: ``scale = size / input``; with ``keep_aspect_ratio_policy`` (opset 18) one
  scale for all listed axes and ``size = round(scale * input)``.

Before opset 11 coordinates are "asymmetric" and nearest rounding is the legacy rule.
"""

from __future__ import annotations

import numpy as np

from ...ir.ops.resize import COORDINATE_MODES, NEAREST_MODES
from ..context import ImportContext, converter
from .args import const_ints, const_values, input_at, norm_axes

F32 = np.float32


def _mode(ctx: ImportContext, attrs: dict) -> str:
    mode = attrs.get("mode", "nearest")
    if mode == "bilinear":  # Upsample-7 models written by old exporters
        mode = "linear"
    if mode == "cubic":
        raise ctx.error("cubic interpolation is not supported; use mode 'linear' or 'nearest'")
    if mode not in ("nearest", "linear"):
        raise ctx.error(f"unknown mode {mode!r} (use 'nearest' or 'linear')")
    return mode


def _float_list(ctx: ImportContext, name: str | None, what: str) -> list[float] | None:
    """A constant float input; None when absent or empty (Resize-11 passes empty scales with sizes)."""
    if name is None:
        return None
    values = const_values(ctx, name, what)
    return [float(F32(v)) for v in values] if values else None


def _full_rank(values: list, axes: list[int], rank: int, fill: list) -> list:
    out = list(fill)
    for axis, v in zip(axes, values):
        out[axis] = v
    return out


def _from_scales(ctx: ImportContext, in_shape, scales: list[float]) -> list[int]:
    if min(scales) <= 0:
        raise ctx.error(f"scales {scales} must be positive")
    size = [int(np.floor(F32(s) * F32(d))) for s, d in zip(scales, in_shape)]
    if min(size, default=1) < 1:
        raise ctx.error(f"scales {scales} shrink input shape {list(in_shape)} to the empty shape {size}")
    return size


def _from_sizes(ctx: ImportContext, in_shape, sizes: list[int], axes: list[int],
                policy: str) -> tuple[list[int], list[float]]:
    if min(sizes) < 1:
        raise ctx.error(f"sizes {sizes} must be positive")
    scales = [F32(o) / F32(d) for o, d in zip(sizes, in_shape)]
    if policy == "stretch":
        return list(sizes), [float(s) for s in scales]
    if policy not in ("not_larger", "not_smaller"):
        raise ctx.error(f"unknown keep_aspect_ratio_policy {policy!r}")
    pick = min if policy == "not_larger" else max
    scale = pick(scales[a] for a in axes)
    size = [int(np.floor(F32(scale) * F32(d) + 0.5)) if i in axes else d for i, d in enumerate(in_shape)]
    return size, [float(scale) if i in axes else 1.0 for i in range(len(in_shape))]


@converter("Resize", "Upsample")
def resize(ctx, node, ins, attrs):
    x = ins[0]
    in_shape = ctx.type(x).shape
    rank = len(in_shape)
    mode = _mode(ctx, attrs)
    legacy = node.op_type == "Upsample" or ctx.opset < 11
    axes = norm_axes(ctx, attrs.get("axes", range(rank)), rank) if ctx.opset >= 18 else list(range(rank))
    if legacy:
        coord, nearest, policy, sizes = "asymmetric", "legacy", "stretch", None
        scales = ([float(F32(s)) for s in attrs["scales"]] if "scales" in attrs
                  else _float_list(ctx, input_at(ins, 1), "scales"))
    else:
        coord = attrs.get("coordinate_transformation_mode", "half_pixel")
        nearest = attrs.get("nearest_mode", "round_prefer_floor")
        policy = attrs.get("keep_aspect_ratio_policy", "stretch")
        scales = _float_list(ctx, input_at(ins, 2), "scales")
        sizes = const_ints(ctx, ins[3], "sizes") if input_at(ins, 3) else None
        if coord == "tf_crop_and_resize":
            raise ctx.error("coordinate_transformation_mode 'tf_crop_and_resize' (crop to roi) is not supported")
        if coord not in COORDINATE_MODES:
            raise ctx.error(f"unknown coordinate_transformation_mode {coord!r}")
        if nearest not in NEAREST_MODES[:4]:
            raise ctx.error(f"unknown nearest_mode {nearest!r}")
    if (scales is None) == (sizes is None):
        raise ctx.error("needs exactly one of scales and sizes (as constants)")
    given = scales if scales is not None else sizes
    if len(given) != len(axes):
        raise ctx.error(f"{'scales' if scales is not None else 'sizes'} {given} must hold {len(axes)} values")
    if scales is not None:
        scales = _full_rank(scales, axes, rank, [1.0] * rank)
        size = _from_scales(ctx, in_shape, scales)
    else:
        size, scales = _from_sizes(ctx, in_shape, _full_rank(sizes, axes, rank, list(in_shape)), axes, policy)
    if attrs.get("antialias", 0) and mode == "linear" and min(scales) < 1:
        raise ctx.error("antialiased linear downscaling is not supported; export without antialias")
    if list(size) == list(in_shape) and all(F32(s) == F32(1) for s in scales):
        return [x]
    return [ctx.emit("resize", [x], {"size": tuple(size), "scales": tuple(scales), "mode": mode,
                                     "coordinate_mode": coord, "nearest_mode": nearest})]
