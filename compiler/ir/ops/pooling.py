"""Pooling: windowed max/average over the spatial dims (1-D, 2-D, 3-D) and global pools.

Windows follow ONNX/onnxruntime: ``ceil_mode`` adds a last window when it starts inside the
input or the begin padding, and that window may hang past the end padding. Max pooling
ignores padding. Average pooling divides by the number of input elements in the window
(``count_include_pad=0``) or by the number of input and explicit-padding elements
(``count_include_pad=1``); the part of a ceil-mode window past the end padding never counts.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from ..types import TensorType
from .nn import spatial_attrs, window_out_size
from .registry import REQUIRED, InferError, define, require_float

_WINDOW_ATTRS = {"kernel_shape": REQUIRED, "strides": (), "pads": (), "dilations": (), "ceil_mode": 0}


class PoolWindow(NamedTuple):
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    out: tuple[int, ...]  # output spatial shape

    def end_pads(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """End padding that makes every window fit (>= pads' end part when ceil_mode adds a window)."""
        nd = len(spatial)
        return tuple(max(self.pads[nd + i], (self.out[i] - 1) * self.strides[i]
                         + self.dilations[i] * (self.kernel[i] - 1) + 1 - spatial[i] - self.pads[i])
                     for i in range(nd))


def pool_window(x: TensorType, attrs: dict) -> PoolWindow:
    """The window geometry of a pooling op on input ``x`` (raises InferError when it does not fit)."""
    if x.rank < 3:
        raise InferError(f"pooling needs an input [N, C, D1, ...], got {x}")
    nd = x.rank - 2
    kernel = tuple(attrs["kernel_shape"])
    if len(kernel) != nd or min(kernel) < 1:
        raise InferError(f"kernel_shape {list(kernel)} does not fit {nd} spatial dims")
    strides, pads, dilations = spatial_attrs(attrs, nd)
    out = tuple(window_out_size(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[nd + i], dilations[i],
                                bool(attrs["ceil_mode"])) for i in range(nd))
    return PoolWindow(kernel, strides, pads, dilations, out)


def _pool_infer(types, attrs):
    x = types[0]
    window = pool_window(x, attrs)
    return [TensorType((*x.shape[:2], *window.out), x.dtype)]


def _windows(xp: np.ndarray, w: PoolWindow):
    """Yield, per kernel offset, the strided view of the padded input seen at that offset."""
    nd = len(w.kernel)
    for k in itertools.product(*(range(s) for s in w.kernel)):
        yield xp[(slice(None), slice(None)) + tuple(
            slice(k[i] * w.dilations[i], k[i] * w.dilations[i] + (w.out[i] - 1) * w.strides[i] + 1, w.strides[i])
            for i in range(nd))]


def _pad_for(x: np.ndarray, w: PoolWindow, value) -> np.ndarray:
    nd = x.ndim - 2
    ends = w.end_pads(x.shape[2:])
    return np.pad(x, [(0, 0), (0, 0)] + [(w.pads[i], ends[i]) for i in range(nd)], constant_values=value)


def _max_pool_ref(xs, a):
    x = xs[0]
    w = pool_window(TensorType.of(x), a)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    out = None
    for view in _windows(_pad_for(x, w, low), w):
        out = view.copy() if out is None else np.maximum(out, view)
    return [out.astype(x.dtype)]


def avg_pool_divisor(spatial: tuple[int, ...], w: PoolWindow, count_include_pad: bool) -> np.ndarray:
    """How many elements each output of avg_pool divides by, shape ``w.out`` (separable per dim)."""
    nd = len(spatial)
    divisor = np.ones((), dtype=np.int64)
    for i in range(nd):
        starts = np.arange(w.out[i])[:, None] * w.strides[i] - w.pads[i]
        pos = starts + np.arange(w.kernel[i])[None, :] * w.dilations[i]
        inside = pos < spatial[i] + w.pads[nd + i] if count_include_pad else (pos >= 0) & (pos < spatial[i])
        divisor = np.multiply.outer(divisor, inside.sum(axis=1))
    return divisor


def _avg_pool_ref(xs, a):
    x = xs[0]
    w = pool_window(TensorType.of(x), a)
    total = sum(_windows(_pad_for(x.astype(np.float64), w, 0.0), w))
    divisor = avg_pool_divisor(x.shape[2:], w, bool(a["count_include_pad"]))
    return [(total / divisor).astype(x.dtype)]


def _avg_pool_infer(types, attrs):
    require_float(types[0])
    return _pool_infer(types, attrs)


define("max_pool", infer=_pool_infer, reference=_max_pool_ref, attrs=dict(_WINDOW_ATTRS),
       doc="max over each window; padding never wins")
define("avg_pool", infer=_avg_pool_infer, reference=_avg_pool_ref,
       attrs={**_WINDOW_ATTRS, "count_include_pad": 0},
       doc="mean over each window; count_include_pad=1 counts explicit padding (not ceil-mode overhang)")


# -- global pools -------------------------------------------------------------------------
def _global_infer(types, attrs):
    x = types[0]
    if x.rank < 3:
        raise InferError(f"global pooling needs an input [N, C, D1, ...], got {x}")
    return [TensorType((*x.shape[:2], *([1] * (x.rank - 2))), x.dtype)]


def _global_avg_infer(types, attrs):
    require_float(types[0])
    return _global_infer(types, attrs)


def _spatial_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


define("global_avg_pool", infer=_global_avg_infer,
       reference=lambda xs, a: [np.mean(xs[0], axis=_spatial_axes(xs[0]), dtype=np.float64,
                                        keepdims=True).astype(xs[0].dtype)],
       doc="mean over all spatial dims, kept as size-1 dims")
define("global_max_pool", infer=_global_infer,
       reference=lambda xs, a: [np.max(xs[0], axis=_spatial_axes(xs[0]), keepdims=True)],
       doc="max over all spatial dims, kept as size-1 dims")
