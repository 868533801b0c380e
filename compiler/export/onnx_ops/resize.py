"""Export of ``resize`` to ONNX Resize (opset 17).

ONNX recomputes the coordinate scales from what it is given: ``sizes`` means ``out / in``,
``scales`` means those scales with ``out = floor(scale * in)``. The rule picks whichever
reproduces the IR's (size, scales) pair exactly. A resize that opset 17 cannot state (a
size/scale pair neither input reproduces, half_pixel_symmetric with a fractional output
size, legacy rounding that both enlarges and shrinks) is written as Gathers from static
index tables (plus a weighted sum for linear), which is exact.
"""

from __future__ import annotations

import numpy as np

from ...ir.ops.resize import F32, linear_taps, nearest_indices, resized_axes, source_coords
from .registry import exporter


def _nearest_mode(shape, attrs) -> str | None:
    """The ONNX nearest_mode; the legacy (opset < 11) rule is floor when enlarging, ceil when shrinking."""
    if attrs["nearest_mode"] != "legacy":
        return attrs["nearest_mode"]
    modes = {"ceil" if attrs["scales"][a] < 1 else "floor" for a in resized_axes(shape, attrs)}
    return None if len(modes) > 1 else (modes.pop() if modes else "floor")


def _coordinate_mode(shape, attrs) -> str | None:
    mode = attrs["coordinate_mode"]
    if mode != "half_pixel_symmetric":
        return mode
    # opset 19's half_pixel_symmetric is half_pixel when the output size is exactly scale * input
    exact = all(F32(o) == F32(s) * F32(d) for o, s, d in zip(attrs["size"], attrs["scales"], shape))
    return "half_pixel" if exact else None


def _size_inputs(ctx, shape, attrs, hint: str) -> list[str] | None:
    size, scales = attrs["size"], [F32(s) for s in attrs["scales"]]
    if all(s == F32(o) / F32(d) for s, o, d in zip(scales, size, shape)):
        return ["", "", ctx.const(np.array(size, np.int64), f"{hint}_sizes")]
    if all(int(np.floor(s * F32(d))) == o for s, o, d in zip(scales, size, shape)):
        return ["", ctx.const(np.array(scales, np.float32), f"{hint}_scales")]
    return None


@exporter("resize")
def resize(ctx, node, attrs):
    shape = ctx.graph.types[node.inputs[0]].shape
    nearest, coord = _nearest_mode(shape, attrs), _coordinate_mode(shape, attrs)
    sizes = _size_inputs(ctx, shape, attrs, node.outputs[0])
    if nearest is None or coord is None or sizes is None:
        _resize_by_gathers(ctx, node, shape, attrs)
        return
    ctx.add("Resize", [node.inputs[0]] + sizes, node.outputs, node.name, mode=attrs["mode"],
            coordinate_transformation_mode=coord, nearest_mode=nearest)


def _resize_by_gathers(ctx, node, shape, attrs) -> None:
    value, hint = node.inputs[0], node.outputs[0]
    dtype = ctx.graph.types[node.inputs[0]].dtype
    axes = resized_axes(shape, attrs)
    if not axes:
        ctx.add("Identity", [value], [hint], node.name)
    for i, axis in enumerate(axes):
        out = hint if i == len(axes) - 1 else ctx.fresh(f"{hint}_axis{axis}")
        in_len, scale = shape[axis], attrs["scales"][axis]
        coords = source_coords(in_len, attrs["size"][axis], scale, attrs["coordinate_mode"])

        def gather(index, target: str) -> str:
            ctx.add("Gather", [value, ctx.const(index, f"{hint}_index{axis}")], [target], f"{target}_gather",
                    axis=axis)
            return target

        if attrs["mode"] == "nearest":
            gather(nearest_indices(coords, in_len, scale, attrs["nearest_mode"]), out)
        else:
            left, right, w = linear_taps(coords, in_len)
            w = w.astype(np.float64).reshape((-1,) + (1,) * (len(shape) - axis - 1))
            near, far = gather(left, ctx.fresh(f"{out}_near")), gather(right, ctx.fresh(f"{out}_far"))
            terms = []
            for src, weight, tag in ((near, 1 - w, "keep"), (far, w, "mix")):
                terms.append(ctx.fresh(f"{out}_{tag}"))
                ctx.add("Mul", [src, ctx.const(weight.astype(dtype), f"{hint}_{tag}{axis}")], [terms[-1]])
            ctx.add("Add", terms, [out])
        value = out
