"""Reductions over static axes."""

from __future__ import annotations

import numpy as np

from ..types import TensorType
from .registry import define, norm_axis


def reduce_axes(attrs: dict, rank: int) -> tuple[int, ...]:
    """Normalized reduction axes; an empty ``axes`` means all axes."""
    axes = attrs["axes"]
    return tuple(sorted({norm_axis(a, rank) for a in axes})) if axes else tuple(range(rank))


def _reduce_infer(types, attrs):
    x = types[0]
    axes = reduce_axes(attrs, x.rank)
    if attrs["keepdims"]:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return [TensorType(shape, x.dtype)]


def _reduce(name: str, fn, doc: str) -> None:
    def reference(xs, a):
        x = xs[0]
        return [np.asarray(fn(x, axis=reduce_axes(a, x.ndim), keepdims=bool(a["keepdims"]))).astype(x.dtype)]

    define(name, infer=_reduce_infer, reference=reference, attrs={"axes": (), "keepdims": 1}, doc=doc)


_reduce("reduce_mean", lambda x, **k: np.mean(x, dtype=np.float64, **k), "mean over axes (all if empty)")
_reduce("reduce_sum", np.sum, "sum over axes (all if empty)")
_reduce("reduce_max", np.max, "max over axes (all if empty)")
_reduce("reduce_min", np.min, "min over axes (all if empty)")
