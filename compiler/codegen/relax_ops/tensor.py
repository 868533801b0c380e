"""Lowering of data-movement ops to Relax."""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op as R

from .registry import lowering


def take(ctx, x: relax.Expr, indices: np.ndarray, axis: int) -> relax.Expr:
    """Gather static ``indices`` (known in range) along ``axis``."""
    return ctx.emit(R.take(x, relax.const(np.asarray(indices, dtype="int64")), axis=axis, mode="fast"))


@lowering("reshape")
def reshape(ctx, node, args, attrs):
    return R.reshape(args[0], attrs["shape"])


@lowering("transpose")
def transpose(ctx, node, args, attrs):
    return R.permute_dims(args[0], list(attrs["perm"]))


@lowering("concat")
def concat(ctx, node, args, attrs):
    return R.concat(list(args), axis=attrs["axis"])


@lowering("split")
def split(ctx, node, args, attrs):
    cuts = [int(c) for c in np.cumsum(attrs["sizes"])[:-1]]
    parts = ctx.emit(R.split(args[0], cuts, axis=attrs["axis"]))
    return [relax.TupleGetItem(parts, i) for i in range(len(attrs["sizes"]))]


@lowering("slice")
def slice_(ctx, node, args, attrs):
    shape = ctx.type(node.inputs[0]).shape
    axes, begin, end, strides = [], [], [], []
    for axis, (s, e, st) in enumerate(zip(attrs["starts"], attrs["ends"], attrs["steps"])):
        if (s, e, st) == (0, shape[axis], 1):
            continue
        axes.append(axis)
        begin.append(s)
        end.append(e if e >= 0 else -shape[axis] - 1)  # TVM reads -1 as "last"; this is "before index 0"
        strides.append(st)
    if not axes:
        return args[0]
    return R.strided_slice(args[0], axes, begin, end, strides, assume_inbound=True)


# IR pad mode -> Relax pad mode
_PAD_MODES = {"constant": "constant", "edge": "replicate", "wrap": "circular", "reflect": "reflect"}


@lowering("pad")
def pad(ctx, node, args, attrs):
    shape = ctx.type(node.inputs[0]).shape
    rank, pads, mode = len(shape), attrs["pads"], attrs["mode"]
    widths = [w for i in range(rank) for w in (pads[i], pads[rank + i])]
    # TVM's reflect kernel reflects once: wider pads (numpy reflects back and forth) go through gathers.
    if mode != "reflect" or all(pads[i] < shape[i] and pads[rank + i] < shape[i] for i in range(rank)):
        return R.nn.pad(args[0], widths, _PAD_MODES[mode], attrs["value"])
    x = args[0]
    for axis in range(rank):
        if pads[axis] or pads[rank + axis]:
            x = take(ctx, x, np.pad(np.arange(shape[axis]), (pads[axis], pads[rank + axis]), mode="reflect"), axis)
    return x


@lowering("gather")
def gather(ctx, node, args, attrs):
    x_type, idx_type = ctx.type(node.inputs[0]), ctx.type(node.inputs[1])
    axis = attrs["axis"] % x_type.rank
    indices = ctx.constant(node.inputs[1])
    if indices is not None and (indices.size == 0 or indices.min() >= 0):
        return R.take(args[0], args[1], axis=axis, mode="fast")
    # indices known only at run time may be negative: count those from the end
    dim = relax.const(x_type.shape[axis], idx_type.dtype)
    zero = relax.const(0, idx_type.dtype)
    idx = ctx.emit(R.where(R.less(args[1], zero), R.add(args[1], dim), args[1]))
    return R.take(args[0], idx, axis=axis, mode="fast")


@lowering("broadcast_to")
def broadcast_to(ctx, node, args, attrs):
    return R.broadcast_to(args[0], attrs["shape"])


@lowering("tile")
def tile(ctx, node, args, attrs):
    return R.tile(args[0], list(attrs["repeats"]))
