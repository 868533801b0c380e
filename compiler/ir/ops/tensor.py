"""Data movement: reshape, transpose, concat, split, slice, pad, gather, broadcast_to, tile.

All shape parameters are static attributes (the frontend folds shape-computing subgraphs),
stored normalized: non-negative axes, one entry per input axis where an op has per-axis
parameters. Resize lives in ``resize.py``.
"""

from __future__ import annotations

import numpy as np

from ..types import TensorType
from .registry import REQUIRED, InferError, broadcast_shapes, define, norm_axis, same_dtype


def _reshape_infer(types, attrs):
    shape = tuple(attrs["shape"])
    if min(shape, default=0) < 0 or int(np.prod(shape)) != types[0].size:
        raise InferError(f"cannot reshape {types[0]} to {list(shape)}")
    return [TensorType(shape, types[0].dtype)]


define("reshape", infer=_reshape_infer, reference=lambda xs, a: [xs[0].reshape(a["shape"])],
       attrs={"shape": REQUIRED}, doc="same data, new static shape (ONNX Reshape/Flatten/Squeeze/Unsqueeze)")


def _transpose_infer(types, attrs):
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(types[0].rank)):
        raise InferError(f"perm {list(perm)} is not a permutation of {types[0].rank} axes")
    return [TensorType(tuple(types[0].shape[p] for p in perm), types[0].dtype)]


define("transpose", infer=_transpose_infer, reference=lambda xs, a: [np.transpose(xs[0], a["perm"])],
       attrs={"perm": REQUIRED}, doc="permute axes")


def _concat_infer(types, attrs):
    rank = types[0].rank
    axis = norm_axis(attrs["axis"], rank)
    for t in types:
        if t.rank != rank or any(t.shape[i] != types[0].shape[i] for i in range(rank) if i != axis):
            raise InferError(f"concat on axis {axis}: shapes {[list(t.shape) for t in types]} disagree")
    shape = list(types[0].shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return [TensorType(tuple(shape), same_dtype(types))]


define("concat", infer=_concat_infer, reference=lambda xs, a: [np.concatenate(xs, axis=a["axis"])],
       inputs=(1, None), attrs={"axis": REQUIRED}, doc="join along one axis")


# -- split --------------------------------------------------------------------------------
def _split_infer(types, attrs):
    x = types[0]
    axis = norm_axis(attrs["axis"], x.rank)
    sizes = tuple(attrs["sizes"])
    if not sizes or min(sizes) < 0 or sum(sizes) != x.shape[axis]:
        raise InferError(f"split sizes {list(sizes)} do not add up to dimension {axis} of {x}")
    return [TensorType(x.shape[:axis] + (s,) + x.shape[axis + 1:], x.dtype) for s in sizes]


def _split_ref(xs, a):
    return np.split(xs[0], np.cumsum(a["sizes"])[:-1], axis=a["axis"])


define("split", infer=_split_infer, reference=_split_ref, attrs={"axis": REQUIRED, "sizes": REQUIRED},
       doc="cut into consecutive pieces of the given sizes along one axis (one output per piece)")


# -- slice --------------------------------------------------------------------------------
def slice_length(start: int, end: int, step: int) -> int:
    """Elements picked by ``range(start, end, step)``."""
    return len(range(start, end, step))


def _slice_params(x: TensorType, attrs) -> list[tuple[int, int, int]]:
    """Check the normalized (start, end, step) of every axis.

    Positive steps: ``0 <= start, end <= dim``. Negative steps: ``-1 <= end <= start <= dim - 1``
    where ``end == -1`` means "through index 0" (not Python's "last element").
    """
    starts, ends, steps = (tuple(attrs[k]) for k in ("starts", "ends", "steps"))
    if not len(starts) == len(ends) == len(steps) == x.rank:
        raise InferError(f"slice needs one start/end/step per axis of {x}, got {list(starts)}/{list(ends)}/"
                         f"{list(steps)}")
    for axis, (s, e, st, dim) in enumerate(zip(starts, ends, steps, x.shape)):
        ok = (0 <= s <= dim and 0 <= e <= dim) if st > 0 else (st < 0 and -1 <= s <= dim - 1 and -1 <= e <= dim - 1)
        if not ok:
            raise InferError(f"slice on axis {axis} (size {dim}): start {s}, end {e}, step {st} are not normalized")
    return list(zip(starts, ends, steps))


def _slice_infer(types, attrs):
    x = types[0]
    shape = tuple(slice_length(s, e, st) for s, e, st in _slice_params(x, attrs))
    return [TensorType(shape, x.dtype)]


def _slice_ref(xs, a):
    index = tuple(slice(s, e if e >= 0 else None, st) if s >= 0 else slice(0, 0)  # start -1: nothing to pick
                  for s, e, st in zip(a["starts"], a["ends"], a["steps"]))
    return [xs[0][index]]


define("slice", infer=_slice_infer, reference=_slice_ref,
       attrs={"starts": REQUIRED, "ends": REQUIRED, "steps": REQUIRED},
       doc="x[start:end:step] on every axis; normalized, end -1 with a negative step means through index 0")


# -- pad ----------------------------------------------------------------------------------
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}  # -> numpy mode


def _pad_infer(types, attrs):
    x = types[0]
    pads = tuple(attrs["pads"])
    if len(pads) != 2 * x.rank or min(pads, default=0) < 0:
        raise InferError(f"pad needs {2 * x.rank} non-negative pads (begins, then ends) for {x}, got {list(pads)}")
    if attrs["mode"] not in PAD_MODES:
        raise InferError(f"pad mode {attrs['mode']!r} is not one of {sorted(PAD_MODES)}")
    shape = tuple(d + pads[i] + pads[x.rank + i] for i, d in enumerate(x.shape))
    if attrs["mode"] != "constant":
        for i, d in enumerate(x.shape):
            if d == 0 and shape[i] != 0:
                raise InferError(f"{attrs['mode']} padding of axis {i} needs a non-empty input, got {x}")
            if attrs["mode"] == "reflect" and d == 1 and shape[i] != 1:
                raise InferError(f"reflect padding of axis {i} needs at least 2 elements, got {x}")
    return [TensorType(shape, x.dtype)]


def _pad_ref(xs, a):
    x, rank, pads = xs[0], xs[0].ndim, a["pads"]
    widths = [(pads[i], pads[rank + i]) for i in range(rank)]
    if a["mode"] == "constant":
        return [np.pad(x, widths, constant_values=np.array(a["value"]).astype(x.dtype))]
    return [np.pad(x, widths, mode=PAD_MODES[a["mode"]])]


define("pad", infer=_pad_infer, reference=_pad_ref, attrs={"pads": REQUIRED, "mode": "constant", "value": 0.0},
       doc="pad every axis: pads = (begin_1..begin_n, end_1..end_n); modes constant/reflect/edge/wrap")


# -- gather -------------------------------------------------------------------------------
def _gather_infer(types, attrs):
    x, idx = types
    if idx.dtype not in ("int32", "int64"):
        raise InferError(f"gather indices must be int32 or int64, got {idx.dtype}")
    axis = norm_axis(attrs["axis"], x.rank)
    return [TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)]


def _gather_ref(xs, a):
    x, idx = xs
    axis = a["axis"] % x.ndim
    dim = x.shape[axis]
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise IndexError(f"gather index out of range [-{dim}, {dim - 1}] on axis {axis}")
    return [np.take(x, np.where(idx < 0, idx + dim, idx), axis=axis)]


define("gather", infer=_gather_infer, reference=_gather_ref, inputs=2, attrs={"axis": 0},
       doc="take entries along one axis at the given indices (negative indices count from the end)")


# -- broadcast_to / tile ------------------------------------------------------------------
def _broadcast_to_infer(types, attrs):
    shape = tuple(attrs["shape"])
    if broadcast_shapes(types[0].shape, shape) != shape:
        raise InferError(f"cannot broadcast {types[0]} to {list(shape)}")
    return [TensorType(shape, types[0].dtype)]


define("broadcast_to", infer=_broadcast_to_infer, attrs={"shape": REQUIRED},
       reference=lambda xs, a: [np.broadcast_to(xs[0], a["shape"]).copy()],
       doc="numpy broadcast to a static shape (ONNX Expand)")


def _tile_infer(types, attrs):
    x, repeats = types[0], tuple(attrs["repeats"])
    if len(repeats) != x.rank or min(repeats, default=0) < 0:
        raise InferError(f"tile needs {x.rank} non-negative repeats for {x}, got {list(repeats)}")
    return [TensorType(tuple(d * r for d, r in zip(x.shape, repeats)), x.dtype)]


define("tile", infer=_tile_infer, reference=lambda xs, a: [np.tile(xs[0], a["repeats"])],
       attrs={"repeats": REQUIRED}, doc="repeat the whole tensor repeats[i] times along axis i")
