"""Data movement: reshape, transpose, concat, split, slice, pad, gather, resize.

All shape parameters are static attributes (the frontend folds shape-computing subgraphs).
"""

from __future__ import annotations

import numpy as np

from ..types import TensorType
from .registry import REQUIRED, InferError, define, norm_axis, same_dtype


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
