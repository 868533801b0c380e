"""Converters for ONNX data-movement ops: reshapes, transpose, concat, split, slice, pad, gather,
expand and tile.

Shape-like arguments (target shapes, axes, starts/ends, pads, repeats) must be constants: they
become static IR attributes, normalized (non-negative axes, clamped slice bounds). A converter
whose node changes nothing returns its input unchanged, so no-op nodes leave no trace in the IR.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..context import ImportContext, converter
from .args import const_ints, const_values, input_at, ints_arg, norm_axes, norm_axis


def reshaped(ctx: ImportContext, x: str, shape: Sequence[int]) -> str:
    """``x`` with a new static shape (``x`` itself when the shape does not change)."""
    shape = tuple(int(d) for d in shape)
    return x if shape == ctx.type(x).shape else ctx.emit("reshape", [x], {"shape": shape})


def reshape_target(ctx: ImportContext, in_shape: tuple[int, ...], spec: list[int], allowzero: bool) -> list[int]:
    """Resolve ONNX Reshape's target: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    out = []
    for i, d in enumerate(spec):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ctx.error(f"shape {spec}: 0 at position {i} copies a dimension the rank-{len(in_shape)} "
                                "input does not have")
            d = in_shape[i]
        elif d < -1:
            raise ctx.error(f"shape {spec} holds the invalid dimension {d}")
        out.append(d)
    size = math.prod(in_shape)
    if out.count(-1) > 1:
        raise ctx.error(f"shape {spec} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or size % known:
            raise ctx.error(f"cannot reshape input of shape {list(in_shape)} to {spec}")
        out[out.index(-1)] = size // known
    if math.prod(out) != size:
        raise ctx.error(f"cannot reshape input of shape {list(in_shape)} ({size} elements) to {spec}")
    return out


@converter("Reshape")
def reshape(ctx, node, ins, attrs):
    x = ins[0]
    spec = const_ints(ctx, ins[1], "shape")
    return [reshaped(ctx, x, reshape_target(ctx, ctx.type(x).shape, spec, bool(attrs.get("allowzero", 0))))]


@converter("Flatten")
def flatten(ctx, node, ins, attrs):
    x = ins[0]
    shape = ctx.type(x).shape
    axis = attrs.get("axis", 1)
    if not -len(shape) <= axis <= len(shape):
        raise ctx.error(f"axis {axis} is out of range for a rank-{len(shape)} input")
    axis += len(shape) if axis < 0 else 0
    return [reshaped(ctx, x, (math.prod(shape[:axis]), math.prod(shape[axis:])))]


@converter("Squeeze")
def squeeze(ctx, node, ins, attrs):
    x = ins[0]
    shape = ctx.type(x).shape
    axes = ints_arg(ctx, ins, attrs, attr="axes", index=1, since=13)
    if not axes:  # none given (or an empty list, as onnxruntime reads it): every axis of size 1
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = norm_axes(ctx, axes, len(shape))
    wide = [a for a in axes if shape[a] != 1]
    if wide:
        raise ctx.error(f"cannot squeeze axes {wide} of shape {list(shape)}: their size is not 1")
    return [reshaped(ctx, x, [d for i, d in enumerate(shape) if i not in axes])]


@converter("Unsqueeze")
def unsqueeze(ctx, node, ins, attrs):
    x = ins[0]
    shape = list(ctx.type(x).shape)
    axes = ints_arg(ctx, ins, attrs, attr="axes", index=1, since=13)
    if axes is None:
        raise ctx.error("needs axes")
    rank = len(shape) + len(axes)
    for axis in sorted(norm_axes(ctx, axes, rank)):
        shape.insert(axis, 1)
    return [reshaped(ctx, x, shape)]


@converter("Transpose")
def transpose(ctx, node, ins, attrs):
    x = ins[0]
    rank = ctx.type(x).rank
    perm = [int(p) for p in attrs.get("perm", range(rank - 1, -1, -1))]
    if sorted(p % rank if rank else p for p in perm) != list(range(rank)):
        raise ctx.error(f"perm {perm} is not a permutation of {rank} axes")
    perm = [p % rank for p in perm]
    return [x if perm == list(range(rank)) else ctx.emit("transpose", [x], {"perm": tuple(perm)})]


@converter("Concat")
def concat(ctx, node, ins, attrs):
    if "axis" not in attrs:
        raise ctx.error("needs an axis attribute")
    axis = norm_axis(ctx, attrs["axis"], ctx.type(ins[0]).rank)
    return [ins[0] if len(ins) == 1 else ctx.emit("concat", list(ins), {"axis": axis})]


def split_sizes(ctx: ImportContext, dim: int, count: int, uneven: bool) -> list[int]:
    """Equal split of ``dim`` into ``count`` pieces; with ``uneven`` (opset 18 num_outputs) the last
    piece may be smaller."""
    if count < 1:
        raise ctx.error("has no outputs to split into")
    if dim % count == 0:
        return [dim // count] * count
    if not uneven:
        raise ctx.error(f"cannot split a dimension of size {dim} into {count} equal parts")
    chunk = -(-dim // count)
    last = dim - chunk * (count - 1)
    if last <= 0:
        raise ctx.error(f"cannot split a dimension of size {dim} into {count} parts of size {chunk}")
    return [chunk] * (count - 1) + [last]


@converter("Split")
def split(ctx, node, ins, attrs):
    x = ins[0]
    shape = ctx.type(x).shape
    axis = norm_axis(ctx, attrs.get("axis", 0), len(shape))
    sizes = ints_arg(ctx, ins, attrs, attr="split", index=1, since=13)
    count = len(node.output)
    if sizes is None:
        if "num_outputs" in attrs and attrs["num_outputs"] != count:
            raise ctx.error(f"num_outputs={attrs['num_outputs']} but the node has {count} outputs")
        sizes = split_sizes(ctx, shape[axis], count, uneven=ctx.opset >= 18)
    if len(sizes) != count or min(sizes) < 0 or sum(sizes) != shape[axis]:
        raise ctx.error(f"split {sizes} does not cut dimension {axis} (size {shape[axis]}) into {count} parts")
    if count == 1:
        return [x]
    outs = ctx.emit("split", [x], {"axis": axis, "sizes": tuple(sizes)})
    return list(outs)


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX Slice's normalization: negative indices count from the end, then clamp into the axis."""
    start += dim if start < 0 else 0
    end += dim if end < 0 else 0
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


def sliced(ctx: ImportContext, x: str, starts: list[int], ends: list[int], steps: list[int]) -> str:
    """``x`` sliced with normalized full-rank bounds (``x`` itself when nothing is cut)."""
    shape = ctx.type(x).shape
    if all(s == 0 and e == d and st == 1 for s, e, st, d in zip(starts, ends, steps, shape)):
        return x
    return ctx.emit("slice", [x], {"starts": tuple(starts), "ends": tuple(ends), "steps": tuple(steps)})


@converter("Slice")
def slice_(ctx, node, ins, attrs):
    x = ins[0]
    shape = ctx.type(x).shape
    if ctx.opset < 10:
        starts, ends, axes, steps = attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None
    else:
        starts, ends = const_ints(ctx, ins[1], "starts"), const_ints(ctx, ins[2], "ends")
        axes = const_ints(ctx, ins[3], "axes") if input_at(ins, 3) else None
        steps = const_ints(ctx, ins[4], "steps") if input_at(ins, 4) else None
    if starts is None or ends is None:
        raise ctx.error("needs starts and ends")
    axes = norm_axes(ctx, list(range(len(starts))) if axes is None else axes, len(shape))
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.error(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
    if 0 in steps:
        raise ctx.error(f"steps {steps} hold a zero")
    begin, end, stride = [0] * len(shape), list(shape), [1] * len(shape)
    for axis, s, e, st in zip(axes, starts, ends, steps):
        begin[axis], end[axis] = slice_bounds(shape[axis], int(s), int(e), int(st))
        stride[axis] = int(st)
    return [sliced(ctx, x, begin, end, stride)]


_PAD_MODES = ("constant", "reflect", "edge", "wrap")


@converter("Pad")
def pad(ctx, node, ins, attrs):
    x = ins[0]
    shape = ctx.type(x).shape
    rank = len(shape)
    mode = attrs.get("mode", "constant")
    if mode not in _PAD_MODES or (mode == "wrap" and ctx.opset < 19):
        raise ctx.error(f"pad mode {mode!r} is not supported (use one of {', '.join(_PAD_MODES)})")
    if ctx.opset < 11:
        pads, value = attrs.get("pads"), float(attrs.get("value", 0.0))
        axes = None
    else:
        pads = const_ints(ctx, ins[1], "pads")
        value = const_values(ctx, ins[2], "constant_value") if input_at(ins, 2) else [0]
        value = float(value[0]) if value else 0.0
        axes = const_ints(ctx, ins[3], "axes") if input_at(ins, 3) else None
    if pads is None:
        raise ctx.error("needs pads")
    axes = norm_axes(ctx, range(rank) if axes is None else axes, rank)
    if len(pads) != 2 * len(axes):
        raise ctx.error(f"pads {list(pads)} must hold {2 * len(axes)} values (begins, then ends)")
    begins, ends = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begins[axis], ends[axis] = int(pads[i]), int(pads[len(axes) + i])
    # Negative pads crop: slice first, then pad what is left to pad.
    x = sliced(ctx, x, [max(-b, 0) for b in begins], [d - max(-e, 0) for d, e in zip(shape, ends)], [1] * rank)
    widths = [max(b, 0) for b in begins] + [max(e, 0) for e in ends]
    if not any(widths):
        return [x]
    return [ctx.emit("pad", [x], {"pads": tuple(widths), "mode": mode, "value": value})]


@converter("Gather")
def gather(ctx, node, ins, attrs):
    x, idx = ins[0], ins[1]
    shape = ctx.type(x).shape
    axis = norm_axis(ctx, attrs.get("axis", 0), len(shape))
    if ctx.is_const(idx):
        values = np.asarray(ctx.const(idx, "indices"))
        dim = shape[axis]
        if values.size and (values.min() < -dim or values.max() >= dim):
            raise ctx.error(f"indices {values.reshape(-1).tolist()[:8]} are out of range for axis {axis} "
                            f"of size {dim}")
        if values.size and values.min() < 0:
            idx = ctx.add_const(np.where(values < 0, values + dim, values).astype(values.dtype), f"{idx}_pos")
    return [ctx.emit("gather", [x, idx], {"axis": axis})]


@converter("Expand")
def expand(ctx, node, ins, attrs):
    x = ins[0]
    in_shape = ctx.type(x).shape
    target = const_ints(ctx, ins[1], "shape")
    try:
        shape = tuple(np.broadcast_shapes(in_shape, tuple(target)))
    except ValueError:
        raise ctx.error(f"cannot expand shape {list(in_shape)} to {target}") from None
    return [x if shape == in_shape else ctx.emit("broadcast_to", [x], {"shape": shape})]


@converter("Tile")
def tile(ctx, node, ins, attrs):
    x = ins[0]
    repeats = const_ints(ctx, ins[1], "repeats")
    if len(repeats) != ctx.type(x).rank or min(repeats, default=0) < 0:
        raise ctx.error(f"repeats {repeats} must hold {ctx.type(x).rank} non-negative values")
    return [x if all(r == 1 for r in repeats) else ctx.emit("tile", [x], {"repeats": tuple(repeats)})]
